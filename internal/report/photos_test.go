package report

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ioc-vn/ioc/internal/report/reporttest"
)

// heapPeak samples the live heap (runtime/metrics) every millisecond from start until the
// returned stop is called, and stop returns the largest growth over the heap at start.
func heapPeak(t *testing.T) (stop func() int64) {
	t.Helper()
	runtime.GC()
	sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 {
		rtmetrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	base := read()
	done, out := make(chan struct{}), make(chan int64)
	go func() {
		peak := base
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				out <- max(peak, read()) - base
				return
			case <-tick.C:
				peak = max(peak, read())
			}
		}
	}()
	return func() int64 {
		close(done)
		return <-out
	}
}

// TestPhotoBombsAreRefusedWithBoundedMemory sends six reports of five 7000×7000 16-bit PNGs each
// (286 KB files that decode to 392 MB: before the header check, one such report took 2.2 GB) at
// once, and a good report among them. Every bomb is refused from its header with 413 and counted;
// the heap never grows by more than 64 MiB; the good report is filed.
func TestPhotoBombsAreRefusedWithBoundedMemory(t *testing.T) {
	e := newEnv(t, DriverSQLite, nil)
	bomb := reporttest.BombPNG(7000, 7000, 16, false)
	bombs := []upload{{"a.png", bomb}, {"b.png", bomb}, {"c.png", bomb}, {"d.png", bomb}, {"e.png", bomb}}
	stop := heapPeak(t)
	var wg sync.WaitGroup
	got := make([]resp, 6)
	for i := range got {
		wg.Go(func() {
			got[i], _ = e.submit(map[string]string{"device_id": "bomber" + string(rune('a'+i))}, nil, bombs...)
		})
	}
	good, _ := e.submit(map[string]string{"device_id": "citizen"}, nil, upload{"p.jpg", testJPEG(t, 640, 480)})
	wg.Wait()
	peak := stop()
	for i, r := range got {
		if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "ảnh quá lớn để xử lý") {
			t.Errorf("bomb report %d: %d %s, want 413 with a Vietnamese explanation", i, r.status, r.body)
		}
	}
	if good.status != http.StatusCreated {
		t.Errorf("good report meanwhile: %d %s", good.status, good.body)
	}
	if n := testutil.ToFloat64(e.svc.m.photoRefused.WithLabelValues("memory")); n != 6 {
		t.Errorf("refusals counted with reason memory: %v, want 6", n)
	}
	t.Logf("heap peak growth %d MiB", peak>>20)
	if peak > 64<<20 {
		t.Errorf("heap grew by %d MiB while refusing bombs, want at most 64 MiB", peak>>20)
	}
}

// TestPhotoDecodesShareABoundedPool sends eight reports at once, each with a 1400×1400 PNG that
// takes ~41 MiB to process, through a pool of 48 MiB: they decode one at a time, all are filed, and
// the heap stays within the pool plus 48 MiB of slack (the eight at once take ~180 MiB).
func TestPhotoDecodesShareABoundedPool(t *testing.T) {
	e := newEnv(t, DriverSQLite, func(c *Config) {
		c.PhotoDecode = PhotoDecodeConfig{MaxBytes: 48 << 20, MaxConcurrent: 4, Wait: time.Minute}
	})
	pic := reporttest.BombPNG(1400, 1400, 8, false)
	stop := heapPeak(t)
	var wg sync.WaitGroup
	got := make([]resp, 8)
	for i := range got {
		wg.Go(func() {
			got[i], _ = e.submit(map[string]string{"device_id": "d" + string(rune('a'+i))}, nil, upload{"p.png", pic})
		})
	}
	wg.Wait()
	peak := stop()
	for i, r := range got {
		if r.status != http.StatusCreated {
			t.Errorf("report %d: %d %s", i, r.status, r.body)
		}
	}
	t.Logf("heap peak growth %d MiB", peak>>20)
	if peak > 96<<20 {
		t.Errorf("heap grew by %d MiB, want at most the 48 MiB pool + 48 MiB", peak>>20)
	}
	if n := testutil.ToFloat64(e.svc.m.decodeInflight); n != 0 {
		t.Errorf("decode pool still holds %v bytes", n)
	}
}

// TestPhotoPoolFullIs503 fills the decode pool and checks that a report with a photo is refused
// with 503 and Retry-After after photo_decode.wait (counted as busy), and filed once there is room.
func TestPhotoPoolFullIs503(t *testing.T) {
	e := newEnv(t, DriverSQLite, func(c *Config) {
		c.PhotoDecode = PhotoDecodeConfig{MaxBytes: 64 << 20, MaxConcurrent: 1, Wait: 20 * time.Millisecond}
	})
	release, err := e.svc.decodes.acquire(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	pic := upload{"p.jpg", testJPEG(t, 64, 48)}
	r, _ := e.submit(nil, nil, pic)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "vui lòng gửi lại") {
		t.Fatalf("pool full: %d %v %s, want 503 with Retry-After", r.status, r.header, r.body)
	}
	if n := testutil.ToFloat64(e.svc.m.photoRefused.WithLabelValues("busy")); n != 1 {
		t.Errorf("busy refusals: %v, want 1", n)
	}
	release()
	if r, _ := e.submit(map[string]string{"device_id": "again"}, nil, pic); r.status != http.StatusCreated {
		t.Fatalf("after release: %d %s", r.status, r.body)
	}
}

// TestUploadOutlastsTheReadTimeout sends a submission with a photo over a second, at 60 kB/s,
// to a server whose read timeout is 200 ms: the route extends the deadline while the body arrives
// faster than upload_min_rate, so the report is filed; below the rate the connection is cut.
func TestUploadOutlastsTheReadTimeout(t *testing.T) {
	e := newEnv(t, DriverSQLite, func(c *Config) { c.UploadMinRate, c.UploadGrace = 20_000, 100*time.Millisecond })
	mux := http.NewServeMux()
	e.svc.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	ct, body := multipartBody(t, map[string]string{"padding": strings.Repeat("x", 50_000)}, upload{"p.jpg", testJPEG(t, 64, 48)})
	send := func(device string, chunk int) (int, error) {
		data := bytes.Replace(body.Bytes(), []byte(contactValues["device_id"]), []byte(device), 1)
		pr, pw := io.Pipe()
		go func() {
			tick := time.NewTicker(100 * time.Millisecond) // the client's pace is what is tested
			defer tick.Stop()
			for rest := data; len(rest) > 0; rest = rest[min(chunk, len(rest)):] {
				<-tick.C
				if _, err := pw.Write(rest[:min(chunk, len(rest))]); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, err := http.NewRequest("POST", srv.URL+"/api/v1/reports", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(data))
		req.Header.Set("Content-Type", ct)
		res, err := srv.Client().Do(req)
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode, nil
	}
	if status, err := send("fast-enough", 6000); err != nil || status != http.StatusCreated {
		t.Fatalf("upload at 60 kB/s: %d %v", status, err)
	}
	if status, err := send("too-slow", 500); err == nil && status == http.StatusCreated {
		t.Fatal("an upload at 5 kB/s, below upload_min_rate, was filed")
	}
}

// TestUploadMemoryIsBounded fills max_upload_memory and checks that a submission is refused with
// 503 and Retry-After before its body is read (native and Open311), and filed once there is room.
func TestUploadMemoryIsBounded(t *testing.T) {
	e := newEnv(t, DriverSQLite, func(c *Config) {
		c.MaxUploadMemory = c.MaxBodyBytes
		c.PhotoDecode.Wait = 20 * time.Millisecond
	})
	release, err := e.svc.uploads.acquire(context.Background(), -1) // a body of unknown length takes max_body_bytes
	if err != nil {
		t.Fatal(err)
	}
	pic := upload{"p.jpg", testJPEG(t, 64, 48)}
	if r, _ := e.submit(nil, nil, pic); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("upload memory full: %d %v %s, want 503 with Retry-After", r.status, r.header, r.body)
	}
	if r := e.postForm("/open311/v2/requests.json", potholeForm(e.apiKey()), nil); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, `"code":503`) {
		t.Fatalf("open311 with upload memory full: %d %s", r.status, r.body)
	}
	if n := testutil.ToFloat64(e.svc.m.refused.WithLabelValues("busy")); n != 2 {
		t.Errorf("busy refusals %v, want 2", n)
	}
	release()
	if r, _ := e.submit(map[string]string{"device_id": "later"}, nil, pic); r.status != http.StatusCreated {
		t.Fatalf("after release: %d %s", r.status, r.body)
	}
	if n := testutil.ToFloat64(e.svc.m.uploadInflight); n != 0 {
		t.Errorf("upload memory still reserved: %v", n)
	}
}
