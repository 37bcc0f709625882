package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: Test CPU
BenchmarkIngest/paho-2         	       1	10754125109 ns/op	     24000 msgs/s
BenchmarkIngest/influx_raw-2   	       1	2786680597 ns/op	     80000 msgs/s
BenchmarkIngest/telegraf/devices=100000/batch=1000,undelivered=2000,flush=1s,gzip-2     	       1	33473354315 ns/op	      4000 msgs/s	40 cpu_us/msg	100 influxd_us/msg	20 mosquitto_us/msg
BenchmarkIngest/ioc/devices=100000-2          	       1	5000000000 ns/op	     20000 msgs/s	        97.63 rss_MiB	10 cpu_us/msg	80 influxd_us/msg	20 mosquitto_us/msg
BenchmarkLiveLatency/clients=100/rate=1000-2 	1	5000 ns/op	2.5 p50_ms	9.1 p99_ms
BenchmarkProcess1000Rules-2    	  543021	      4359 ns/op	       0 B/op	       0 allocs/op
PASS
`

func TestRunWritesResultsAndDoc(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	doc := "# Performance\n\nbefore\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\nafter\n"
	if err := os.WriteFile(filepath.Join(root, "docs", "PERFORMANCE.md"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(strings.NewReader(sample), io.Discard, root); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(root, "docs", "PERFORMANCE.md"))
	for _, want := range []string{"before\n", "\nafter\n", "| Ingest/ioc/devices=100000 | 10 cpu_us/msg, 80 influxd_us/msg, 20 mosquitto_us/msg, 20000 msgs/s, 97.63 rss_MiB |",
		"| LiveLatency/clients=100/rate=1000 | 2.5 p50_ms, 9.1 p99_ms |", "| Process1000Rules | 0 B/op, 0 allocs/op, 4359 ns/op |", "devices=100000: end to end ioc 20000 / Telegraf 4000 msgs/s = **5.00 ×**",
		"messages per consumer CPU-second **4.00 ×**", "influxd per point ioc 80.0 µs, Telegraf 100.0 µs (0.80 ×",
		"at most 20000 msgs/s", "(Telegraf: batch=1000,undelivered=2000,flush=1s,gzip)", "bare paho subscriber = 0.83"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("PERFORMANCE.md lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "old table") {
		t.Error("the previous table was kept")
	}
	files, _ := filepath.Glob(filepath.Join(root, "bench", "results", "*.json"))
	if len(files) != 1 {
		t.Fatalf("result files %v", files)
	}
	data, _ := os.ReadFile(files[0])
	var r Run
	if err := json.Unmarshal(data, &r); err != nil || len(r.Results) != 6 || r.Results[3].Metrics["msgs/s"] != 20000 || r.CPU != "Test CPU" {
		t.Fatalf("results json: %v %+v", err, r)
	}
}

func TestRunRejects(t *testing.T) {
	tests := []struct{ name, input, doc, want string }{
		{name: "no results", input: "PASS\n", doc: "<!-- bench:begin --><!-- bench:end -->", want: "no benchmark results"},
		{name: "no markers", input: sample, doc: "# Performance\n", want: "no <!-- bench:begin -->"},
		{name: "failed benchmark", input: sample + "--- FAIL: BenchmarkX\n", doc: "<!-- bench:begin --><!-- bench:end -->", want: "a benchmark failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "docs"), 0o755)
			os.WriteFile(filepath.Join(root, "docs", "PERFORMANCE.md"), []byte(tc.doc), 0o644)
			err := run(strings.NewReader(tc.input), io.Discard, root)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
