package indicator_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/indicator"
	"github.com/ioc-vn/ioc/internal/pgtest"
	"github.com/ioc-vn/ioc/internal/sqldb"
)

// The value store behaves the same on SQLite and PostgreSQL: a recompute replaces a value, null stays
// null, lineage comes back, filters narrow.
func TestStore(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(t *testing.T) sqldb.Config
	}{
		{"sqlite", func(t *testing.T) sqldb.Config {
			return sqldb.Config{Driver: sqldb.SQLite, Path: filepath.Join(t.TempDir(), "i.db")}
		}},
		{"postgres", func(t *testing.T) sqldb.Config {
			return sqldb.Config{Driver: sqldb.Postgres, DSN: pgtest.Schema(t, "indicator")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := indicator.OpenStore(ctx, tc.cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			day := indicator.SpanAt(indicator.Day, time.Date(2026, 3, 10, 12, 0, 0, 0, vn), vn)
			v1, v2 := 1.5, 2.5
			at := day.Start.Add(20 * time.Hour)
			val := func(area string, v *float64, inputs int) indicator.Value {
				return indicator.Value{Indicator: "x", Area: area, AreaName: "Xã " + area, Level: "commune", Period: day.Period,
					Key: day.Key, Start: day.Start, End: day.End, Value: v,
					Lineage: indicator.Lineage{Formula: indicator.Formula{Kind: indicator.SensorMax, Field: "salinity"},
						Inputs: map[string]int{"devices": inputs}, Boundary: "b", ComputedAt: at}}
			}
			if err := st.Put(ctx, []indicator.Value{val("a", &v1, 1), val("b", nil, 0)}); err != nil {
				t.Fatal(err)
			}
			if err := st.Put(ctx, []indicator.Value{val("a", &v2, 2)}); err != nil { // recomputed
				t.Fatal(err)
			}
			vs, err := st.Values(ctx, indicator.Filter{Indicators: []string{"x"}, Key: day.Key})
			if err != nil || len(vs) != 2 {
				t.Fatalf("values %+v, %v", vs, err)
			}
			if vs[0].Area != "a" || *vs[0].Value != 2.5 || vs[0].Lineage.Inputs["devices"] != 2 || !vs[0].Start.Equal(day.Start) ||
				!vs[0].Lineage.ComputedAt.Equal(at) || vs[1].Value != nil {
				t.Fatalf("values %+v %+v", vs[0], vs[1])
			}
			if vs, err := st.Values(ctx, indicator.Filter{Areas: []string{"b"}, From: day.End}); err != nil || len(vs) != 0 {
				t.Fatalf("from the next day: %+v %v", vs, err)
			}
		})
	}
}
