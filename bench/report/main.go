// Command report turns `go test -bench` output into ioc's benchmark record: it copies its input to
// stdout, then writes bench/results/<timestamp>.json (every metric of every benchmark) and
// bench/results/<timestamp>.md (the table), and replaces the part of docs/PERFORMANCE.md between
// "<!-- bench:begin -->" and "<!-- bench:end -->" with that table, so the document shows the last run.
//
//	go test ./bench -run '^$' -bench . -benchtime 1x | go run ./bench/report
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
	rate := map[string]float64{}
	for _, r := range run.Results {
		if strings.HasPrefix(r.Name, "Ingest/") {
			rate[strings.TrimPrefix(r.Name, "Ingest/")] = r.Metrics["msgs/s"]
		}
	}
	if rate["ioc"] > 0 && rate["telegraf"] > 0 && rate["paho"] > 0 {
		fmt.Fprintf(&b, "\nIngest ratios in this run: ioc / Telegraf = %.2f (target ≥ 3), ioc / bare paho subscriber = %.2f "+
			"(target ≥ 0.8), ioc / raw InfluxDB writes = %.2f.\n", rate["ioc"]/rate["telegraf"], rate["ioc"]/rate["paho"],
			rate["ioc"]/rate["influx_raw"])
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
