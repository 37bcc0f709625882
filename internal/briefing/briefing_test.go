package briefing_test

import (
	"context"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xuri/excelize/v2"

	"github.com/ioc-vn/ioc/geo"
	"github.com/ioc-vn/ioc/internal/briefing"
	"github.com/ioc-vn/ioc/internal/indicator/indicatortest"
)

var vn = indicatortest.VN

// fixture is the indicator test world with a briefing service on top.
type fixture struct {
	world *indicatortest.World
	svc   *briefing.Service
	cfg   briefing.Config
	reg   *prometheus.Registry
	waits chan time.Duration // backoff waits asked for by the delivery worker
}

func newFixture(t testing.TB, edit func(*briefing.Config), smtpSender bool) *fixture {
	t.Helper()
	w := indicatortest.NewWorld(t)
	dir := t.TempDir()
	cfg := briefing.Defaults()
	cfg.Archive, cfg.Outbox = filepath.Join(dir, "archive"), filepath.Join(dir, "outbox")
	cfg.Schedules = []briefing.Schedule{{Name: "province-daily", Kind: briefing.Daily, Recipients: []string{"Chủ tịch <chutich@bentre.gov.vn>"},
		Trend: "salinity_max"}}
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate("briefings", nil); err != nil {
		t.Fatal(err)
	}
	f := &fixture{world: w, cfg: cfg, reg: prometheus.NewRegistry(), waits: make(chan time.Duration, 100)}
	var sender briefing.Sender // the outbox
	if smtpSender {
		s, err := briefing.NewSMTPSender(cfg.SMTP)
		if err != nil {
			t.Fatal(err)
		}
		sender = s
	}
	ind := w.Service(t)
	f.svc = briefing.New(cfg, briefing.Deps{Indicators: ind, Areas: func() *geo.Areas { return w.Areas }, Sender: sender,
		Location: vn, Now: func() time.Time { return w.Now }, Registerer: f.reg,
		Wait: func(ctx context.Context, d time.Duration) bool { f.waits <- d; return ctx.Err() == nil }})
	return f
}

// run starts the service (delivery worker and schedules) until the test ends.
func (f *fixture) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// waitStatus polls the archive until the report's delivery reaches status.
func (f *fixture) waitStatus(t *testing.T, id, status string) briefing.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := f.svc.Archive(100)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list {
			if r.ID == id && len(r.Delivery) > 0 && r.Delivery[0].Status == status {
				return r.Delivery[0]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("report %s never reached delivery status %q: %+v", id, status, list)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

func TestProducePDF(t *testing.T) {
	for _, tool := range []string{"pdftoppm", "pdftotext"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (poppler-utils, installed by .ci/deps) is needed: %v", tool, err)
		}
	}
	f := newFixture(t, nil, false)
	rs, err := f.svc.Produce(context.Background(), "province-daily")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Area != "83" || rs[0].Period != "2026-03-10" {
		t.Fatalf("reports: %+v", rs)
	}
	pdf := filepath.Join(f.cfg.Archive, rs[0].ID, "bao-cao-83-2026-03-10.pdf")
	out, err := exec.Command("pdftotext", "-layout", pdf, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v: %s", err, out)
	}
	text := string(out)
	for _, want := range []string{"BÁO CÁO NGÀY", "Tỉnh Bến Tre", "Tỉ lệ phản ánh xử lý đúng hạn", "50,0", "Không đạt",
		"Độ mặn cao nhất", "6,1", "Số giờ PM2.5 vượt 50 µg/m³", "Thời gian xác nhận cảnh báo", "Xu hướng", "10/03"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q:\n%s", want, text)
		}
	}
	prefix := filepath.Join(t.TempDir(), "page")
	if out, err := exec.Command("pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", pdf, prefix).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, out)
	}
	pages, _ := filepath.Glob(prefix + "*.png")
	if len(pages) != 1 {
		t.Fatalf("pages rendered: %v", pages)
	}
	img := decodePNG(t, pages[0])
	var dark, coloured, total int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			total++
			if r < 0x8000 && g < 0x8000 && bl < 0x8000 {
				dark++
			}
			if r > 0xe000 && g < 0xd800 && bl < 0xd800 { // the red status fill (255, 199, 206)
				coloured++
			}
		}
	}
	if dark < total/200 || coloured == 0 {
		t.Fatalf("page looks blank or colourless: %d dark and %d red pixels of %d", dark, coloured, total)
	}

	x, err := excelize.OpenFile(filepath.Join(f.cfg.Archive, rs[0].ID, "bao-cao-83-2026-03-10.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got := x.GetSheetList(); len(got) != 2 || got[0] != "Chỉ tiêu" || got[1] != briefing.TrendSheet {
		t.Fatalf("sheets %v", got)
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestNumber(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		d    int
		want string
	}{{50, 1, "50,0"}, {1234567.891, 2, "1.234.567,89"}, {-4.25, 2, "-4,25"}, {999, 0, "999"}, {1000, 0, "1.000"}, {-0.001, 1, "0,0"}} {
		if got := briefing.Number(tc.v, tc.d); got != tc.want {
			t.Errorf("Number(%v, %d) = %q, want %q", tc.v, tc.d, got, tc.want)
		}
	}
}

func TestScheduleNext(t *testing.T) {
	at := func(m time.Month, d, h, min int) time.Time { return time.Date(2026, m, d, h, min, 0, 0, vn) }
	tests := []struct {
		name string
		s    briefing.Schedule
		from time.Time
		want time.Time
	}{
		{"daily before 17:00", briefing.Schedule{Kind: briefing.Daily}, at(3, 10, 16, 59), at(3, 10, 17, 0)},
		{"daily at 17:00 is the next day", briefing.Schedule{Kind: briefing.Daily}, at(3, 10, 17, 0), at(3, 11, 17, 0)},
		{"daily from UTC", briefing.Schedule{Kind: briefing.Daily, At: "07:30"}, time.Date(2026, 3, 10, 23, 0, 0, 0, time.UTC), at(3, 11, 7, 30)},
		{"weekly monday 08:00", briefing.Schedule{Kind: briefing.Weekly}, at(3, 10, 12, 0), at(3, 16, 8, 0)},
		{"weekly friday", briefing.Schedule{Kind: briefing.Weekly, Weekday: "friday", At: "16:00"}, at(3, 10, 12, 0), at(3, 13, 16, 0)},
		{"monthly on the 1st", briefing.Schedule{Kind: briefing.Monthly}, at(3, 10, 12, 0), at(4, 1, 8, 0)},
		{"monthly over the year end", briefing.Schedule{Kind: briefing.Monthly, Day: 5}, at(12, 6, 0, 0), time.Date(2027, 1, 5, 8, 0, 0, 0, vn)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Next(tc.from, vn); !got.Equal(tc.want) {
				t.Fatalf("Next(%s) = %s, want %s", tc.from, got, tc.want)
			}
		})
	}
	if s := briefing.SpanOf(briefing.Weekly, at(3, 16, 8, 0), vn); s.Key != "2026-W11" {
		t.Errorf("a weekly report on Monday 16 March covers %s, want the week before (2026-W11)", s.Key)
	}
	if s := briefing.SpanOf(briefing.Monthly, at(4, 1, 8, 0), vn); s.Key != "2026-03" {
		t.Errorf("a monthly report on 1 April covers %s, want 2026-03", s.Key)
	}
}

func TestValidate(t *testing.T) {
	c := briefing.Defaults()
	c.SMTP.Host, c.SMTP.TLS, c.SMTP.Username, c.SMTP.From = "mail.bentre.gov.vn", "none", "ioc", "not an address"
	c.Attempts = 0
	c.Schedules = []briefing.Schedule{
		{Name: "daily", Kind: "hourly", At: "25:00", Level: "hamlet", Recipients: []string{"chủ tịch"}},
		{Name: "daily", Kind: briefing.Weekly, Weekday: "funday", PerArea: map[string][]string{"829": {"@"}}, Trend: "nope"},
		{Name: "month", Kind: briefing.Monthly, Day: 31},
	}
	err := c.Validate("briefings", func(code string) bool { return code == "salinity_max" })
	for _, want := range []string{
		"briefings.attempts: must be between 1 and 50",
		"briefings.smtp.tls: none would send the password in clear",
		`briefings.smtp.from: "not an address" is not an address`,
		`briefings.schedules[0] (daily).kind: must be daily, weekly or monthly, not "hourly"`,
		`briefings.schedules[0] (daily).at: "25:00" is not a time of day HH:MM`,
		`briefings.schedules[0] (daily).level: unknown area level "hamlet"`,
		`briefings.schedules[0] (daily).recipients[0]: "chủ tịch" is not an address`,
		`briefings.schedules[1] (daily).name: duplicate schedule "daily"`,
		`briefings.schedules[1] (daily).weekday: "funday" is not a day of the week`,
		`briefings.schedules[1] (daily).per_area.829[0]: "@" is not an address`,
		`briefings.schedules[1] (daily).trend: unknown indicator "nope"`,
		"briefings.schedules[2] (month).day: must be between 1 and 28",
		"briefings.schedules[2] (month).recipients: must list at least one address",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// Without SMTP the message lands in the outbox; the archive lists the report and serves its files.
func TestOutboxAndArchive(t *testing.T) {
	f := newFixture(t, nil, false)
	f.run(t)
	mux := http.NewServeMux()
	f.svc.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/briefings/run?schedule=province-daily", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("run: %d %s", rec.Code, rec.Body)
	}
	list, err := f.svc.Archive(10)
	if err != nil || len(list) != 1 {
		t.Fatalf("archive: %v %v", list, err)
	}
	id := list[0].ID
	f.waitStatus(t, id, "sent")
	emls, _ := filepath.Glob(filepath.Join(f.cfg.Outbox, "*.eml"))
	if len(emls) != 1 {
		t.Fatalf("outbox holds %v", emls)
	}
	raw, err := os.ReadFile(emls[0])
	if err != nil || !strings.Contains(string(raw), "bao-cao-83-2026-03-10.pdf") {
		t.Fatalf("outbox message: %v", err)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/briefings", nil))
	if !strings.Contains(rec.Body.String(), `"id":"`+id+`"`) || !strings.Contains(rec.Body.String(), `"status":"sent"`) {
		t.Fatalf("list: %s", rec.Body)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/briefings/"+id+"/bao-cao-83-2026-03-10.pdf", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), "%PDF-") {
		t.Fatalf("download: %d", rec.Code)
	}
	for _, target := range []string{"/api/v1/briefings/" + id + "/report.json", "/api/v1/briefings/" + id + "/..%2f..%2fetc",
		"/api/v1/briefings/nope/x.pdf"} {
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", target, rec.Code)
		}
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/briefings/run?schedule=nope", nil))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("unknown schedule: %d", rec.Code)
	}
}

// A district schedule makes one report per district, each to the schedule's recipients and its own.
func TestPerAreaReports(t *testing.T) {
	f := newFixture(t, func(c *briefing.Config) {
		c.Schedules[0].Level = "district"
		c.Schedules[0].PerArea = map[string][]string{"829": {"ubnd.chauthanh@bentre.gov.vn"}}
	}, false)
	f.run(t)
	rs, err := f.svc.Produce(context.Background(), "province-daily")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Area != "829" || rs[1].Area != "831" || rs[0].AreaName != "Huyện Châu Thành" {
		t.Fatalf("reports %+v", rs)
	}
	for _, r := range rs {
		f.waitStatus(t, r.ID, "sent")
	}
	emls, _ := filepath.Glob(filepath.Join(f.cfg.Outbox, "*.eml"))
	to := map[string]string{} // attachment area → To header
	for _, p := range emls {
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(fh)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(m.Body)
		fh.Close()
		for _, area := range []string{"829", "831"} {
			if strings.Contains(string(raw), "bao-cao-"+area+"-") {
				to[area] = m.Header.Get("To")
			}
		}
	}
	if !strings.Contains(to["829"], "ubnd.chauthanh@bentre.gov.vn") || strings.Contains(to["831"], "ubnd.chauthanh") ||
		!strings.Contains(to["831"], "chutich@bentre.gov.vn") {
		t.Fatalf("recipients by area: %q", to)
	}
}
