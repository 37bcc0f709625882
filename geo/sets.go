package geo

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/stream"
)

// Set is a boundary set: the admin areas in force from From (zero: since ever) until To (zero: until
// the next set starts). Crosswalk, when set, maps the codes of the set before this one to this set's.
type Set struct {
	Name      string
	From, To  time.Time
	Areas     *Areas
	Crosswalk *Crosswalk
}

// In reports whether t is inside the set's validity [From, To).
func (s *Set) In(t time.Time) bool {
	return (s.From.IsZero() || !t.Before(s.From)) && (s.To.IsZero() || t.Before(s.To))
}

// SetSpec describes a boundary set to load.
type SetSpec struct {
	Name      string
	Files     []string // GeoJSON FeatureCollections
	From, To  time.Time
	Crosswalk string // CSV mapping the previous set's codes to this one's; empty: none
}

// LoadOptions are the checks applied when loading.
type LoadOptions struct {
	// OverlapTolerance is how deep (metres) two units of one level may overlap; 0 takes
	// DefaultOverlapTolerance, a negative value skips the check.
	OverlapTolerance float64
}

// Sets is an immutable list of boundary sets ordered by validity, and the crosswalks between them. An
// event is enriched with the set in force at its own time (At). Safe for concurrent use.
type Sets struct {
	list []*Set
}

// LoadSets reads every set's files and crosswalk and checks them together (NewSets). Every problem
// of every file is reported, each naming its file and feature or line.
func LoadSets(specs []SetSpec, opts LoadOptions) (*Sets, error) {
	var errs []error
	sets := make([]*Set, 0, len(specs))
	for _, sp := range specs {
		areas, err := LoadWith(opts, sp.Files...)
		if err != nil {
			errs = append(errs, fmt.Errorf("set %s: %w", sp.Name, err))
			continue
		}
		set := &Set{Name: sp.Name, From: sp.From, To: sp.To, Areas: areas}
		if sp.Crosswalk != "" {
			if set.Crosswalk, err = LoadCrosswalk(sp.Crosswalk); err != nil {
				errs = append(errs, fmt.Errorf("set %s: %w", sp.Name, err))
				continue
			}
		}
		sets = append(sets, set)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return NewSets(sets)
}

// NewSets orders sets by From and checks them (CheckSpecs), and checks each crosswalk against the
// sets it joins: it names only codes those sets have (see Crosswalk).
func NewSets(sets []*Set) (*Sets, error) {
	list := slices.Clone(sets)
	slices.SortStableFunc(list, func(a, b *Set) int { return a.From.Compare(b.From) })
	specs := make([]SetSpec, len(list))
	for i, s := range list {
		specs[i] = SetSpec{Name: s.Name, From: s.From, To: s.To}
		if s.Crosswalk != nil {
			specs[i].Crosswalk = s.Crosswalk.File
		}
	}
	errs := CheckSpecs(specs)
	for i := 1; i < len(list); i++ {
		if cw := list[i].Crosswalk; cw != nil {
			errs = append(errs, cw.check(list[i-1], list[i])...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("boundary sets: %w", err)
	}
	return &Sets{list: list}, nil
}

// CheckSpecs checks boundary sets without reading their files: there is at least one, names are set
// and unique, each effective_to is after its effective_from, validities do not overlap (a set without
// effective_to ends where the next begins), only the earliest set may omit effective_from, and the
// earliest has no crosswalk (there is no set before it to map from).
func CheckSpecs(specs []SetSpec) []error {
	if len(specs) == 0 {
		return []error{errors.New("no boundary set given")}
	}
	list := slices.Clone(specs)
	slices.SortStableFunc(list, func(a, b SetSpec) int { return a.From.Compare(b.From) })
	var errs []error
	names := map[string]bool{}
	for i, s := range list {
		switch {
		case s.Name == "":
			errs = append(errs, errors.New("set with no name: every set needs one"))
		case names[s.Name]:
			errs = append(errs, fmt.Errorf("set %s: duplicate name", s.Name))
		}
		names[s.Name] = true
		if !s.To.IsZero() && !s.To.After(s.From) {
			errs = append(errs, fmt.Errorf("set %s: effective_to %s is not after effective_from %s", s.Name, rfc(s.To), rfcOrEver(s.From)))
		}
		if i == 0 {
			if s.Crosswalk != "" {
				errs = append(errs, fmt.Errorf("set %s: crosswalk %s: the earliest set has no set before it to map from", s.Name, s.Crosswalk))
			}
			continue
		}
		prev := list[i-1]
		switch {
		case s.From.Equal(prev.From):
			errs = append(errs, fmt.Errorf("set %s: validity overlaps set %s: both start %s", s.Name, prev.Name, rfcOrEver(s.From)))
		case !prev.To.IsZero() && prev.To.After(s.From):
			errs = append(errs, fmt.Errorf("set %s: validity overlaps set %s: it starts %s, set %s ends %s", s.Name, prev.Name,
				rfc(s.From), prev.Name, rfc(prev.To)))
		}
	}
	return errs
}

func rfc(t time.Time) string { return t.Format(time.RFC3339) }

func rfcOrEver(t time.Time) string {
	if t.IsZero() {
		return "since ever"
	}
	return rfc(t)
}

// Single is a Sets of one set valid at all times (geo.admin_files).
func Single(areas *Areas) *Sets { return &Sets{list: []*Set{{Name: "default", Areas: areas}}} }

// List returns the sets, earliest first.
func (s *Sets) List() []*Set { return slices.Clone(s.list) }

// Get returns the set with the name.
func (s *Sets) Get(name string) (*Set, bool) {
	for _, set := range s.list {
		if set.Name == name {
			return set, true
		}
	}
	return nil, false
}

// At returns the set in force at t. A time in no set's validity gets the nearest set before it (or
// the earliest set for a time before every set), so every located event gets codes.
func (s *Sets) At(t time.Time) *Set {
	return s.list[s.index(t)]
}

func (s *Sets) index(t time.Time) int {
	for i := len(s.list) - 1; i >= 0; i-- {
		if s.list[i].From.IsZero() || !t.Before(s.list[i].From) {
			return i
		}
	}
	return 0
}

// Current returns the set in force now.
func (s *Sets) Current() *Set { return s.At(time.Now()) }

// Areas returns the admin areas in force now.
func (s *Sets) Areas() *Areas { return s.Current().Areas }

// Len is the number of areas over every set.
func (s *Sets) Len() int {
	n := 0
	for _, set := range s.list {
		n += set.Areas.Len()
	}
	return n
}

// ToCurrent re-expresses codes stored for an event at time t (the set in force at t gave them) in the
// set in force now, for statistics across a boundary change:
//
//  1. codes from the current set are returned as they are;
//  2. an event whose point is known is counted where the point falls in the current set (the level
//     codes of that set; a level where the point falls outside keeps stream.AreaOutside);
//  3. otherwise the finest stored code a crosswalk names is followed forward set by set, each step to
//     Crosswalk.Primary (the new unit that took most of it), and the parents of the unit reached are
//     filled from the current set.
//
// The answer is nil when the codes cannot be mapped (no crosswalk names them).
func (s *Sets) ToCurrent(t time.Time, codes map[string]string, p orb.Point, hasPoint bool) map[string]string {
	from, to := s.index(t), s.index(time.Now())
	if from >= to {
		return codes
	}
	cur := s.list[to].Areas
	if hasPoint {
		out := cur.Codes(p)
		for _, c := range out {
			if c != stream.AreaOutside {
				return out
			}
		}
	}
	levels := s.list[from].Areas.Levels()
	for i := len(levels) - 1; i >= 0; i-- {
		code, ok := codes[levels[i]]
		if !ok || code == "" || code == stream.AreaOutside {
			continue
		}
		if a := s.follow(code, from, to); a != nil {
			return cur.lineage(a)
		}
	}
	return nil
}

// follow maps code of set from forward through the crosswalks to an area of set to; nil when a step
// has no crosswalk naming the code.
func (s *Sets) follow(code string, from, to int) *Area {
	for i := from + 1; i <= to; i++ {
		cw := s.list[i].Crosswalk
		if cw == nil {
			return nil
		}
		next, ok := cw.Primary(code)
		if !ok {
			return nil
		}
		code = next
	}
	a, _ := s.list[to].Areas.Get(code)
	return a
}

// Sources returns every code of earlier sets that went wholly or partly into code of the set in force
// now, through every crosswalk back to the earliest set, sorted (code itself not included). A query
// for a current unit over history looks for these codes too, then applies ToCurrent to each match
// so that a split old unit is counted where its point falls.
func (s *Sets) Sources(code string) []string {
	seen := map[string]bool{}
	frontier := []string{code}
	for i := s.index(time.Now()); i > 0 && len(frontier) > 0; i-- {
		cw := s.list[i].Crosswalk
		if cw == nil {
			break
		}
		var next []string
		for _, c := range frontier {
			for _, old := range cw.From(c) {
				if !seen[old] {
					seen[old] = true
					next = append(next, old)
				}
			}
		}
		frontier = next
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}
