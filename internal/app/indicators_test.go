package app

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/briefing"
	"github.com/ioc-vn/ioc/internal/indicator"
)

// TestIndicatorsServed: with the shipped definitions, a salinity reading published over MQTT is in
// today's salinity_max of its district after a recompute requested through the API, with the
// boundary set in its lineage.
func TestIndicatorsServed(t *testing.T) {
	cfg := testConfig(t)
	cfg.Indicators.File = filepath.Join("..", "..", "configs", "indicators.yaml")
	a := startApp(t, cfg)
	base := "http://" + a.HTTP.Addr()
	c := publisher(t, a.Broker.URL(), "indicator-pub")
	publish(t, c, "ioc/devices/sal-ind/telemetry", `{"ts":`+ms(time.Now())+`,"values":{"salinity":3.75,"lat":10.2415,"lon":106.3759}}`)
	live := dialLive(t, a.HTTP.Addr())
	live.waitItem(t, "sal-ind", "salinity", 3.75)
	waitFor(t, 10*time.Second, "the reading stored", func() bool {
		now := time.Now()
		return len(readings(t, a.HTTP.Addr(), "sal-ind", "salinity", now.Add(-time.Hour), now.Add(time.Minute)).Samples) == 1
	})

	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/indicators/recompute?indicator=salinity_max&periods=1", nil)
	req.Header = authHeader()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("recompute: %d %s", resp.StatusCode, raw)
	}
	var ex indicator.Export
	if code := getJSON(t, base+"/api/v1/indicators/values?indicator=salinity_max&format=json", &ex); code != http.StatusOK {
		t.Fatalf("values: %d", code)
	}
	found := false
	for _, v := range ex.Values {
		if v.Value != nil && *v.Value == 3.75 && v.Level == "district" {
			found = true
			if !strings.HasPrefix(v.Lineage.Boundary, "83.geojson@sha256:") || v.Lineage.Inputs["devices"] != 1 {
				t.Errorf("lineage: %+v", v.Lineage)
			}
		}
	}
	if !found {
		out, _ := json.Marshal(ex.Values)
		t.Fatalf("no district value 3.75 in %s", out)
	}
}

// TestDailyReportOnDemand: the desk asks for the daily province report; it is archived, listed,
// downloadable, and its message lands in the outbox (no SMTP configured).
func TestDailyReportOnDemand(t *testing.T) {
	cfg := testConfig(t)
	cfg.Indicators.File = filepath.Join("..", "..", "configs", "indicators.yaml")
	cfg.Briefings.Schedules = []briefing.Schedule{{Name: "province-daily", Kind: briefing.Daily, Recipients: []string{"lanhdao@bentre.gov.vn"}}}
	a := startApp(t, cfg)
	base := "http://" + a.HTTP.Addr()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/briefings/run?schedule=province-daily", nil)
	req.Header = authHeader()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var run struct{ Reports []briefing.Report }
	err = json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(run.Reports) != 1 || run.Reports[0].Area != "83" {
		t.Fatalf("run: %d %v %+v", resp.StatusCode, err, run)
	}
	outbox := filepath.Join(filepath.Dir(cfg.Store.Path), "outbox")
	waitFor(t, 10*time.Second, "the report in the outbox", func() bool {
		emls, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
		return len(emls) == 1
	})
	var list struct{ Reports []briefing.Report }
	if code := getJSON(t, base+"/api/v1/briefings", &list); code != http.StatusOK || len(list.Reports) != 1 {
		t.Fatalf("list: %d %+v", code, list)
	}
	r := list.Reports[0]
	resp, err = api.Get(base + "/api/v1/briefings/" + r.ID + "/" + r.Files[0])
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(raw), "%PDF-") {
		t.Fatalf("download %s: %d", r.Files[0], resp.StatusCode)
	}
}
