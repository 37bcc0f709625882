package mqtt

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/ioc-vn/ioc/stream"
)

// A purpose-built reader of ThingsBoard device payloads ({"k":v,…}, {"ts":ms,"values":{…}} or an array
// of either). It checks the whole payload against the JSON grammar first, as encoding/json does, and
// keeps keys, numbers and plain strings as substrings of one copy of the payload instead of building a
// map[string]any of boxed values: the generic decode was over half of the collector's CPU per message
// (BenchmarkHandleThingsBoard). FuzzThingsBoardMatchesGeneric checks it against the generic decode.

// maxDepth is encoding/json's nesting limit; deeper input is malformed.
const maxDepth = 10000

// member is one "key": value of an object; raw is the value's text (a string with its quotes).
type member struct {
	key  string
	kind byte // kind of the value: see kindName
	raw  string
}

// kindName names a value kind as jsonType does.
func kindName(k byte) string {
	switch k {
	case 'n':
		return "number"
	case 's':
		return "string"
	case 'b':
		return "boolean"
	case 'z':
		return "null"
	case 'a':
		return "array"
	}
	return "object"
}

// scanner reads JSON text; ok turns false at the first syntax error and stays so.
type scanner struct {
	s  string
	i  int
	ok bool
}

func (p *scanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *scanner) fail() byte {
	p.ok = false
	return 0
}

// value reads one value and returns its kind; with members set, the members of an object are
// appended to *members (one level).
func (p *scanner) value(depth int, members *[]member) byte {
	p.ws()
	if !p.ok || p.i >= len(p.s) || depth > maxDepth {
		return p.fail()
	}
	switch c := p.s[p.i]; {
	case c == '{':
		p.object(depth+1, members)
		return 'o'
	case c == '[':
		p.array(depth + 1)
		return 'a'
	case c == '"':
		p.str()
		return 's'
	case c == 't':
		return p.literal("true", 'b')
	case c == 'f':
		return p.literal("false", 'b')
	case c == 'n':
		return p.literal("null", 'z')
	case c == '-' || (c >= '0' && c <= '9'):
		p.number()
		return 'n'
	}
	return p.fail()
}

func (p *scanner) literal(word string, kind byte) byte {
	if len(p.s)-p.i < len(word) || p.s[p.i:p.i+len(word)] != word {
		return p.fail()
	}
	p.i += len(word)
	return kind
}

// object reads an object (p.i at '{'), appending its members to *members when members is not nil.
func (p *scanner) object(depth int, members *[]member) {
	p.i++
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return
	}
	for p.ok {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			p.fail()
			return
		}
		k0 := p.i
		p.str()
		key := p.s[k0:p.i]
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			p.fail()
			return
		}
		p.i++
		p.ws()
		v0 := p.i
		kind := p.value(depth, nil)
		if members != nil && p.ok {
			if *members == nil {
				*members = make([]member, 0, 8)
			}
			*members = append(*members, member{key: unquote(key), kind: kind, raw: p.s[v0:p.i]})
		}
		if !p.next('}') {
			return
		}
	}
}

// next reads what follows a member or element: true after a ',' (another one follows), false after
// the closing byte or at a syntax error.
func (p *scanner) next(closing byte) bool {
	p.ws()
	switch {
	case p.i >= len(p.s):
		p.fail()
		return false
	case p.s[p.i] == ',':
		p.i++
		return true
	case p.s[p.i] == closing:
		p.i++
		return false
	}
	p.fail()
	return false
}

// array reads an array (p.i at '[').
func (p *scanner) array(depth int) {
	p.i++
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return
	}
	for p.ok {
		p.value(depth, nil)
		if !p.next(']') {
			return
		}
	}
}

// str reads a string (p.i at '"').
func (p *scanner) str() {
	p.i++
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '"':
			p.i++
			return
		case c == '\\':
			p.i++
			if p.i >= len(p.s) {
				p.fail()
				return
			}
			switch p.s[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if len(p.s)-p.i < 5 || !hex4(p.s[p.i+1:p.i+5]) {
					p.fail()
					return
				}
				p.i += 5
			default:
				p.fail()
				return
			}
		case c < 0x20:
			p.fail()
			return
		default:
			p.i++
		}
	}
	p.fail()
}

func hex4(s string) bool {
	for i := range 4 {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// number reads a number as the JSON grammar has it.
func (p *scanner) number() {
	digits := func() int {
		n := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.s[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.s) && p.s[p.i] == '0':
		p.i++
	case digits() == 0:
		p.fail()
		return
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			p.fail()
			return
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			p.fail()
		}
	}
}

// unquote decodes a valid JSON string (with its quotes): a substring when it has no escape and is
// valid UTF-8, else as encoding/json decodes it.
func unquote(q string) string {
	s := q[1 : len(q)-1]
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] >= utf8.RuneSelf {
			var out string
			if json.Unmarshal([]byte(q), &out) != nil {
				return s // cannot happen: q was scanned as a string
			}
			return out
		}
	}
	return s
}

// tbItem is one top-level entry of a payload: an object's members, or the kind of a non-object.
type tbItem struct {
	kind    byte
	members []member
}

// decodeThingsBoard reads ThingsBoard device telemetry: {"k":v,…}, {"ts":ms,"values":{…}} or an array
// of either, for the device named by the topic.
func decodeThingsBoard(device string, payload []byte, _ time.Time) ([]stream.Event, []error) {
	if device == "" {
		return nil, []error{stream.Reject(stream.ReasonNoEntity, "topic names no device (use a filter with + for the device id)")}
	}
	p := scanner{s: string(payload), ok: true}
	var items []tbItem
	p.ws()
	top := byte(0)
	switch {
	case p.i >= len(p.s):
		p.fail()
	case p.s[p.i] == '[':
		top = 'a'
		p.i++
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			break
		}
		for more := true; more && p.ok; {
			var ms []member
			items = append(items, tbItem{kind: p.value(2, &ms), members: ms})
			more = p.next(']')
		}
	default:
		var ms []member
		top = p.value(1, &ms)
		items = []tbItem{{kind: top, members: ms}}
	}
	p.ws()
	if !p.ok || p.i != len(p.s) {
		return nil, []error{stream.Reject(stream.ReasonMalformed, "invalid JSON")}
	}
	if top != 'a' && top != 'o' {
		return nil, []error{stream.Reject(stream.ReasonWrongType, "payload must be a JSON object or array, got %s", kindName(top))}
	}
	out := make([]stream.Event, 0, len(items))
	var errs []error
	for i, it := range items {
		if it.kind != 'o' {
			errs = append(errs, stream.Reject(stream.ReasonWrongType, "%s: entry %d must be an object, got %s", device, i, kindName(it.kind)))
			continue
		}
		ev, err := tbMembers(device, it.members)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: entry %d: %w", device, i, err))
			continue
		}
		out = append(out, ev)
	}
	return out, errs
}

// last is the last member named key (JSON objects with a repeated key keep the last, as
// encoding/json does).
func last(ms []member, key string) (member, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].key == key {
			return ms[i], true
		}
	}
	return member{}, false
}

// tbMembers is tbEntry over scanned members.
func tbMembers(device string, ms []member) (stream.Event, error) {
	ev := stream.Event{Entity: device, Type: stream.TypeTelemetry} // Time zero without "ts": stamped by the collector
	values := ms
	if ts, ok := last(ms, "ts"); ok {
		if ts.kind != 'n' {
			return ev, stream.Reject(stream.ReasonWrongType, "\"ts\" must be a number of milliseconds, got %s", kindName(ts.kind))
		}
		t, err := millis(json.Number(ts.raw))
		if err != nil {
			return ev, err
		}
		ev.Time = t
		v, ok := last(ms, "values")
		if !ok {
			return ev, stream.Reject(stream.ReasonMalformed, "has \"ts\" but no \"values\"")
		}
		if v.kind != 'o' {
			return ev, stream.Reject(stream.ReasonWrongType, "\"values\" must be an object, got %s", kindName(v.kind))
		}
		values = nil
		sub := scanner{s: v.raw, ok: true}
		sub.value(1, &values)
	}
	if err := setMembers(&ev, values); err != nil {
		return ev, err
	}
	return ev, nil
}

// setMembers is setValues over scanned members; of a repeated key only the last counts.
func setMembers(ev *stream.Event, ms []member) error {
	if len(ms) == 0 {
		return stream.Reject(stream.ReasonEmpty, "no values")
	}
	var lastOf map[string]int // for long member lists; short ones are searched
	if len(ms) > 16 {
		lastOf = make(map[string]int, len(ms))
		for i, m := range ms {
			lastOf[m.key] = i
		}
	}
	var lon, lat *float64
	for i, m := range ms {
		if lastOf != nil && lastOf[m.key] != i || lastOf == nil && laterKey(ms, i) {
			continue
		}
		k := m.key
		if k == "" {
			return stream.Reject(stream.ReasonMalformed, "empty field name")
		}
		switch m.kind {
		case 'n':
			f, err := finite(k, json.Number(m.raw))
			if err != nil {
				return err
			}
			setNumber(ev, k, f, len(ms), &lon, &lat)
		case 'b':
			setValue(ev, k, b2f(m.raw == "true"), len(ms))
		case 's':
			setAttr(ev, k, unquote(m.raw))
		case 'z':
			// a null value records nothing
		default:
			return stream.Reject(stream.ReasonWrongType, "field %q must be a number, boolean or string, got %s", k, kindName(m.kind))
		}
	}
	return setLocation(ev, lon, lat)
}

// laterKey reports whether a member after ms[i] has its key.
func laterKey(ms []member, i int) bool {
	for _, m := range ms[i+1:] {
		if m.key == ms[i].key {
			return true
		}
	}
	return false
}
