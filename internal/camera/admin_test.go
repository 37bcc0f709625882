package camera

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLivenessTransitions(t *testing.T) {
	now := t0
	r, err := NewRegistry(cams(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	l := &Liveness{Cams: r, After: 5 * time.Minute, Every: time.Second, Source: "liveness"}
	offline := map[string]bool{}
	step := func(name string, at time.Duration, heard []Identity, want map[string]string) {
		t.Helper()
		now = t0.Add(at)
		if len(heard) > 0 {
			r.Heard(heard...)
		}
		evs := l.Check(offline)
		got := map[string]string{}
		for _, ev := range evs {
			got[ev.Entity] = ev.Attrs["liveness"]
			if !ev.HasLocation || ev.Type != "camera" || !ev.Time.Equal(now) {
				t.Errorf("%s: event %+v lacks place, type or time", name, ev)
			}
			offline[ev.Entity] = ev.Attrs["liveness"] == LivenessOffline
		}
		if len(got) != len(want) {
			t.Fatalf("%s: transitions %v, want %v", name, got, want)
		}
		for id, s := range want {
			if got[id] != s {
				t.Fatalf("%s: transitions %v, want %v", name, got, want)
			}
		}
	}
	step("fresh cameras are not offline", 4*time.Minute, nil, nil)
	step("a heartbeat keeps cam-a alive", 4*time.Minute, []Identity{FrigateID("front")}, nil)
	step("silent cameras go offline once", 6*time.Minute, nil, map[string]string{"cam-b": LivenessOffline, "cam-c": LivenessOffline})
	step("no repeat while still offline", 7*time.Minute, nil, nil)
	step("cam-a goes offline after its own silence", 9*time.Minute+time.Second, nil, map[string]string{"cam-a": LivenessOffline})
	step("heard again: online", 10*time.Minute, HikvisionIDs("44:19:b6:00:00:01", "", 2), map[string]string{"cam-b": LivenessOnline})
}

func newAdmin(t *testing.T, file string, onAdd func(Config)) (*Admin, *Registry, *httptest.Server) {
	t.Helper()
	r, err := NewRegistry(cams()[:1], nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAdmin(r, file, 5*time.Minute, onAdd, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return a, r, srv
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestAdminAPI(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cameras.json")
	var mapped []string
	_, r, srv := newAdmin(t, file, func(c Config) { mapped = append(mapped, c.ID) })
	newCam := `{"id":"cam-cho","name":"Chợ Bến Tre","location":[106.3755,10.2398],"heading":45,"fov":90,"source":{"kind":"frigate","name":"cho"}}`
	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{name: "add", method: "POST", path: "/api/v1/cameras", body: newCam, status: 201, contains: `"cam-cho"`},
		{name: "add again", method: "POST", path: "/api/v1/cameras", body: newCam, status: 409, contains: "already registered"},
		{name: "taken identity", method: "POST", path: "/api/v1/cameras", body: `{"id":"cam-x","location":[106.3,10.2],"source":{"kind":"frigate","name":"front"}}`, status: 409, contains: "belongs to cam-a"},
		{name: "bad location", method: "POST", path: "/api/v1/cameras", body: `{"id":"cam-y","location":[206.3,10.2],"source":{"kind":"frigate","name":"y"}}`, status: 400, contains: "location"},
		{name: "unknown field", method: "POST", path: "/api/v1/cameras", body: `{"id":"cam-z","locaton":[106.3,10.2]}`, status: 400, contains: "locaton"},
		{name: "not json", method: "POST", path: "/api/v1/cameras", body: `<camera/>`, status: 400, contains: "error"},
		{name: "list", method: "GET", path: "/api/v1/cameras", status: 200, contains: `"origin":"admin"`},
		{name: "remove config camera", method: "DELETE", path: "/api/v1/cameras/cam-a", status: 409, contains: "configuration file"},
		{name: "remove unknown", method: "DELETE", path: "/api/v1/cameras/cam-none", status: 404, contains: "cam-none"},
		{name: "unregistered", method: "GET", path: "/api/v1/cameras/unregistered", status: 200, contains: `"count":0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, tc.method, srv.URL+tc.path, tc.body)
			if status != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("%s %s: %d %s, want %d containing %q", tc.method, tc.path, status, body, tc.status, tc.contains)
			}
		})
	}
	if len(mapped) != 1 || mapped[0] != "cam-cho" {
		t.Errorf("map entities added: %v", mapped)
	}
	if _, ok := r.LastHeard("cam-cho"); !ok {
		t.Fatal("added camera not in the registry")
	}

	// A restart registers the added camera again from the file; a removal is kept too.
	_, r2, srv2 := newAdmin(t, file, nil)
	if _, ok := r2.LastHeard("cam-cho"); !ok {
		t.Fatal("camera added through the API lost at restart")
	}
	var list struct {
		Count   int      `json:"count"`
		Cameras []Status `json:"cameras"`
	}
	_, body := do(t, "GET", srv2.URL+"/api/v1/cameras", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || list.Count != 2 {
		t.Fatalf("list after restart: %v %s", err, body)
	}
	if status, body := do(t, "DELETE", srv2.URL+"/api/v1/cameras/cam-cho", ""); status != 204 {
		t.Fatalf("delete: %d %s", status, body)
	}
	_, r3, _ := newAdmin(t, file, nil)
	if _, ok := r3.LastHeard("cam-cho"); ok {
		t.Fatal("removed camera came back at restart")
	}
}

// TestAdminListScoped: with a scope, a caller lists only the cameras their filter lets through and
// no unregistered sources; a caller without a filter lists every camera and unknown source.
func TestAdminListScoped(t *testing.T) {
	a, r, srv := newAdmin(t, filepath.Join(t.TempDir(), "cameras.json"), nil)
	for _, c := range cams()[1:] {
		if err := r.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	r.Resolve("frigate", "frigate:unknown", t0, FrigateID("unknown"))
	// The X-Cameras header names the cameras a scoped test caller may see.
	a.SetScope(func(req *http.Request) func(Config) bool {
		if ids := req.Header.Get("X-Cameras"); ids != "" {
			return func(c Config) bool { return strings.Contains(ids, c.ID) }
		}
		return nil
	})
	tests := []struct {
		name, path, scope string
		want              string // the ids or sources listed, comma-separated
	}{
		{"unscoped list", "/api/v1/cameras", "", "cam-a,cam-b,cam-c"},
		{"scoped list", "/api/v1/cameras", "cam-b", "cam-b"},
		{"scope with no camera", "/api/v1/cameras", "cam-none", ""},
		{"unscoped unregistered", "/api/v1/cameras/unregistered", "", "frigate:unknown"},
		{"scoped unregistered", "/api/v1/cameras/unregistered", "cam-b", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Cameras", tc.scope)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct {
				Count   int
				Cameras []Status
				Sources []string
			}
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
				t.Fatalf("%d, %v", res.StatusCode, err)
			}
			got := body.Sources
			for _, c := range body.Cameras {
				got = append(got, c.ID)
			}
			slices.Sort(got)
			if strings.Join(got, ",") != tc.want || body.Count != len(got) {
				t.Errorf("listed %v (count %d), want %q", got, body.Count, tc.want)
			}
		})
	}
}
