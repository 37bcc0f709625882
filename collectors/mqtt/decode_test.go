package mqtt

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

var now = time.Date(2026, 3, 15, 1, 0, 0, 0, time.UTC)

func TestDecode(t *testing.T) {
	ts := now.Add(-time.Minute)
	// Entries without a time of their own decode with Time zero; the collector stamps them.
	tests := []struct {
		name    string
		format  string
		device  string
		payload string
		want    []stream.Event // Entity, Time, Values, Attrs, Location checked
		reasons []string       // rejection reasons, in order
	}{
		{name: "tb flat", format: FormatThingsBoard, device: "aq-1", payload: `{"pm25":12.5,"pm10":20}`,
			want: []stream.Event{{Entity: "aq-1", Values: map[string]float64{"pm25": 12.5, "pm10": 20}}}},
		{name: "tb ts values", format: FormatThingsBoard, device: "sal-1",
			payload: `{"ts":` + ms(ts) + `,"values":{"salinity":4.2,"lat":10.24,"lon":106.37,"state":"ok","pump":true}}`,
			want: []stream.Event{{Entity: "sal-1", Time: ts, Values: map[string]float64{"salinity": 4.2, "pump": 1},
				Attrs: map[string]string{"state": "ok"}, Location: [2]float64{106.37, 10.24}, HasLocation: true}}},
		{name: "tb array keeps valid entries", format: FormatThingsBoard, device: "wl-1",
			payload: `[{"ts":` + ms(ts) + `,"values":{"water_level":1.2}},{"ts":"soon","values":{"water_level":1}},{"water_level":1.3}, 7]`,
			want: []stream.Event{{Entity: "wl-1", Time: ts, Values: map[string]float64{"water_level": 1.2}},
				{Entity: "wl-1", Values: map[string]float64{"water_level": 1.3}}},
			reasons: []string{stream.ReasonWrongType, stream.ReasonWrongType}},
		{name: "tb malformed", format: FormatThingsBoard, device: "x", payload: `{"pm25":`, reasons: []string{stream.ReasonMalformed}},
		{name: "tb huge number", format: FormatThingsBoard, device: "x", payload: `{"pm25":1e999}`, reasons: []string{stream.ReasonNotFinite}},
		{name: "tb nested object", format: FormatThingsBoard, device: "x", payload: `{"pm25":{"a":1}}`, reasons: []string{stream.ReasonWrongType}},
		{name: "tb lat without lon", format: FormatThingsBoard, device: "x", payload: `{"lat":10,"pm25":1}`, reasons: []string{stream.ReasonBadLocation}},
		{name: "tb lat out of range", format: FormatThingsBoard, device: "x", payload: `{"lat":100,"lon":106,"pm25":1}`, reasons: []string{stream.ReasonBadLocation}},
		{name: "tb no device", format: FormatThingsBoard, payload: `{"pm25":1}`, reasons: []string{stream.ReasonNoEntity}},
		{name: "tb empty", format: FormatThingsBoard, device: "x", payload: `{}`, reasons: []string{stream.ReasonEmpty}},
		{name: "tb scalar", format: FormatThingsBoard, device: "x", payload: `42`, reasons: []string{stream.ReasonWrongType}},
		{name: "tb trailing data", format: FormatThingsBoard, device: "x", payload: `{"a":1}{"b":2}`, reasons: []string{stream.ReasonMalformed}},
		{name: "gateway", format: FormatThingsBoardGateway,
			payload: `{"trf-2":[{"ts":` + ms(ts) + `,"values":{"vehicles":31}}],"trf-1":[{"ts":` + ms(ts) + `,"values":{"vehicles":12}},{"ts":` + ms(now) + `,"values":{"vehicles":14}}]}`,
			want: []stream.Event{{Entity: "trf-1", Time: ts, Values: map[string]float64{"vehicles": 12}},
				{Entity: "trf-1", Time: now, Values: map[string]float64{"vehicles": 14}},
				{Entity: "trf-2", Time: ts, Values: map[string]float64{"vehicles": 31}}}},
		{name: "gateway bad device keeps others", format: FormatThingsBoardGateway,
			payload: `{"a":"nope","b":[{"ts":` + ms(ts) + `,"values":{"vehicles":1}}]}`,
			want:    []stream.Event{{Entity: "b", Time: ts, Values: map[string]float64{"vehicles": 1}}},
			reasons: []string{stream.ReasonWrongType}},
		{name: "gateway not object", format: FormatThingsBoardGateway, payload: `[1]`, reasons: []string{stream.ReasonWrongType}},
		{name: "senml base fields", format: FormatSenML, device: "",
			payload: `[{"bn":"urn:dev:rain-7:","bt":` + secs(ts) + `,"bu":"mm","n":"rain_mm","v":1.5},{"n":"temperature","u":"Cel","v":27.5},{"n":"rain_mm","t":60,"v":2}]`,
			want: []stream.Event{
				{Entity: "urn:dev:rain-7", Time: ts, Values: map[string]float64{"rain_mm": 1.5, "temperature": 27.5},
					Attrs: map[string]string{"unit.rain_mm": "mm", "unit.temperature": "Cel"}},
				{Entity: "urn:dev:rain-7", Time: ts.Add(time.Minute), Values: map[string]float64{"rain_mm": 2}, Attrs: map[string]string{"unit.rain_mm": "mm"}}}},
		{name: "senml topic device, relative time, base value", format: FormatSenML, device: "rain-8",
			payload: `[{"bn":"x:","bv":10,"n":"level","v":0.5,"t":-30},{"n":"lon","v":106.3},{"n":"lat","v":10.2},{"n":"ok","vb":true},{"n":"note","vs":"mưa rào"}]`,
			want: []stream.Event{
				{Entity: "rain-8", Time: now.Add(-30 * time.Second), Values: map[string]float64{"level": 10.5}},
				{Entity: "rain-8", Values: map[string]float64{"ok": 1}, Attrs: map[string]string{"note": "mưa rào"},
					Location: [2]float64{106.3 + 10, 10.2 + 10}, HasLocation: true}}},
		{name: "senml no name", format: FormatSenML, payload: `[{"v":1}]`, reasons: []string{stream.ReasonNoEntity}},
		{name: "senml data value refused", format: FormatSenML, device: "d", payload: `[{"n":"img","vd":"AAA"},{"n":"t","v":1}]`,
			want: []stream.Event{{Entity: "d", Values: map[string]float64{"t": 1}}}, reasons: []string{stream.ReasonWrongType}},
		{name: "senml wrong type", format: FormatSenML, device: "d", payload: `[{"n":"t","v":"1"}]`, reasons: []string{stream.ReasonWrongType}},
		{name: "senml not array", format: FormatSenML, device: "d", payload: `{"n":"t"}`, reasons: []string{stream.ReasonWrongType}},
		{name: "senml overflow", format: FormatSenML, device: "d", payload: `[{"n":"t","bv":1e308,"v":1e308}]`, reasons: []string{stream.ReasonNotFinite}},
		{name: "senml empty", format: FormatSenML, device: "d", payload: ``, reasons: []string{stream.ReasonMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec, ok := DecoderFor(tt.format)
			if !ok {
				t.Fatalf("no decoder for %s", tt.format)
			}
			got, errs := dec(tt.device, []byte(tt.payload), now)
			var reasons []string
			for _, e := range errs {
				reasons = append(reasons, stream.ReasonOf(e))
			}
			if strings.Join(reasons, ",") != strings.Join(tt.reasons, ",") {
				t.Errorf("reasons = %v (%v), want %v", reasons, errs, tt.reasons)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Entity != w.Entity || !g.Time.Equal(w.Time) || g.Type != stream.TypeTelemetry {
					t.Errorf("event %d = %s %s %s, want %s %s telemetry", i, g.Entity, g.Time, g.Type, w.Entity, w.Time)
				}
				if !sameMap(g.Values, w.Values) || !sameMap(g.Attrs, w.Attrs) {
					t.Errorf("event %d values %v attrs %v, want %v %v", i, g.Values, g.Attrs, w.Values, w.Attrs)
				}
				if g.HasLocation != w.HasLocation || (w.HasLocation && g.Location != w.Location) {
					t.Errorf("event %d location %v %v, want %v %v", i, g.HasLocation, g.Location, w.HasLocation, w.Location)
				}
			}
		})
	}
}

func TestMatchFilter(t *testing.T) {
	tests := []struct {
		filter, topic, device string
		ok                    bool
	}{
		{"ioc/devices/+/telemetry", "ioc/devices/sal-1/telemetry", "sal-1", true},
		{"ioc/devices/+/telemetry", "ioc/devices/sal-1/attributes", "", false},
		{"ioc/devices/+/telemetry", "ioc/devices/telemetry", "", false},
		{"ioc/senml/#", "ioc/senml/a/b", "a/b", true},
		{"ioc/senml/#", "ioc/senml", "", true},
		{"ioc/senml/#", "ioc/senml/", "", true},
		{"ioc/devices/+/telemetry", "ioc/devices//telemetry", "", true},
		{"ioc/devices/+", "ioc/devices/a/b", "a", false},
		{"+/#", "a", "a", true},
		{"v1/gateway/telemetry", "v1/gateway/telemetry", "", true},
		{"v1/gateway/telemetry", "v1/gateway/telemetry/x", "", false},
		{"$share/ioc/ioc/devices/+/telemetry", "ioc/devices/wl-2/telemetry", "wl-2", true},
	}
	for _, tt := range tests {
		t.Run(tt.filter+" "+tt.topic, func(t *testing.T) {
			dev, ok := matchFilter(strings.Split(TopicOf(tt.filter), "/"), tt.topic)
			if ok != tt.ok || dev != tt.device {
				t.Errorf("matchFilter = %q %v, want %q %v", dev, ok, tt.device, tt.ok)
			}
		})
	}
}

func sameMap[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func secs(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// FuzzDecode feeds arbitrary payloads to every telemetry format. Whatever the input, a decoder must not
// panic, every event it returns must carry an entity and only finite values, and every error must carry
// a counted rejection reason (never the catch-all "other").
func FuzzDecode(f *testing.F) {
	seeds := []string{`{"pm25":12.5}`, `{"ts":1773536400000,"values":{"salinity":4.2,"lat":10.24,"lon":106.37}}`,
		`[{"ts":1773536400000,"values":{"a":1}},{"b":"x"}]`, `{"dev-1":[{"ts":1773536400000,"values":{"w":1.5}}]}`,
		`[{"bn":"urn:dev:x:","bt":1.7735364e9,"n":"t","u":"Cel","v":28.1},{"n":"h","v":70}]`, `{"pm25":1e999}`, `[1,[2],{"":3}]`}
	formats := []string{FormatThingsBoard, FormatThingsBoardGateway, FormatSenML}
	for _, s := range seeds {
		for i := range formats {
			f.Add(uint8(i), "dev-1", []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, device string, payload []byte) {
		format := formats[int(which)%len(formats)]
		dec, ok := DecoderFor(format)
		if !ok {
			t.Fatalf("no decoder for %s", format)
		}
		events, errs := dec(device, payload, now)
		for _, ev := range events {
			if ev.Entity == "" {
				t.Fatalf("%s: event without entity from %q", format, payload)
			}
			if err := stream.Validate(&ev, now, stream.Limits{MaxFuture: 100 * 365 * 24 * time.Hour}); err != nil &&
				stream.ReasonOf(err) != stream.ReasonTimeTooOld && stream.ReasonOf(err) != stream.ReasonTimeFuture {
				t.Fatalf("%s: decoder returned an invalid event %+v: %v", format, ev, err)
			}
		}
		for _, err := range errs {
			if stream.ReasonOf(err) == "other" {
				t.Fatalf("%s: error without a rejection reason: %v", format, err)
			}
		}
	})
}

// decodeThingsBoardGeneric is the reference ThingsBoard decoder: encoding/json into map[string]any,
// then tbEntry, as the gateway format still decodes.
func decodeThingsBoardGeneric(device string, payload []byte) ([]stream.Event, []error) {
	if device == "" {
		return nil, []error{stream.Reject(stream.ReasonNoEntity, "no device")}
	}
	if !json.Valid(payload) { // parse accepts some trailing input (a closing bracket) that is not JSON
		return nil, []error{stream.Reject(stream.ReasonMalformed, "invalid JSON")}
	}
	raw, err := parse(payload)
	if err != nil {
		return nil, []error{err}
	}
	var entries []any
	switch v := raw.(type) {
	case []any:
		entries = v
	case map[string]any:
		entries = []any{v}
	default:
		return nil, []error{stream.Reject(stream.ReasonWrongType, "payload must be a JSON object or array, got %s", jsonType(raw))}
	}
	var out []stream.Event
	var errs []error
	for i, e := range entries {
		obj, ok := e.(map[string]any)
		if !ok {
			errs = append(errs, stream.Reject(stream.ReasonWrongType, "entry %d", i))
			continue
		}
		ev, err := tbEntry(device, obj)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, ev)
	}
	return out, errs
}

// FuzzThingsBoardMatchesGeneric: the ThingsBoard scanner accepts exactly the events the generic decode
// does, with as many rejections, and refuses what is not JSON as malformed. The reason of a rejected
// entry is not compared: with several faults in one entry each decoder names the first it meets (the
// generic one in map order).
func FuzzThingsBoardMatchesGeneric(f *testing.F) {
	for _, s := range []string{`{"pm25":12.5}`, `{"ts":1773536400000,"values":{"salinity":4.2,"lat":10.24,"lon":106.37,"s":"x\u00e9"}}`,
		`[{"ts":1773536400000,"values":{"a":1}},{"b":"x"},7,[1]]`, `{"a":1,"a":"x","b":null}`, `{"a":1} ]`, `{"values":{"a":1},"ts":5}`,
		`{"ts":"1","values":{}}`, `{"a":{"b":[1,2,{"c":null}]}}`, `[]`, ` {"a" : -0.5e+3 , "b":true}`, `{"a":1e999}`, `"x"`, `{"\ud800":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		got, gotErrs := decodeThingsBoard("d", []byte(payload), now)
		want, wantErrs := decodeThingsBoardGeneric("d", []byte(payload))
		if len(got) != len(want) || len(gotErrs) != len(wantErrs) {
			t.Fatalf("%q: %d events %v errors, want %d events %v errors", payload, len(got), gotErrs, len(want), wantErrs)
		}
		if !json.Valid([]byte(payload)) && (len(gotErrs) != 1 || stream.ReasonOf(gotErrs[0]) != stream.ReasonMalformed) {
			t.Fatalf("%q is not JSON: %v, want one malformed", payload, gotErrs)
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Entity != w.Entity || !g.Time.Equal(w.Time) || !sameMap(g.Values, w.Values) || !sameMap(g.Attrs, w.Attrs) ||
				g.HasLocation != w.HasLocation || g.Location != w.Location {
				t.Fatalf("%q: event %d = %+v, want %+v", payload, i, g, w)
			}
		}
	})
}
