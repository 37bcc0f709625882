package geo

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// CrosswalkRow is one line of a crosswalk: an old commune (with its old district and province) and one
// new commune it went into. An old commune split between several new ones has one row per new commune.
// Line is the row's line in its file (the header is line 1).
type CrosswalkRow struct {
	OldProvince, OldDistrict, OldCommune string
	NewProvince, NewCommune              string
	Line                                 int
}

// Crosswalk maps the codes of one boundary set to the codes of the set that replaced it. It answers for
// an old code of any level the crosswalk names (province, district, commune): an old province maps to
// new provinces, an old district or commune to the new communes that took (part of) it. Immutable, safe
// for concurrent use.
type Crosswalk struct {
	File string
	Rows []CrosswalkRow

	to      map[string][]string // old code → new codes, sorted
	primary map[string]string   // old code → the new code that took most of it
	from    map[string][]string // new code → old codes that went (wholly or partly) into it, sorted
}

// crosswalkColumns are the header names a crosswalk CSV must have (in any order; other columns, such
// as the names, are ignored). old_district may be empty on a row: the old set had no districts there.
var crosswalkColumns = []string{"old_province", "old_district", "old_commune", "new_province", "new_commune"}

// LoadCrosswalk reads a crosswalk CSV (see ParseCrosswalk).
func LoadCrosswalk(path string) (*Crosswalk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("crosswalk: %w", err)
	}
	defer f.Close()
	return ParseCrosswalk(path, f)
}

// ParseCrosswalk reads a crosswalk CSV with a header naming at least old_province, old_district,
// old_commune, new_province and new_commune (crosswalk-2025.csv's layout). Every problem is reported,
// each with the file name and line.
func ParseCrosswalk(name string, r io.Reader) (*Crosswalk, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	var errs []error
	for _, c := range crosswalkColumns {
		if _, ok := col[c]; !ok {
			errs = append(errs, fmt.Errorf("%s: header: column %s is missing", name, c))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cw := &Crosswalk{File: name}
	seen := map[[2]string]int{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: line %d: %w", name, line, err))
			if len(errs) > 100 {
				break
			}
			continue
		}
		get := func(c string) string {
			if i := col[c]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row := CrosswalkRow{OldProvince: get("old_province"), OldDistrict: get("old_district"), OldCommune: get("old_commune"),
			NewProvince: get("new_province"), NewCommune: get("new_commune"), Line: line}
		for _, c := range []string{"old_province", "old_commune", "new_province", "new_commune"} {
			if get(c) == "" {
				errs = append(errs, fmt.Errorf("%s: line %d: %s: must be set", name, line, c))
			}
		}
		k := [2]string{row.OldCommune, row.NewCommune}
		if first, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("%s: line %d: old commune %s → new commune %s repeats line %d", name, line, row.OldCommune, row.NewCommune, first))
		}
		seen[k] = line
		cw.Rows = append(cw.Rows, row)
	}
	if len(cw.Rows) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%s: no rows", name))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cw.index()
	return cw, nil
}

// index builds the lookups. Weights count rows: a district's new commune that took five of its old
// communes outweighs one that took two; a split commune's rows weigh one each.
func (cw *Crosswalk) index() {
	weight := map[string]map[string]int{}
	add := func(old, nw string) {
		if old == "" || nw == "" {
			return
		}
		if weight[old] == nil {
			weight[old] = map[string]int{}
		}
		weight[old][nw]++
	}
	from := map[string]map[string]bool{}
	back := func(nw, old string) {
		if old == "" {
			return
		}
		if from[nw] == nil {
			from[nw] = map[string]bool{}
		}
		from[nw][old] = true
	}
	for _, r := range cw.Rows {
		add(r.OldProvince, r.NewProvince)
		add(r.OldDistrict, r.NewCommune)
		add(r.OldCommune, r.NewCommune)
		back(r.NewProvince, r.OldProvince)
		back(r.NewCommune, r.OldDistrict)
		back(r.NewCommune, r.OldCommune)
	}
	cw.to, cw.primary, cw.from = map[string][]string{}, map[string]string{}, map[string][]string{}
	for old, ws := range weight {
		codes := slices.Sorted(maps.Keys(ws))
		cw.to[old] = codes
		best := codes[0]
		for _, c := range codes[1:] {
			if ws[c] > ws[best] {
				best = c
			}
		}
		cw.primary[old] = best
	}
	for nw, olds := range from {
		cw.from[nw] = slices.Sorted(maps.Keys(olds))
	}
}

// To returns the new codes an old code went into, sorted: the new provinces of an old province, the
// new communes of an old district or commune. Nil when the crosswalk does not name the code.
func (cw *Crosswalk) To(old string) []string { return slices.Clone(cw.to[old]) }

// Primary is the one new code an old unit is attributed to when nothing better is known (no point):
// the new unit that took most of it (most of its old communes, for a district), then the smallest
// code. An old unit that went wholly into one new unit has that one.
func (cw *Crosswalk) Primary(old string) (string, bool) {
	c, ok := cw.primary[old]
	return c, ok
}

// From returns the old codes (provinces, districts, communes) that went wholly or partly into a new
// code, sorted; what a query for the new unit must also look for in history stored before the change.
func (cw *Crosswalk) From(nw string) []string { return slices.Clone(cw.from[nw]) }

// check reports the crosswalk's codes that the sets it joins do not have: every new code must be an
// area of next; an old district or commune must be an area of prev when prev has its old province
// (an old province prev does not hold, such as the old Trà Vinh in the demo, is mapped by the
// crosswalk alone). Each problem names the file, the line and the code.
func (cw *Crosswalk) check(prev, next *Set) []error {
	var errs []error
	bad := func(r CrosswalkRow, format string, args ...any) {
		if len(errs) < 50 {
			errs = append(errs, fmt.Errorf("%s: line %d: %s", cw.File, r.Line, fmt.Sprintf(format, args...)))
		} else if len(errs) == 50 {
			errs = append(errs, fmt.Errorf("%s: more problems not listed", cw.File))
		}
	}
	for _, r := range cw.Rows {
		if _, ok := next.Areas.Get(r.NewProvince); !ok {
			bad(r, "new_province %s is not an area of set %s", r.NewProvince, next.Name)
		}
		if a, ok := next.Areas.Get(r.NewCommune); !ok {
			bad(r, "new_commune %s is not an area of set %s", r.NewCommune, next.Name)
		} else if a.Parent != r.NewProvince && !next.Areas.under(a, r.NewProvince) {
			bad(r, "new_commune %s (%s) is not in new_province %s in set %s", r.NewCommune, a.Name, r.NewProvince, next.Name)
		}
		if prev == nil {
			continue
		}
		if _, ok := prev.Areas.Get(r.OldProvince); !ok {
			continue
		}
		if r.OldDistrict != "" {
			if _, ok := prev.Areas.Get(r.OldDistrict); !ok {
				bad(r, "old_district %s is not an area of set %s, which has its province %s", r.OldDistrict, prev.Name, r.OldProvince)
			}
		}
		if _, ok := prev.Areas.Get(r.OldCommune); !ok && prev.Areas.hasChildren(r.OldDistrict) {
			bad(r, "old_commune %s is not an area of set %s, which has the communes of district %s", r.OldCommune, prev.Name, r.OldDistrict)
		}
	}
	return errs
}
