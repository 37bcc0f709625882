package auth

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
)

// Patterns lists the patterns registered on mux, sorted. net/http does not export them, so they are
// read from the mux's routing index by reflection (read-only); if a Go release changes that layout,
// Patterns returns an error rather than a partial list. It exists so that tests and the start-up
// check can compare the real router with the policy.
func Patterns(mux *http.ServeMux) ([]string, error) {
	v := reflect.ValueOf(mux).Elem()
	idx := v.FieldByName("index")
	if !idx.IsValid() {
		return nil, errors.New("list routes: http.ServeMux has no routing index in this Go version")
	}
	seen := map[string]bool{}
	add := func(pv reflect.Value) error {
		if pv.Kind() != reflect.Pointer || pv.Elem().Kind() != reflect.Struct {
			return fmt.Errorf("list routes: unexpected pattern type %s", pv.Type())
		}
		s := pv.Elem().FieldByName("str")
		if s.Kind() != reflect.String {
			return errors.New("list routes: pattern has no str field in this Go version")
		}
		seen[s.String()] = true
		return nil
	}
	segs, multis := idx.FieldByName("segments"), idx.FieldByName("multis")
	if segs.Kind() != reflect.Map || multis.Kind() != reflect.Slice {
		return nil, errors.New("list routes: unexpected routing index layout in this Go version")
	}
	it := segs.MapRange()
	for it.Next() {
		for i := 0; i < it.Value().Len(); i++ {
			if err := add(it.Value().Index(i)); err != nil {
				return nil, err
			}
		}
	}
	for i := 0; i < multis.Len(); i++ {
		if err := add(multis.Index(i)); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out, nil
}

// Unruled lists the patterns registered on mux that the policy has no rule for.
func (p Policy) Unruled(mux *http.ServeMux) ([]string, error) {
	pats, err := Patterns(mux)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, pat := range pats {
		if _, ok := p[pat]; !ok {
			out = append(out, pat)
		}
	}
	return out, nil
}
