package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/report"
)

// TestReportReachesTheOperatorMap: a citizen files a report through the running ioc; it shows up on the
// live feed as a report entity at its place, without contact data, and is stored as an event; Open311
// clients see it too.
func TestReportReachesTheOperatorMap(t *testing.T) {
	cfg := testConfig(t)
	cfg.Reports.MinFillTime = 0
	a := startApp(t, cfg)
	base := "http://" + a.HTTP.Addr()
	live := dialLive(t, a.HTTP.Addr())

	var tok struct{ Token string }
	if code := getJSON(t, base+"/api/v1/reports/form-token", &tok); code != 200 || tok.Token == "" {
		t.Fatalf("form token: %d %+v", code, tok)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"category": "NGAP_NUOC", "description": "Đường Đồng Khởi ngập sâu 30 cm sau mưa",
		"lon": "106.3759", "lat": "10.2415", "name": "Nguyễn Văn A", "phone": "0909123456", "form_token": tok.Token} {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/reports", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Idempotency-Key", "e2e-report-0001")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var created struct {
		ID   int64
		Code string
	}
	if err := json.Unmarshal(raw, &created); err != nil || resp.StatusCode != http.StatusCreated || created.ID == 0 || created.Code == "" {
		t.Fatalf("submit: %d %s", resp.StatusCode, raw)
	}

	timeout := time.After(10 * time.Second)
wait:
	for {
		select {
		case f := <-live.items:
			for _, it := range f.Items {
				if it.Type == "report" && it.ID == report.EntityID(created.ID) {
					if it.Location == nil || *it.Location != [2]float64{106.3759, 10.2415} {
						t.Errorf("report location %v", it.Location)
					}
					raw, _ := json.Marshal(it)
					for _, secret := range []string{"0909123456", "Nguyễn Văn A"} {
						if strings.Contains(string(raw), secret) {
							t.Errorf("live report carries contact data %q: %s", secret, raw)
						}
					}
					break wait
				}
			}
		case <-timeout:
			t.Fatal("report never reached the live feed")
		}
	}
	var events struct {
		Count int `json:"count"`
	}
	waitFor(t, 5*time.Second, "report event stored", func() bool {
		getJSON(t, base+"/api/v1/events?"+url.Values{"type": {"report"}, "entity": {report.EntityID(created.ID)}}.Encode(), &events)
		return events.Count > 0
	})
	var reqs []map[string]any
	if code := getJSON(t, base+"/open311/v2/requests/"+fmt.Sprint(created.ID)+".json", &reqs); code != 200 || len(reqs) != 1 {
		t.Fatalf("open311 request: %d %v", code, reqs)
	}
}
