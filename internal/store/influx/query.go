package influx

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

// defaultLimit bounds a reading query without a limit, as the SQLite store does.
const defaultLimit = 100000

// Readings answers a history query with InfluxQL over /query (InfluxDB 1.8, 2.x with a DBRP mapping,
// 3.x). Windows of Every start at the query's Origin (GROUP BY time's offset); empty windows
// are left out (fill(none)).
func (s *Store) Readings(ctx context.Context, q stream.ReadingQuery) ([]stream.Sample, error) {
	if err := q.Check(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	from, err := s.measurements(ctx, q.Entity)
	if err != nil || from == "" {
		return nil, err
	}
	sel := quoteIdent(stored(q.Field))
	group := ""
	if q.Every > 0 {
		if q.Every < time.Millisecond {
			return nil, fmt.Errorf("every must be at least 1ms")
		}
		sel = fmt.Sprintf("%s(%s)", q.Agg, sel)
		group = fmt.Sprintf(" GROUP BY time(%dms, %dms) fill(none)", q.Every.Milliseconds(), q.OffsetMillis())
	}
	stmt := fmt.Sprintf("SELECT %s FROM %s WHERE %s = %s AND time >= %d AND time < %d%s ORDER BY time ASC LIMIT %d",
		sel, from, quoteIdent(TagDevice), quoteString(stored(q.Entity)), q.From.UnixNano(), q.To.UnixNano(), group, limit)
	series, err := s.query(ctx, stmt)
	if err != nil {
		return nil, err
	}
	var out []stream.Sample
	for _, sr := range series {
		if len(sr.Columns) != 2 {
			return nil, fmt.Errorf("influx: readings: unexpected columns %v", sr.Columns)
		}
		for _, row := range sr.Values {
			if len(row) != 2 || row[1] == nil {
				continue
			}
			tn, ok1 := row[0].(json.Number)
			vn, ok2 := row[1].(json.Number)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("influx: readings: %q is not numeric", q.Field)
			}
			ts, err := tn.Int64()
			if err != nil {
				return nil, fmt.Errorf("influx: readings: time %v: %w", tn, err)
			}
			v, err := vn.Float64()
			if err != nil {
				return nil, fmt.Errorf("influx: readings: value %v: %w", vn, err)
			}
			out = append(out, stream.Sample{Time: time.UnixMilli(ts).UTC(), Value: v})
		}
	}
	if len(series) > 1 { // several measurements: merge them in time order
		slices.SortStableFunc(out, func(a, b stream.Sample) int { return a.Time.Compare(b.Time) })
		out = out[:min(len(out), limit)]
	}
	return out, nil
}

// measurements is the FROM clause for an entity's telemetry: its kind's measurement when KindOf knows
// it, else every telemetry measurement holding the device ("" when there is none).
func (s *Store) measurements(ctx context.Context, entity string) (string, error) {
	if s.kindOf != nil {
		if kind, ok := s.kindOf(entity); ok {
			return quoteIdent(stored(measurementOf(kind))), nil
		}
	}
	series, err := s.query(ctx, fmt.Sprintf("SHOW MEASUREMENTS WHERE %s = %s", quoteIdent(TagDevice), quoteString(stored(entity))))
	if err != nil {
		return "", err
	}
	var names []string
	for _, sr := range series {
		for _, row := range sr.Values {
			if len(row) != 1 {
				continue
			}
			if name, ok := row[0].(string); ok && telemetry(name) {
				names = append(names, quoteIdent(name))
			}
		}
	}
	return strings.Join(names, ","), nil
}

// series is one series of a /query answer, with times in epoch milliseconds.
type series struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Values  [][]any  `json:"values"` // json.Number, string or nil
}

// query runs one InfluxQL statement against the configured database and retention policy.
func (s *Store) query(ctx context.Context, stmt string) ([]series, error) {
	db, rp := splitBucket(s.cfg.Bucket)
	v := url.Values{"db": {db}, "q": {stmt}, "epoch": {"ms"}}
	if rp != "" {
		v.Set("rp", rp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.URL+"/query?"+v.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("influx: query: %w", err)
	}
	s.auth(req)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("influx: query: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Results []struct {
			Series []series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 256<<20))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("influx: query: status %d: %w", resp.StatusCode, err)
	}
	switch {
	case body.Error != "":
		return nil, fmt.Errorf("influx: query: %s", body.Error)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("influx: query: status %d", resp.StatusCode)
	case len(body.Results) != 1:
		return nil, fmt.Errorf("influx: query: %d results for one statement", len(body.Results))
	case body.Results[0].Error != "":
		return nil, fmt.Errorf("influx: query: %s", body.Results[0].Error)
	}
	return body.Results[0].Series, nil
}

// quoteIdent quotes an InfluxQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// quoteString quotes an InfluxQL string literal.
func quoteString(s string) string {
	return `'` + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + `'`
}
