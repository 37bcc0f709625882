package report

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/report/photo"
	"github.com/ioc-vn/ioc/internal/report/reporttest"
	"go.yaml.in/yaml/v3"
)

const durabilityEnv = "REPORT_DURABILITY_DB"

// TestMain turns the test binary into a tiny report server when durabilityEnv is set, so
// TestDurability can kill -9 it.
func TestMain(m *testing.M) {
	if path := os.Getenv(durabilityEnv); path != "" {
		if err := serveForDurability(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

func serveForDurability(path string) error {
	st, err := OpenStore(context.Background(), StoreConfig{Driver: DriverSQLite, Path: path})
	if err != nil {
		return err
	}
	cfg := Defaults()
	cfg.BotCheck = "off"
	cfg.Calendar.Holidays = "../../configs/holidays-vn.yaml"
	cat, err := LoadCatalogue("../../configs/services.yaml")
	if err != nil {
		return err
	}
	svc, err := New(cfg, Deps{Store: st, Catalogue: cat, Locate: reporttest.Locate,
		Photos: &photo.Store{Blobs: &photo.Disk{Dir: filepath.Dir(path)}, Limits: photo.DefaultLimits()}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	mux := http.NewServeMux()
	svc.Register(mux)
	return http.Serve(ln, mux)
}

func TestDurability(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reports.db")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), durabilityEnv+"="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		addr, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("server did not start: %v", err)
		}
		ct, body := multipartBody(t, map[string]string{"device_id": fmt.Sprintf("kill-%d", i)})
		res, err := http.Post("http://"+strings.TrimSpace(addr)+"/api/v1/reports", ct, body)
		if err != nil {
			cmd.Process.Kill()
			t.Fatal(err)
		}
		var got submitted
		if res.StatusCode != http.StatusCreated {
			cmd.Process.Kill()
			t.Fatalf("POST: %d", res.StatusCode)
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL right after the 201
			t.Fatal(err)
		}
		var buf strings.Builder
		if _, err := fmt.Fprint(&buf, readAll(t, res)); err != nil {
			t.Fatal(err)
		}
		mustJSONDecode(t, buf.String(), &got)
		cmd.Wait()

		st, err := OpenStore(t.Context(), StoreConfig{Driver: DriverSQLite, Path: path})
		if err != nil {
			t.Fatal(err)
		}
		r, err := st.ByCode(t.Context(), got.Code)
		st.Close()
		if err != nil || r.ID != got.ID || r.Contact.DeviceID != fmt.Sprintf("kill-%d", i) {
			t.Fatalf("round %d: report %s lost after kill -9: %v", i, got.Code, err)
		}
	}
}

func readAll(t *testing.T, res *http.Response) string {
	defer res.Body.Close()
	var sb strings.Builder
	if _, err := bufio.NewReader(res.Body).WriteTo(&sb); err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

func TestPhotoUploads(t *testing.T) {
	e := newEnv(t, DriverSQLite, func(c *Config) { c.RateIP.Burst = 100; c.RateDevice.Burst = 100 })
	for _, tc := range []struct {
		name   string
		files  []upload
		status int
	}{
		{"oversized", []upload{{"big.jpg", append(testJPEG(t, 8, 8), make([]byte, 1<<20)...)}}, 413},
		{"text renamed .jpg", []upload{{"photo.jpg", []byte("MZ\x90\x00 this is an executable, not a photo")}}, 415},
		{"six photos", []upload{{"1.jpg", testJPEG(t, 8, 8)}, {"2.jpg", testJPEG(t, 8, 8)}, {"3.jpg", testJPEG(t, 8, 8)},
			{"4.jpg", testJPEG(t, 8, 8)}, {"5.jpg", testJPEG(t, 8, 8)}, {"6.jpg", testJPEG(t, 8, 8)}}, 400},
		{"two photos", []upload{{"1.png.jpg", testJPEG(t, 800, 600)}, {"x", testJPEG(t, 8, 8)}}, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, s := e.submit(nil, nil, tc.files...)
			if r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, tc.status)
			}
			if tc.status != 201 {
				return
			}
			rep, _, err := e.svc.Track(t.Context(), s.Code)
			if err != nil || len(rep.Photos) != 2 {
				t.Fatalf("photos not attached: %v %+v", err, rep.Photos)
			}
			for _, suffix := range []string{"", "/thumb"} {
				p := e.operator("GET", "/api/v1/reports/photos/"+rep.Photos[0]+suffix, "") // not public yet: staff only
				if p.status != 200 || p.header.Get("Content-Type") != "image/jpeg" {
					t.Fatalf("photo%s: %d", suffix, p.status)
				}
			}
			if p := e.get("/api/v1/reports/photos/0123"); p.status != 404 {
				t.Fatalf("unknown photo: %d", p.status)
			}
		})
	}
}

func TestKPI(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, func(c *Config) { c.RateIP.Burst = 100; c.RateDevice.Burst = 100 })
			resolveAfter := func(cat, lon string, d time.Duration) {
				fields := map[string]string{"category": cat, "lon": lon}
				if cat != "RAC_THAI" {
					fields["attribute[volume]"] = ""
				}
				_, s := e.submit(fields, nil)
				e.clock.Advance(d)
				for _, to := range []string{"triaged", "assigned", "in_progress", "resolved"} {
					if _, err := e.svc.Transition(t.Context(), s.ID, "op", Move{To: Status(to)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Deadlines count working time (Mon–Fri 07:30–11:30, 13:30–17:00 +07:00): garbage is a
			// normal report (37.5 working hours), flooding an urgent one (4 working hours).
			resolveAfter("RAC_THAI", "106.3759", 10*time.Hour)  // 829, Tue 10 Jun 15:00 → Wed 01:00: 2 working hours, within
			resolveAfter("RAC_THAI", "106.3759", 200*time.Hour) // 829, → Thu 19 Jun 09:00: 6 working days, late
			// 831, Thu 09:00 → 13:30: 4.5 wall-clock hours but 2.5 working hours, within the 4 h
			resolveAfter("NGAP_NUOC", "106.30", 4*time.Hour+30*time.Minute)
			e.submit(map[string]string{"category": "NGAP_NUOC", "attribute[volume]": "", "lon": "106.30"}, nil) // backlog
			e.clock.Advance(30 * time.Hour)                                                                     // … and overdue (11 working hours)
			from, to := testStart, e.clock.Now().Add(time.Hour)

			r := e.operator("GET", "/api/v1/reports/kpi?from="+from.Format(time.RFC3339)+"&to="+to.Format(time.RFC3339), "")
			var total []KPIRow
			mustJSONDecode(t, r.body, &total)
			want := KPIRow{Received: 4, Resolved: 3, Backlog: 1, Overdue: 1, WithinSLAPct: 200.0 / 3, MedianHours: 10}
			if len(total) != 1 || total[0] != want {
				t.Fatalf("total: %s, want %+v", r.body, want)
			}
			// Several areas: their union, each report once (province 83 holds the district 829 ones too).
			for _, areas := range []string{"&area=829&area=831", "&area=829&area=83"} {
				r = e.operator("GET", "/api/v1/reports/kpi?from="+from.Format(time.RFC3339)+"&to="+to.Format(time.RFC3339)+areas, "")
				var union []KPIRow
				mustJSONDecode(t, r.body, &union)
				if len(union) != 1 || union[0] != want {
					t.Errorf("kpi of %s: %s, want the total %+v", areas, r.body, want)
				}
			}
			byArea, err := e.svc.KPI(t.Context(), from, to, ByArea)
			if err != nil || len(byArea) != 2 || byArea[0].Key != "829" || byArea[0].Resolved != 2 || byArea[0].WithinSLAPct != 50 ||
				byArea[0].MedianHours != 105 || byArea[1].Key != "831" || byArea[1].Backlog != 1 {
				t.Fatalf("by area: %+v %v", byArea, err)
			}
			byCat, err := e.svc.KPI(t.Context(), from, to, ByCategory)
			if err != nil || len(byCat) != 2 || byCat[0].Key != "NGAP_NUOC" || byCat[0].Received != 2 {
				t.Fatalf("by category: %+v %v", byCat, err)
			}
		})
	}
}

// TestListAreas: the operator list with several area= lists the reports in any of them, none
// elsewhere, and pages over those only.
func TestListAreas(t *testing.T) {
	for _, drv := range drivers {
		t.Run(drv, func(t *testing.T) {
			e := newEnv(t, drv, func(c *Config) { c.RateIP.Burst = 100; c.RateDevice.Burst = 100 })
			ids := map[string]int64{} // district → report id
			for _, p := range []struct{ district, lon string }{{"831", "106.30"}, {"829", "106.3759"}, {"834", "106.50"}} {
				r, s := e.submit(map[string]string{"lon": p.lon}, nil)
				if r.status != http.StatusCreated {
					t.Fatalf("submit in %s: %d %s", p.district, r.status, r.body)
				}
				ids[p.district] = s.ID
				e.clock.Advance(time.Minute)
			}
			for _, tc := range []struct {
				name, query string
				want        []string // districts, newest first
			}{
				{"one area", "area=829", []string{"829"}},
				{"two areas", "area=831&area=834", []string{"834", "831"}},
				{"two areas, empty value ignored", "area=&area=829&area=831", []string{"829", "831"}},
				{"two areas, one page", "area=831&area=834&page_size=1", []string{"834"}},
				{"two areas, second page", "area=831&area=834&page_size=1&page=2", []string{"831"}},
				{"province", "area=83", []string{"834", "829", "831"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					r := e.operator("GET", "/api/v1/reports?"+tc.query, "")
					var got []Report
					mustJSONDecode(t, r.body, &got)
					var want []int64
					for _, d := range tc.want {
						want = append(want, ids[d])
					}
					var gotIDs []int64
					for _, rep := range got {
						gotIDs = append(gotIDs, rep.ID)
					}
					if r.status != http.StatusOK || fmt.Sprint(gotIDs) != fmt.Sprint(want) {
						t.Errorf("%d: reports %v, want %v (%s)", r.status, gotIDs, want, tc.want)
					}
				})
			}
			if r := e.operator("GET", "/api/v1/reports?area=829&area=8%2529", ""); r.status != http.StatusBadRequest {
				t.Errorf("bad second area code: %d %s, want 400", r.status, r.body)
			}
		})
	}
}

func TestCatalogueValidate(t *testing.T) {
	good, err := LoadCatalogue("../../configs/services.yaml")
	if err != nil || len(good.Services) != 6 {
		t.Fatalf("shipped catalogue: %v", err)
	}
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"empty", `services: []`, []string{"services: at least one service is required"}},
		{"many problems", `
services:
  - code: A
    name: x
    group: g
    sla: -1h
    units: {"829": u}
    attributes:
      - {code: c, datatype: singlevaluelist, description: d}
      - {code: c, datatype: blob, description: d}
  - {code: A, name: "", group: g, sla: 1h, units: {default: u}}`, []string{
			"services[0] (A): sla: must not be negative",
			`services[0] (A): units: a "default" unit is required`,
			"services[0] (A): attributes[0] (c): values: required for singlevaluelist",
			"services[0] (A): attributes[1] (c): code: duplicate",
			"services[0] (A): attributes[1] (c): datatype: must be one of",
			"services[1] (A): code: duplicate",
			"services[1] (A): name: required",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Catalogue
			if err := yaml.Unmarshal([]byte(tc.yaml), &c); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	def := Defaults()
	if err := def.Validate(); err == nil || !strings.Contains(err.Error(), "form_secret") {
		t.Fatalf("defaults without a form secret must fail on form_secret: %v", err)
	}
	def.FormSecret = strings.Repeat("k", 32)
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults with a secret: %v", err)
	}
	bad := def
	bad.Store = StoreConfig{Driver: "mysql"}
	bad.CodePrefix = "bt"
	bad.RateIP.Burst = 0
	bad.BotCheck = "maybe"
	bad.Timezone = "Mars/Olympus"
	bad.PhotoDecode = PhotoDecodeConfig{MaxBytes: 1 << 20}
	bad.MaxUploadMemory = 1 << 20
	err := bad.Validate()
	for _, w := range []string{"store.driver: must be sqlite or postgres", "code_prefix:", "rate_ip.burst:", "bot_check: must be on or off", "timezone: unknown zone",
		"photo_decode.max_bytes:", "photo_decode.max_concurrent:", "photo_decode.wait:", "max_upload_memory:"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
}
