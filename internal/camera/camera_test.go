package camera

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func cams() []Config {
	return []Config{
		{ID: "cam-a", Name: "Ngã tư A", Location: [2]float64{106.70, 10.77}, Heading: 90, FOV: 80,
			Source: SourceConfig{Kind: KindFrigate, Name: "front"},
			Zones:  map[string][][2]float64{"driveway": {{106.7, 10.77}, {106.701, 10.77}, {106.701, 10.771}}}},
		{ID: "cam-b", Location: [2]float64{106.71, 10.78}, Source: SourceConfig{Kind: KindHikvision, MAC: "44:19:B6:00:00:01", Channel: 2}},
		{ID: "cam-c", Location: [2]float64{106.72, 10.79}, Source: SourceConfig{Kind: KindONVIF, URL: "http://10.0.0.5/onvif/device_service"}},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cams []Config
		want []string
	}{
		{name: "good", cams: cams()},
		{name: "everything wrong", cams: []Config{{ID: "", Location: [2]float64{200, 10}, Heading: 400, Source: SourceConfig{Kind: "axis"},
			Zones: map[string][][2]float64{"z": {{1, 1}}}}},
			want: []string{"cameras[0] (): id: is required", "location", "heading", "source.kind", "zones.z"}},
		{name: "hikvision without identity", cams: []Config{{ID: "x", Source: SourceConfig{Kind: KindHikvision, MAC: "nope"}}},
			want: []string{"source.mac"}},
		{name: "duplicates", cams: append(cams(), Config{ID: "cam-a", Source: SourceConfig{Kind: KindFrigate, Name: "front"}}),
			want: []string{"cameras[3] (cam-a): id: duplicates cameras[0]", "identity"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.cams)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\ndoes not mention %q", err, w)
				}
			}
		})
	}
}

func TestRegistryResolveAndLiveness(t *testing.T) {
	now := t0
	r, err := NewRegistry(cams(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		ids        []Identity
		entity     string
		registered string
	}{
		{name: "frigate", ids: []Identity{FrigateID("front")}, entity: "cam-a", registered: "true"},
		{name: "hikvision by mac, other case", ids: HikvisionIDs("44:19:b6:00:00:01", "10.0.0.9", 2), entity: "cam-b", registered: "true"},
		{name: "hikvision wrong channel", ids: HikvisionIDs("44:19:b6:00:00:01", "", 1), entity: "fallback", registered: "false"},
		{name: "onvif trailing slash", ids: []Identity{ONVIFID("http://10.0.0.5/onvif/device_service/")}, entity: "cam-c", registered: "true"},
		{name: "unknown", ids: []Identity{FrigateID("back")}, entity: "fallback", registered: "false"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := r.Resolve("src", "fallback", now, tc.ids...)
			if ev.Entity != tc.entity || ev.Attrs["registered"] != tc.registered || ev.HasLocation != (tc.registered == "true") {
				t.Errorf("got %+v", ev)
			}
			if ev.Type != stream.TypeCamera || ev.Kind != "camera" {
				t.Errorf("type/kind %s/%s", ev.Type, ev.Kind)
			}
		})
	}
	now = t0.Add(10 * time.Minute)
	r.Heard(FrigateID("front"))
	if got := r.Offline(now, 5*time.Minute); strings.Join(got, ",") != "cam-b,cam-c" {
		t.Errorf("offline = %v", got)
	}
	if got := r.Unregistered(); strings.Join(got, ",") != "fallback" {
		t.Errorf("unregistered = %v", got)
	}
	// Runtime add and remove.
	if err := r.Add(Config{ID: "cam-d", Location: [2]float64{106, 10}, Source: SourceConfig{Kind: KindFrigate, Name: "front"}}); err == nil {
		t.Error("added a camera with a taken identity")
	}
	if err := r.Add(Config{ID: "cam-d", Location: [2]float64{106, 10}, Source: SourceConfig{Kind: KindFrigate, Name: "side"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove("cam-a"); err != nil {
		t.Fatal(err)
	}
	if ev := r.Resolve("src", "frigate:front", now, FrigateID("front")); ev.Attrs["registered"] != "false" {
		t.Error("removed camera still resolves")
	}
	if got := r.Offline(now, 5*time.Minute); strings.Join(got, ",") != "cam-b,cam-c" {
		t.Errorf("offline after add/remove = %v (a new camera counts from when it was added)", got)
	}
	if ring, ok := r.Zone("cam-d", "driveway"); ok || ring != nil {
		t.Error("zone of a camera without zones")
	}
}

func TestCollapser(t *testing.T) {
	c := NewCollapser(10 * time.Second)
	ev := func(n float64) stream.Event {
		return stream.Event{Entity: "cam", Values: map[string]float64{"seq": n}, Attrs: map[string]string{}}
	}
	var out []stream.Event
	for i := range 5 {
		out = append(out, c.Offer("k", ev(float64(i)), t0.Add(time.Duration(i)*time.Second))...)
	}
	out = append(out, c.Offer("other", ev(9), t0)...)
	if len(out) != 2 || out[0].Values["count"] != 1 {
		t.Fatalf("inside window: %+v", out)
	}
	// A new event after the window first releases the held summary.
	got := c.Offer("k", ev(5), t0.Add(12*time.Second))
	if len(got) != 2 || got[0].Values["count"] != 4 || got[0].Values["seq"] != 4 || got[1].Values["count"] != 1 {
		t.Fatalf("after window: %+v", got)
	}
	if f := c.Flush(t0.Add(12 * time.Second)); len(f) != 0 {
		t.Errorf("flush released %+v; 'other' had no repeats", f)
	}
	if off := NewCollapser(0).Offer("k", ev(1), t0); len(off) != 1 || off[0].Values["count"] != 1 {
		t.Errorf("disabled collapser: %+v", off)
	}
}

func TestCheckXML(t *testing.T) {
	laughs := `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<EventNotificationAlert><eventType>&lol3;</eventType></EventNotificationAlert>`
	tests := []struct {
		name   string
		doc    string
		reason string
	}{
		{name: "plain", doc: `<a><b>1</b></a>`},
		{name: "billion laughs", doc: laughs, reason: ReasonDoctype},
		{name: "too deep", doc: strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40), reason: ReasonTooDeep},
		{name: "unclosed", doc: `<a><b>`, reason: stream.ReasonMalformed},
		{name: "undeclared entity", doc: `<a>&lol;</a>`, reason: stream.ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckXML([]byte(tc.doc), MaxDepth)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if stream.ReasonOf(err) != tc.reason {
				t.Fatalf("reason %q (%v), want %q", stream.ReasonOf(err), err, tc.reason)
			}
		})
	}
	// Even without the guard, encoding/xml does not expand the declared entities: harmless either way.
	var v struct {
		EventType string `xml:"eventType"`
	}
	err := xml.Unmarshal([]byte(laughs), &v)
	if err == nil && strings.Contains(v.EventType, "lol") {
		t.Errorf("encoding/xml expanded entities: %q", v.EventType)
	}
}

func TestCheckJSONDepth(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		ok   bool
	}{
		{name: "flat", doc: `{"a":[1,2,{"b":3}]}`, ok: true},
		{name: "brackets in strings", doc: `{"a":"` + strings.Repeat("[", 100) + `\"["}`, ok: true},
		{name: "deep", doc: strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckJSONDepth([]byte(tc.doc), MaxDepth)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func FuzzCheckXML(f *testing.F) {
	f.Add([]byte(`<a><b>1</b></a>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`))
	f.Add(bytes.Repeat([]byte("<a>"), 50))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := CheckXML(data, MaxDepth); err != nil && stream.ReasonOf(err) == "other" {
			t.Fatalf("error without a reason: %v", err)
		}
	})
}
