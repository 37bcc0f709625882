package influx

import (
	"testing"
	"time"

	"github.com/ioc-vn/ioc/stream"
)

func TestAppendPoint(t *testing.T) {
	at := time.UnixMilli(1773536400123).UTC()
	tests := []struct {
		name string
		ev   stream.Event
		want string // "" when no point is written
	}{
		{"telemetry, tags sorted, no text fields",
			stream.Event{Entity: "sal-1", Kind: "salinity", Type: stream.TypeTelemetry, Time: at,
				Values: map[string]float64{"temperature": 28.5, "salinity": 4}, Attrs: map[string]string{"unit": "g/l"},
				Areas: map[string]string{"province": "83", "district": "829"}},
			"salinity,device=sal-1,district=829,kind=salinity,province=83 salinity=4,temperature=28.5 1773536400123\n"},
		{"escaping of names and values",
			stream.Event{Entity: `a b,c=d\`, Kind: "water level", Type: stream.TypeTelemetry, Time: at,
				Values: map[string]float64{"x y": 1e-7}},
			`water\ level,device=a\ b\,c\=d＼,kind=water\ level x\ y=1e-07 1773536400123` + "\n"},
		{"no kind goes to telemetry; empty area codes left out",
			stream.Event{Entity: "d", Type: stream.TypeTelemetry, Time: at, Values: map[string]float64{"v": -2.5},
				Areas: map[string]string{"commune": "", "device": "spoof"}},
			"telemetry,device=d v=-2.5 1773536400123\n"},
		{"camera: label tag, text as string fields with quotes and newlines escaped",
			stream.Event{Entity: "cam-1", Kind: "camera", Type: stream.TypeCamera, Time: at,
				Values: map[string]float64{"score": 0.5}, Attrs: map[string]string{"label": "person", "event_id": "e\"1\\", "zone": "a\nb"}},
			`camera_events,device=cam-1,kind=camera,label=person score=0.5,event_id="e\"1\\",zone="a b" 1773536400123` + "\n"},
		{"alarm: id as field, source as device tag",
			stream.Event{Entity: "alarm-9", Kind: "alarm", Type: stream.TypeAlarm, Time: at, Values: map[string]float64{},
				Attrs: map[string]string{"rule": "r1", "severity": "high", "state": "active", "source": "sal-1", "action": "raise"}},
			`alarms,action=raise,device=sal-1,kind=alarm,rule=r1,severity=high,state=active alarm_id="alarm-9" 1773536400123` + "\n"},
		{"telemetry without values writes nothing",
			stream.Event{Entity: "d", Kind: "rain", Type: stream.TypeTelemetry, Time: at, Attrs: map[string]string{"status": "ok"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("x\n")
			got, ok := appendPoint(prefix, &tt.ev)
			if ok != (tt.want != "") || string(got) != "x\n"+tt.want {
				t.Errorf("got %q (%v), want %q", got[len(prefix):], ok, tt.want)
			}
		})
	}
}
