package alarm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHTTPOperatorActions(t *testing.T) {
	clock := &fakeClock{t: t0}
	e := newEngine(t, testConfig(salinityRule), sqliteStore(t), clock)
	r := start(t, e)
	process(t, e, tele("sal-1", "salinity", 0, "salinity", 5))
	id := r.next(t).Entity

	srv := httptest.NewServer(NewHandler(e, func(r *http.Request) string { return r.Header.Get("X-User") }, nil))
	defer srv.Close()
	call := func(method, path, user, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if user != "" {
			req.Header.Set("X-User", user)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	errMsg := func(out map[string]any) string {
		if e, ok := out["error"].(map[string]any); ok {
			return e["code"].(string) + ": " + e["message"].(string)
		}
		return ""
	}
	tests := []struct {
		name, method, path, user, body string
		status                         int
		want                           string // substring of the error message, or of the JSON answer
	}{
		{"list open", "GET", "/api/v1/alarms?state=open&area=829", "", "", 200, id},
		{"list bad severity", "GET", "/api/v1/alarms?severity=huge", "", "", 400, "severity"},
		{"get with history", "GET", "/api/v1/alarms/" + id, "", "", 200, `"action":"raise"`},
		{"get unknown", "GET", "/api/v1/alarms/alm_nope", "", "", 404, "not_found"},
		{"ack needs an actor", "POST", "/api/v1/alarms/" + id + "/ack", "", `{}`, 401, "unauthorized"},
		{"assign needs assignee", "POST", "/api/v1/alarms/" + id + "/assign", "lan", `{}`, 400, "assignee"},
		{"assign", "POST", "/api/v1/alarms/" + id + "/assign", "lan", `{"assignee":"tuan","note":"gần nhất"}`, 200, `"assignee":"tuan"`},
		{"ack", "POST", "/api/v1/alarms/" + id + "/ack", "tuan", `{"note":"đang tới"}`, 200, `"state":"active_ack"`},
		{"ack again", "POST", "/api/v1/alarms/" + id + "/ack", "tuan", ``, 409, "already acknowledged"},
		{"comment", "POST", "/api/v1/alarms/" + id + "/comment", "tuan", `{"text":"đóng cống số 3"}`, 200, id},
		{"unknown field in body", "POST", "/api/v1/alarms/" + id + "/comment", "tuan", `{"txt":"x"}`, 400, "invalid JSON"},
		{"clear", "POST", "/api/v1/alarms/" + id + "/clear", "tuan", `{"note":"xong"}`, 200, `"state":"cleared_ack"`},
		{"clear again", "POST", "/api/v1/alarms/" + id + "/clear", "tuan", `{}`, 409, "already cleared"},
		{"assign cleared", "POST", "/api/v1/alarms/" + id + "/assign", "lan", `{"assignee":"x"}`, 409, "already cleared"},
		{"action on unknown", "POST", "/api/v1/alarms/alm_nope/ack", "lan", `{}`, 404, "not_found"},
		{"unknown action", "POST", "/api/v1/alarms/" + id + "/snooze", "lan", `{}`, 404, "unknown action"},
		{"kpi by district", "GET", "/api/v1/alarms/kpi?by=district&from=2026-03-10T00:00:00%2B07:00&to=2026-03-11T00:00:00%2B07:00", "", "", 200, `"mean_time_to_ack_s":480,"mean_time_to_clear_s":720`},
		{"list with a wildcard for an area", "GET", "/api/v1/alarms?state=open&area=8%25", "", "", 400, "invalid area code"},
		{"kpi with a wildcard for an area", "GET", "/api/v1/alarms/kpi?area=_", "", "", 400, "invalid area code"},

		{"rules list has config rule", "GET", "/api/v1/alarm-rules", "", "", 200, `"origin":"config"`},
		{"create rule", "POST", "/api/v1/alarm-rules", "lan", `{"id":"pm","name":"Bụi mịn","severity":"minor","when":{"threshold":{"field":"pm25","op":">","value":55,"for":"15m"}}}`, 201, `"for":"15m0s"`},
		{"create duplicate", "POST", "/api/v1/alarm-rules", "lan", `{"id":"pm","severity":"minor","when":{"threshold":{"field":"pm25","op":">","value":55}}}`, 409, "already exists"},
		{"invalid rule lists every reason", "PUT", "/api/v1/alarm-rules/bad", "lan", `{"severity":"loud","when":{"threshold":{"field":"pm52","op":">","value":55,"clear":60,"for":"-1m"}}}`, 400,
			`severity: must be one of`},
		{"cyclic rule", "PUT", "/api/v1/alarm-rules/loop", "lan", `{"severity":"minor","when":{"any":[{"rule":"loop"}]}}`, 400, "cyclic rule reference"},
		{"bad duration", "PUT", "/api/v1/alarm-rules/d", "lan", `{"severity":"minor","when":{"offline":{"after":"ten minutes"}}}`, 400, "invalid duration"},
		{"config rule is read-only", "PUT", "/api/v1/alarm-rules/sal", "lan", `{"severity":"minor","when":{"threshold":{"field":"salinity","op":">","value":5}}}`, 409, "configuration file"},
		{"validate only", "POST", "/api/v1/alarm-rules/validate", "lan", `{"id":"v","severity":"minor","when":{"rate":{"field":"water_level","delta":0,"per":"1h"}}}`, 400, "delta: must not be zero"},
		{"replace rule", "PUT", "/api/v1/alarm-rules/pm", "lan", `{"severity":"major","when":{"threshold":{"field":"pm25","op":">","value":75}}}`, 200, `"severity":"major"`},
		{"get rule", "GET", "/api/v1/alarm-rules/pm", "", "", 200, `"value":75`},
		{"delete rule", "DELETE", "/api/v1/alarm-rules/pm", "lan", "", 204, ""},
		{"delete again", "DELETE", "/api/v1/alarm-rules/pm", "lan", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(clock.Now().Add(time.Minute))
			status, out := call(tt.method, tt.path, tt.user, tt.body)
			raw, _ := json.Marshal(out)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, raw)
			}
			text := errMsg(out)
			if text == "" {
				text = string(raw)
			}
			if !strings.Contains(text, tt.want) {
				t.Fatalf("answer %s\ndoes not contain %s", text, tt.want)
			}
		})
	}
	{
		const tt = "invalid rule lists every reason"
		_, out := call("PUT", "/api/v1/alarm-rules/bad", "lan", `{"severity":"loud","when":{"threshold":{"field":"pm52","op":">","value":55,"clear":60,"for":"-1m"}}}`)
		msg := errMsg(out)
		for _, w := range []string{"severity", `unknown field "pm52"`, "clear: 60 is above the threshold 55", "for: must not be negative"} {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q does not mention %q", tt, msg, w)
			}
		}
	}

	// Every action was announced to dashboards as a change event, in order.
	var actions []string
	for range 4 {
		actions = append(actions, r.next(t).Attrs["action"])
	}
	if got := strings.Join(actions, ","); got != "assign,ack,comment,clear" {
		t.Fatalf("change events %s, want assign,ack,comment,clear", got)
	}
	r.none(t)
	a, hist, err := e.Get(context.Background(), id)
	if err != nil || len(hist) != 5 || hist[2].Actor != "tuan" || a.AckedAt == nil {
		t.Fatalf("history %+v err %v", hist, err)
	}
}
