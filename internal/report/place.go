package report

import (
	"strings"
	"unicode"

	"github.com/paulmach/orb"
	"golang.org/x/text/unicode/norm"
)

// PlaceArea is an admin area an address-only report can be placed in: its code, name, level,
// the code of the area enclosing it, and a point inside it ([lon, lat]).
type PlaceArea struct {
	Code, Name, Level, Parent string
	Type                      string // Xã, Phường, Huyện …: a name starting with it also matches without it
	Point                     orb.Point
}

// names are the folded forms an area is named by in an address: "Huyện Châu Thành" and "Châu Thành".
func (a PlaceArea) names() []string {
	n := fold(a.Name)
	if t := fold(a.Type); t != "" && strings.HasPrefix(n, t+" ") {
		return []string{n, strings.TrimPrefix(n, t+" ")}
	}
	return []string{n}
}

func (a PlaceArea) in(addr string) bool {
	for _, n := range a.names() {
		if n != "" && strings.Contains(addr, " "+n+" ") {
			return true
		}
	}
	return false
}

// Placer finds where an address-only report is.
type Placer func(address string) (p orb.Point, code string, ok bool)

// NamePlacer places an address by the names of the areas it holds: among the areas whose name is
// in the address as whole words (case-insensitive), the deepest ones (a commune before its
// district); when several remain, those whose enclosing area is named too ("Phường 3, TP Bến
// Tre"). It answers only when exactly one area is left, with that area's point.
func NamePlacer(areas []PlaceArea) Placer {
	byCode := make(map[string]PlaceArea, len(areas))
	for _, a := range areas {
		byCode[a.Code] = a
	}
	depth := func(a PlaceArea) int {
		n := 0
		for seen := 0; a.Parent != "" && seen < 10; seen++ {
			p, ok := byCode[a.Parent]
			if !ok {
				break
			}
			a, n = p, n+1
		}
		return n
	}
	return func(address string) (orb.Point, string, bool) {
		addr := " " + fold(address) + " "
		var found []PlaceArea
		best := -1
		for _, a := range areas {
			if !a.in(addr) {
				continue
			}
			switch d := depth(a); {
			case d > best:
				best, found = d, []PlaceArea{a}
			case d == best:
				found = append(found, a)
			}
		}
		if len(found) > 1 {
			var named []PlaceArea
			for _, a := range found {
				if p, ok := byCode[a.Parent]; ok && p.in(addr) {
					named = append(named, a)
				}
			}
			found = named
		}
		if len(found) != 1 {
			return orb.Point{}, "", false
		}
		return found[0].Point, found[0].Code, true
	}
}

// fold lowercases s and turns every run of non-letters and non-digits into one space, so names
// match as whole words whatever the punctuation: "Đường 30/4, P.3 – Phường 3" → "đường 30 4 p 3 phường 3".
func fold(s string) string {
	var b strings.Builder
	space := true
	for _, r := range strings.ToLower(norm.NFC.String(s)) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
			space = false
		} else if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimSpace(b.String())
}
