package storetest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ioc-vn/ioc/internal/store/influx"
	"github.com/ioc-vn/ioc/internal/store/influx/influxtest"
	"github.com/ioc-vn/ioc/internal/store/sqlite"
	"github.com/ioc-vn/ioc/internal/store/storetest"
)

func TestSQLiteReadingStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ioc.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// TestInfluxReadingStore runs the contract against a real influxd 1.8, querying without knowing the
// device kind (FROM /.*/) and with it (FROM "kind").
func TestInfluxReadingStore(t *testing.T) {
	srv := influxtest.Start(t)
	for _, tc := range []struct {
		name   string
		kindOf func(string) (string, bool)
	}{
		{"kind unknown", nil},
		{"kind known", func(id string) (string, bool) {
			if id == "ct-other-kind" {
				return "salinity", true
			}
			return "water_level", true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) storetest.Store {
				cfg := influx.Defaults()
				cfg.URL, cfg.Bucket = srv.URL, srv.Bucket()
				cfg.Spool.Dir = t.TempDir()
				st, err := influx.Open(cfg, influx.Options{KindOf: tc.kindOf})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			})
		})
	}
}
