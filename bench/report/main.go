// Command report turns `go test -bench` output into ioc's benchmark record: it copies its input to
// stdout, then writes bench/results/<timestamp>.json (every metric of every benchmark) and
// bench/results/<timestamp>.md (the table), and replaces the part of docs/PERFORMANCE.md between
// "<!-- bench:begin -->" and "<!-- bench:end -->" with that table, so the document shows the last run.
//
//	go test ./bench -run '^$' -bench . -benchtime 1x | go run ./bench/report
//
// With -print it only prints the table of its input (make bench-ingest: a partial run while iterating).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Result is one benchmark's metrics by unit (ns/op, msgs/s, p99_ms …).
type Result struct {
	Name       string             `json:"name"`
	Iterations int                `json:"iterations"`
	Metrics    map[string]float64 `json:"metrics"`
}

// Run is one run of the suite.
type Run struct {
	Time    string   `json:"time"`
	CPU     string   `json:"cpu,omitempty"`
	Command string   `json:"command"`
	Results []Result `json:"results"`
	Failed  bool     `json:"failed"`
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// parse reads benchmark lines from r, echoing everything to echo.
func parse(r io.Reader, echo io.Writer) (Run, error) {
	var run Run
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(echo, line)
		switch {
		case strings.HasPrefix(line, "cpu: "):
			run.CPU = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
		case strings.HasPrefix(line, "--- FAIL") || line == "FAIL" || strings.HasPrefix(line, "FAIL\t"):
			run.Failed = true
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		iters, _ := strconv.Atoi(m[2])
		res := Result{Name: strings.TrimPrefix(m[1], "Benchmark"), Iterations: iters, Metrics: map[string]float64{}}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return run, fmt.Errorf("benchmark %s: metric %q: %w", res.Name, f[i], err)
			}
			res.Metrics[f[i+1]] = v
		}
		run.Results = append(run.Results, res)
	}
	return run, sc.Err()
}

// table renders the results, with the ingest ratios the targets are stated in.
func table(run Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Last `make bench`: %s on %s.\n\n", run.Time, run.CPU)
	b.WriteString("| benchmark | results |\n|---|---|\n")
	for _, r := range run.Results {
		units := make([]string, 0, len(r.Metrics))
		for u := range r.Metrics {
			// ns/op of a one-iteration run is the run's length, not a cost per operation.
			if u != "ns/op" || r.Iterations > 1 {
				units = append(units, u)
			}
		}
		sort.Strings(units)
		parts := make([]string, 0, len(units))
		for _, u := range units {
			parts = append(parts, fmt.Sprintf("%s %s", strconv.FormatFloat(r.Metrics[u], 'f', -1, 64), u))
		}
		fmt.Fprintf(&b, "| %s | %s |\n", r.Name, strings.Join(parts, ", "))
	}
	b.WriteString(ratios(run.Results))
	return b.String()
}

// ratios states the ingest targets of issue #24 for each device mix: ioc's end-to-end rate and its
// messages per consumer CPU-second against Telegraf's (as configured in the run, which its result's
// name prints), influxd's CPU per point for each, and the rate that influxd's and Mosquitto's CPU per
// message leave ioc on two cores.
func ratios(results []Result) string {
	byName := map[string]Result{}
	var mixes []string
	telegraf := map[string]Result{}
	conf := map[string]string{}
	for _, r := range results {
		byName[r.Name] = r
		if mix, ok := strings.CutPrefix(r.Name, "Ingest/ioc/"); ok {
			mixes = append(mixes, mix)
		}
		if rest, ok := strings.CutPrefix(r.Name, "Ingest/telegraf/"); ok {
			mix, c, _ := strings.Cut(rest, "/")
			telegraf[mix], conf[mix] = r, c
		}
	}
	var b strings.Builder
	for _, mix := range mixes {
		ioc, tg := byName["Ingest/ioc/"+mix], telegraf[mix]
		if tg.Metrics["msgs/s"] == 0 || ioc.Metrics["msgs/s"] == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\nIngest ratios in this run, each against Telegraf in the configuration its row names:\n\n")
		}
		im, tm := ioc.Metrics, tg.Metrics
		fmt.Fprintf(&b, "- %s: end to end ioc %.0f / Telegraf %.0f msgs/s = **%.2f ×** (target ≥ 1.8)", mix, im["msgs/s"], tm["msgs/s"], im["msgs/s"]/tm["msgs/s"])
		if im["cpu_us/msg"] > 0 && tm["cpu_us/msg"] > 0 {
			fmt.Fprintf(&b, "; messages per consumer CPU-second **%.2f ×** (ioc %.1f µs, Telegraf %.1f µs per message; targets ≥ 3 × and ≤ 15 µs)",
				tm["cpu_us/msg"]/im["cpu_us/msg"], im["cpu_us/msg"], tm["cpu_us/msg"])
		}
		if im["influxd_us/msg"] > 0 && tm["influxd_us/msg"] > 0 {
			fmt.Fprintf(&b, "; influxd per point ioc %.1f µs, Telegraf %.1f µs (%.2f ×, target ≤ 1)", im["influxd_us/msg"], tm["influxd_us/msg"], im["influxd_us/msg"]/tm["influxd_us/msg"])
		}
		if rest := im["influxd_us/msg"] + im["mosquitto_us/msg"]; rest > 0 {
			fmt.Fprintf(&b, "; influxd + Mosquitto at %.1f µs per message leave two cores at most %.0f msgs/s with a free consumer", rest, 2e6/rest)
		}
		fmt.Fprintf(&b, " (Telegraf: %s).\n", conf[mix])
	}
	if r, p := byName["Ingest/ioc/devices=100000"], byName["Ingest/paho"]; r.Metrics["msgs/s"] > 0 && p.Metrics["msgs/s"] > 0 {
		fmt.Fprintf(&b, "\nioc (100,000 devices) / bare paho subscriber = %.2f; / raw InfluxDB writes = %.2f.\n",
			r.Metrics["msgs/s"]/p.Metrics["msgs/s"], r.Metrics["msgs/s"]/byName["Ingest/influx_raw"].Metrics["msgs/s"])
	}
	return b.String()
}

const begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"

// splice replaces the marked part of doc with body.
func splice(doc []byte, body string) ([]byte, error) {
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		return nil, errors.New("docs/PERFORMANCE.md has no " + begin + " … " + end + " section")
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(begin)])
	out.WriteString("\n" + body)
	out.Write(doc[j:])
	return out.Bytes(), nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-print" { // a partial run while iterating: the table only, nothing written
		r, err := parse(os.Stdin, os.Stdout)
		if err == nil && len(r.Results) == 0 {
			err = errors.New("no benchmark results in the input")
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench report:", err)
			os.Exit(1)
		}
		fmt.Print("\n" + table(r))
		return
	}
	if err := run(os.Stdin, os.Stdout, "."); err != nil {
		fmt.Fprintln(os.Stderr, "bench report:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, root string) error {
	r, err := parse(in, out)
	if err != nil {
		return err
	}
	if len(r.Results) == 0 {
		return errors.New("no benchmark results in the input")
	}
	now := time.Now().In(time.FixedZone("Asia/Ho_Chi_Minh", 7*3600))
	r.Time = now.Format(time.RFC3339)
	r.Command = "make bench"
	dir := filepath.Join(root, "bench", "results")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stamp := now.Format("20060102T150405")
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, stamp+".json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	md := table(r)
	if err := os.WriteFile(filepath.Join(dir, stamp+".md"), []byte(md), 0o644); err != nil {
		return err
	}
	perf := filepath.Join(root, "docs", "PERFORMANCE.md")
	doc, err := os.ReadFile(perf)
	if err != nil {
		return err
	}
	if doc, err = splice(doc, md); err != nil {
		return err
	}
	if err := os.WriteFile(perf, doc, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "bench report: %s/%s.{json,md} and docs/PERFORMANCE.md updated\n", dir, stamp)
	if r.Failed {
		return errors.New("a benchmark failed (results of the others were recorded)")
	}
	return nil
}
