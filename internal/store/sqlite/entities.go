package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ioc-vn/ioc/stream"
)

// entityChunk is how many entity rows one upsert statement carries (9 parameters each, far below
// SQLite's 32,766): one statement per chunk instead of one per entity keeps database/sql's and the
// driver's per-call work off each row. What is left of a batch goes in statements of 16, 4 and 1
// rows, so four prepared statements serve every batch size.
const entityChunk = 64

// chunkRows is the size of the next upsert statement for n rows left.
func chunkRows(n int) int {
	for _, c := range []int{entityChunk, 16, 4} {
		if n >= c {
			return c
		}
	}
	return 1
}

// prepareUpserts prepares the entity upserts of every chunk size on the writer. It runs in Open,
// before any transaction: the writer has one connection, which a transaction holds while it runs.
func (s *Store) prepareUpserts(ctx context.Context) error {
	s.upserts = map[int]*sql.Stmt{}
	for _, n := range []int{entityChunk, 16, 4, 1} {
		st, err := s.w.PrepareContext(ctx, entityUpsert(n))
		if err != nil {
			return fmt.Errorf("sqlite: prepare entities: %w", err)
		}
		s.upserts[n] = st
	}
	return nil
}

// entityUpsert is the upsert of n entity rows: a newer state replaces type, kind and time, keeps the
// stored location when the event has none, merges values and attributes into the stored ones, and
// keeps the stored areas when the event has none; an older state changes nothing.
func entityUpsert(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO entities (id, type, kind, ts, lon, lat, vals, attrs, areas) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(`
		ON CONFLICT (id) DO UPDATE SET type = excluded.type, kind = excluded.kind, ts = excluded.ts,
			lon = coalesce(excluded.lon, entities.lon), lat = coalesce(excluded.lat, entities.lat),
			vals = json_patch(entities.vals, excluded.vals), attrs = json_patch(entities.attrs, excluded.attrs),
			areas = CASE WHEN excluded.areas = '{}' THEN entities.areas ELSE excluded.areas END
		WHERE excluded.ts >= entities.ts`)
	return b.String()
}

// writeEntities upserts the newest state of each entity of a batch (latest maps an entity to the index
// of its newest event), in statements of up to entityChunk rows.
func (s *Store) writeEntities(ctx context.Context, tx *sql.Tx, events []stream.Event, latest map[string]int) error {
	if len(latest) == 0 {
		return nil
	}
	idx := make([]int, 0, len(latest))
	for _, i := range latest {
		idx = append(idx, i)
	}
	slices.Sort(idx) // batch order: the same rows in the same order for the same batch
	args := make([]any, 0, 9*entityChunk)
	var buf []byte
	for len(idx) > 0 {
		n := chunkRows(len(idx))
		args = args[:0]
		for _, i := range idx[:n] {
			e := &events[i]
			lon, lat := location(e)
			var vals, attrs, areas string
			buf, vals = jsonFloats(buf[:0], e.Values)
			buf, attrs = jsonStrings(buf[:0], e.Attrs)
			buf, areas = jsonStrings(buf[:0], e.Areas)
			args = append(args, e.Entity, e.Type, e.Kind, e.Time.UnixMilli(), lon, lat, vals, attrs, areas)
		}
		if _, err := tx.StmtContext(ctx, s.upserts[n]).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: upsert %d entities from %s: %w", n, events[idx[0]].Entity, err)
		}
		idx = idx[n:]
	}
	return nil
}

// jsonFloats returns m as a JSON object (keys sorted, as encoding/json writes them), appending to buf
// for its scratch space. Values are finite (validated upstream); anything else takes encoding/json's
// path, which writes "{}" for what it cannot encode, as before.
func jsonFloats(buf []byte, m map[string]float64) ([]byte, string) {
	return jsonObject(buf, m, func(buf []byte, v float64) ([]byte, bool) {
		return strconv.AppendFloat(buf, v, 'g', -1, 64), !math.IsNaN(v) && !math.IsInf(v, 0)
	})
}

// jsonStrings is jsonFloats for string values; strings that need more than plain copying (quotes,
// backslashes, control characters, invalid UTF-8) take encoding/json's path.
func jsonStrings(buf []byte, m map[string]string) ([]byte, string) {
	return jsonObject(buf, m, func(buf []byte, v string) ([]byte, bool) {
		buf = append(buf, '"')
		buf = append(buf, v...)
		return append(buf, '"'), plainJSON(v)
	})
}

// jsonObject writes m with value appending each value and reporting whether it could; when a key or
// a value cannot be written plainly, the whole map takes encoding/json's path.
func jsonObject[V any](buf []byte, m map[string]V, value func([]byte, V) ([]byte, bool)) ([]byte, string) {
	if len(m) == 0 {
		return buf, "{}"
	}
	buf = append(buf, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if !plainJSON(k) {
			return buf, jsonText(m)
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, k...)
		buf = append(buf, '"', ':')
		var ok bool
		if buf, ok = value(buf, m[k]); !ok {
			return buf, jsonText(m)
		}
	}
	buf = append(buf, '}')
	return buf, string(buf)
}

// plainJSON reports whether s is valid UTF-8 that a JSON string holds as it is.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return utf8.ValidString(s[i:]) && plainUnicode(s[i:])
		}
	}
	return true
}

// plainUnicode is plainJSON's slow path past the first byte that is not plain ASCII.
func plainUnicode(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}

func jsonText[V any](m map[string]V) string {
	if len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil { // maps of strings and finite floats always marshal
		return "{}"
	}
	return string(b)
}
