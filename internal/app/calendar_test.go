package app

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

// TestDailyWindowsAreLocalDays: every=1d groups by calendar day in Asia/Ho_Chi_Minh. Readings at 06:00
// and 08:00 local of one day lie on two UTC days; windows aligned to the Unix epoch ran 07:00–07:00 local
// and split them.
func TestDailyWindowsAreLocalDays(t *testing.T) {
	a := startApp(t, testConfig(t))
	vn := time.FixedZone("Asia/Ho_Chi_Minh", 7*3600)
	now := time.Now().In(vn)
	day := time.Date(now.Year(), now.Month(), now.Day()-1, 0, 0, 0, 0, vn) // yesterday, local
	pub := publisher(t, a.Broker.URL(), "calendar-publisher")
	for _, h := range []int{6, 8} {
		publish(t, pub, "ioc/devices/cal-1/telemetry", fmt.Sprintf(`{"ts":%d,"values":{"rain_mm":%d}}`, day.Add(time.Duration(h)*time.Hour).UnixMilli(), h))
	}
	q := url.Values{"device": {"cal-1"}, "field": {"rain_mm"}, "from": {day.Add(-24 * time.Hour).Format(time.RFC3339)},
		"to": {day.Add(48 * time.Hour).Format(time.RFC3339)}, "every": {"1d"}, "agg": {"count"}}
	var r readingsResp
	waitFor(t, 10*time.Second, "both readings stored", func() bool {
		raw := readings(t, a.HTTP.Addr(), "cal-1", "rain_mm", day, day.Add(24*time.Hour))
		return len(raw.Samples) == 2
	})
	if code := getJSON(t, "http://"+a.HTTP.Addr()+"/api/v1/readings?"+q.Encode(), &r); code != 200 {
		t.Fatalf("status %d", code)
	}
	if len(r.Samples) != 1 || r.Samples[0].Value != 2 || r.Samples[0].TS != day.Format(time.RFC3339) {
		t.Fatalf("every=1d: %+v, want one window %s with both readings", r.Samples, day.Format(time.RFC3339))
	}
}
