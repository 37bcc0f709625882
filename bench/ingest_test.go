package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ioc-vn/ioc/internal/mqtttest"
	"github.com/ioc-vn/ioc/internal/store/influx/influxtest"
)

// ingestLoad sizes one ingest run: Total messages from devices devices over four connections. The suite
// runs two mixes: 100,000 devices publishing once each (every message from a new device) and 10,000
// devices publishing ten times each (after its first message a device is known).
func ingestLoad(root string, devices int) load {
	if v, err := strconv.Atoi(os.Getenv("IOC_BENCH_DEVICES")); err == nil && v > 0 {
		devices = v // for profiling: the suite's numbers are for the two mixes below
	}
	return load{Root: fmt.Sprintf("%s-d%d", root, devices), Devices: devices, Total: 100_000, Conns: 4,
		Base: time.Now().Add(-2 * time.Hour).Truncate(time.Second)}
}

// ingestMixes are the device mixes of the ioc and Telegraf runs.
var ingestMixes = []int{100_000, 10_000}

// telegrafConf is the part of Telegraf's configuration that decides its throughput. Its String is
// printed in the benchmark's name, next to every number measured with it.
type telegrafConf struct {
	Batch       int           // agent.metric_batch_size
	Undelivered int           // inputs.mqtt_consumer.max_undelivered_messages
	Flush       time.Duration // agent.flush_interval
}

func (c telegrafConf) String() string {
	return fmt.Sprintf("batch=%d,undelivered=%d,flush=%s,gzip", c.Batch, c.Undelivered, c.Flush)
}

// telegrafTuned is Telegraf at its best on this machine, chosen by BenchmarkTelegrafSweep (the sweep is
// recorded in docs/PERFORMANCE.md): as its documentation says for throughput, a batch equal to the
// broker's inflight window (Mosquitto's max_inflight_messages 1000, so a batch is written as soon as
// it is full), more undelivered messages allowed than one batch, gzip.
var telegrafTuned = telegrafConf{Batch: 1000, Undelivered: 2000, Flush: time.Second}

// telegrafSweep is the small sweep of Telegraf's batch, undelivered-messages and flush settings.
var telegrafSweep = []telegrafConf{
	{Batch: 5000, Undelivered: 1000, Flush: 100 * time.Millisecond}, // the bench's configuration before the sweep
	{Batch: 1000, Undelivered: 1000, Flush: time.Second},
	{Batch: 1000, Undelivered: 2000, Flush: time.Second},
	{Batch: 1000, Undelivered: 10000, Flush: time.Second},
	{Batch: 1000, Undelivered: 2000, Flush: 100 * time.Millisecond},
	{Batch: 500, Undelivered: 1000, Flush: time.Second},
	{Batch: 500, Undelivered: 2000, Flush: 100 * time.Millisecond},
	{Batch: 250, Undelivered: 1000, Flush: 100 * time.Millisecond},
}

// BenchmarkIngest measures, in one run on one Mosquitto and one InfluxDB 1.8.10, how fast each consumer
// drains a backlog of 100,000 messages (ThingsBoard JSON, QoS 1) queued in its durable session while
// it was stopped: the clock runs from the consumer's start until the last message is stored, so
// start-up counts against it. Draining a backlog measures the consumer, not the publishers (which
// share the two cores). ioc and Telegraf each run both device mixes (devices=100000: every message
// from a new device; devices=10000: ten messages per device):
//
//   - ioc: the ioc binary, MQTT collector (one connection, QoS 1, acknowledged after the InfluxDB
//     write) → validation → geo enrichment (Bến Tre districts) → 1,000 alarm rules → InfluxDB;
//   - telegraf: Telegraf 1.36.4 mqtt_consumer (json_v2) → influxdb_v2 output, same broker and
//     database, in its tuned configuration (telegrafTuned, printed in the name);
//   - paho: a bare paho subscriber (one connection, QoS 1) that only counts: the broker's delivery
//     ceiling for one connection;
//   - influx_raw: the same points as line protocol POSTed in batches of 5,000 by four writers: the
//     database's ceiling.
//
// Each run gets its own topic root, so no consumer's session queues another run's messages. Besides
// msgs/s each ioc and Telegraf run reports the CPU time per message of the consumer, influxd and
// Mosquitto (read from /proc): what bench/report's ratios and docs/PERFORMANCE.md are made of.
//
//	go test ./bench -run '^$' -bench Ingest -benchtime 1x -timeout 30m
//	go test ./bench -run '^$' -bench 'Ingest/ioc/devices=10000$' -benchtime 1x    # one run while iterating
func BenchmarkIngest(b *testing.B) {
	m := startMosquitto(b)
	db := influxtest.Start(b)
	b.Run("paho", func(b *testing.B) {
		for range b.N {
			b.ReportMetric(ingestPaho(b, m, ingestLoad("paho", 100_000)), "msgs/s")
		}
	})
	b.Run("influx_raw", func(b *testing.B) {
		for range b.N {
			b.ReportMetric(ingestRaw(b, db, ingestLoad("raw", 100_000)), "msgs/s")
		}
	})
	for _, name := range []string{"telegraf", "ioc"} {
		b.Run(name, func(b *testing.B) {
			for _, devices := range ingestMixes {
				sub := fmt.Sprintf("devices=%d", devices)
				if name == "telegraf" {
					sub += "/" + telegrafTuned.String()
				}
				b.Run(sub, func(b *testing.B) {
					for range b.N {
						l := ingestLoad(name, devices)
						var rate float64
						if name == "telegraf" {
							rate = ingestTelegraf(b, m, db, l, telegrafTuned)
						} else {
							rate = ingestIOC(b, m, db, l)
						}
						b.ReportMetric(rate, "msgs/s")
					}
				})
			}
		})
	}
}

// BenchmarkTelegrafSweep drains the 100,000-device backlog with Telegraf in each configuration of
// telegrafSweep, to show that telegrafTuned is its best on this machine (not part of make bench's
// default run: about 40 s per configuration; bench/run.sh runs it with IOC_BENCH_SWEEP=1).
//
//	go test ./bench -run '^$' -bench TelegrafSweep -benchtime 1x -timeout 30m
func BenchmarkTelegrafSweep(b *testing.B) {
	m := startMosquitto(b)
	db := influxtest.Start(b)
	for i, c := range telegrafSweep {
		b.Run(c.String(), func(b *testing.B) {
			for range b.N {
				l := ingestLoad(fmt.Sprintf("sweep%d", i), 100_000)
				b.ReportMetric(ingestTelegraf(b, m, db, l, c), "msgs/s")
			}
		})
	}
}

func ingestPaho(b *testing.B, m *mqtttest.Mosquitto, l load) float64 {
	var got, probes atomic.Int64
	handler := func(_ paho.Client, msg paho.Message) {
		if strings.Contains(msg.Topic(), "/probe/") {
			probes.Add(1)
			return
		}
		got.Add(1)
	}
	connect := func() paho.Client {
		// The subscription is kept by the durable session; the handler also serves queued messages.
		sub := paho.NewClient(paho.NewClientOptions().AddBroker(m.URL).SetClientID("bench-paho-sub").SetCleanSession(false).
			SetOrderMatters(false).SetDefaultPublishHandler(handler))
		if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatalf("subscriber connect: %v", tok.Error())
		}
		return sub
	}
	sub := connect()
	if tok := sub.Subscribe(l.Root+"/devices/+/telemetry", 1, handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	probe(b, m.URL, l.Root, func() bool { return probes.Load() > 0 })
	sub.Disconnect(250)
	l.publish(b, m.URL, "bench-pub-paho") // queued in the durable session
	start := time.Now()
	sub = connect()
	defer sub.Disconnect(100)
	waitFor(b, 10*time.Minute, "paho subscriber received everything", func() bool { return got.Load() >= int64(l.Total) })
	rate := float64(l.Total) / time.Since(start).Seconds()
	if n := got.Load(); n != int64(l.Total) {
		b.Fatalf("paho subscriber received %d, want %d", n, l.Total)
	}
	return rate
}

func ingestRaw(b *testing.B, db *influxtest.Server, l load) float64 {
	const database, batch, writers = "raw_bench", 5000, 4
	influxQuery(b, db.URL, "CREATE DATABASE "+database)
	bodies := make([][]byte, 0, l.Total/batch+1)
	for i := 0; i < l.Total; i += batch {
		var sb strings.Builder
		for j := i; j < min(i+batch, l.Total); j++ {
			sb.WriteString(l.line(j))
		}
		bodies = append(bodies, []byte(sb.String()))
	}
	client := &http.Client{Timeout: time.Minute}
	next := atomic.Int64{}
	errs := make(chan error, writers)
	start := time.Now()
	done := make(chan struct{})
	for range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				resp, err := client.Post(db.URL+"/write?db="+database+"&precision=ms", "text/plain", strings.NewReader(string(bodies[i])))
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					errs <- fmt.Errorf("write status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	for range writers {
		<-done
	}
	rate := float64(l.Total) / time.Since(start).Seconds()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if n := influxCount(b, db.URL, database, "salinity"); n != l.Total {
		b.Fatalf("raw writes stored %d points, want %d", n, l.Total)
	}
	return rate
}

func ingestTelegraf(b *testing.B, m *mqtttest.Mosquitto, db *influxtest.Server, l load, c telegrafConf) float64 {
	database := strings.ReplaceAll(l.Root, "-", "_")
	influxQuery(b, db.URL, "CREATE DATABASE "+database)
	conf := fmt.Sprintf(`
[agent]
  interval = "1s"
  flush_interval = "%s"
  flush_jitter = "0s"
  metric_batch_size = %d
  metric_buffer_limit = 1000000
  omit_hostname = true
  quiet = true

[[outputs.influxdb_v2]]
  urls = ["%s"]
  token = ""
  organization = ""
  bucket = "%s/autogen"
  content_encoding = "gzip"

[[inputs.mqtt_consumer]]
  servers = ["%s"]
  topics = ["%s/devices/+/telemetry"]
  qos = 1
  persistent_session = true
  client_id = "%s"
  max_undelivered_messages = %d
  topic_tag = "" # the device tag is parsed from the topic; a topic tag would only lengthen every series key
  data_format = "json_v2"
  [[inputs.mqtt_consumer.topic_parsing]]
    topic = "%s/devices/+/telemetry"
    tags = "_/_/device/_"
  [[inputs.mqtt_consumer.json_v2]]
    measurement_name = "telemetry"
    timestamp_path = "ts"
    timestamp_format = "unix_ms"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "values.salinity"
      rename = "salinity"
      type = "float"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "values.water_level"
      rename = "water_level"
      type = "float"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "values.lat"
      rename = "lat"
      type = "float"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "values.lon"
      rename = "lon"
      type = "float"
`, c.Flush, c.Batch, db.URL, database, m.URL, l.Root, "telegraf-"+l.Root, c.Undelivered, l.Root)
	// Not under b.TempDir(): the benchmark's name holds commas, and Telegraf splits --config on them.
	dir, err := os.MkdirTemp("", "ioc-bench-telegraf-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "telegraf.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	tg := start(b, telegrafBinary(b), "--config", path)
	defer func() {
		if b.Failed() {
			b.Logf("telegraf's output:\n%s", tg.output())
		}
	}()
	probe(b, m.URL, l.Root, func() bool { return probeCount(b, db.URL, database) > 0 })
	tg.stop()
	l.publish(b, m.URL, "bench-pub-"+l.Root) // queued in Telegraf's durable session
	startAt, dbCPU, mqCPU := time.Now(), cpuSeconds(b, db.PID()), cpuSeconds(b, m.PID())
	tg = start(b, telegrafBinary(b), "--config", path)
	defer tg.stop()
	waitFor(b, 10*time.Minute, "telegraf stored everything:\n"+tg.output(), func() bool {
		return influxCount(b, db.URL, database, "salinity") >= l.Total
	})
	rate := float64(l.Total) / time.Since(startAt).Seconds()
	reportCPU(b, l.Total, cpuSeconds(b, tg.cmd.Process.Pid), cpuSeconds(b, db.PID())-dbCPU, cpuSeconds(b, m.PID())-mqCPU)
	if n := influxCount(b, db.URL, database, "salinity"); n != l.Total {
		b.Fatalf("telegraf stored %d points, want %d", n, l.Total)
	}
	return rate
}

func ingestIOC(b *testing.B, m *mqtttest.Mosquitto, db *influxtest.Server, l load) float64 {
	database := strings.ReplaceAll(l.Root, "-", "_")
	influxQuery(b, db.URL, "CREATE DATABASE "+database)
	dir := b.TempDir()
	root := repoRoot(b)
	var rules strings.Builder
	kinds := []string{"salinity", "water_level"}
	for i := range 1000 {
		kind := kinds[i%2]
		value := 1000 + float64(i) // thresholds the load never reaches, but every rule is evaluated
		if i < 10 {
			value = 7.5 // a few rules that do fire on the saltiest readings
		}
		fmt.Fprintf(&rules, "    - {id: r-%04d, severity: minor, scope: {kinds: [%s]}, when: {threshold: {field: %s, op: \">\", value: %g, for: 1m}}}\n",
			i, kind, kind, value)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(b))
	conf := fmt.Sprintf(`
log: {level: warn}
http: {addr: "%s"}
broker: {enabled: false}
store: {path: "%s/ioc.db"}
influx:
  enabled: true
  url: "%s"
  bucket: "%s/autogen"
  spool: {dir: "%s/spool"}
admin: {token: "%s"}
geo: {admin_files: ["%s/configs/admin/83.geojson"]}
alarm:
  store: {path: "%s/alarms.db"}
  rules:
%sreports: {store: {path: "%s/reports.db"}, photo_dir: "%s/photos", catalogue: "%s/configs/services.yaml", calendar: {holidays: "%s/configs/holidays-vn.yaml"}}
collectors:
  - name: telemetry
    type: mqtt
    broker: "%s"
    client_id: ioc-bench-%s
    qos: 1
    clean_session: false
    ack: after_store
    max_payload: 65536
    keep_alive: 30s
    topics:
      - {filter: "%s/devices/+/telemetry", format: thingsboard}
`, httpAddr, dir, db.URL, database, dir, benchToken, root, dir, rules.String(), dir, dir, root, root, m.URL, l.Root, l.Root)
	path := filepath.Join(dir, "ioc.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	p := startIOC(b, path, httpAddr)
	probe(b, m.URL, l.Root, func() bool { return probeCount(b, db.URL, database) > 0 })
	p.stop()
	l.publish(b, m.URL, "bench-pub-"+l.Root) // queued in ioc's durable session
	startAt, dbCPU, mqCPU := time.Now(), cpuSeconds(b, db.PID()), cpuSeconds(b, m.PID())
	p = startIOC(b, path, "") // the clock runs from its start, not from its readiness
	defer p.stop()
	profileDrain(b)
	last := time.Now()
	waitFor(b, 10*time.Minute, "ioc stored everything", func() bool {
		n := influxCount(b, db.URL, database, "salinity")
		if os.Getenv("IOC_BENCH_DEBUG") != "" && time.Since(last) > 5*time.Second {
			last = time.Now()
			fmt.Fprintf(os.Stderr, "ioc stored %d of %d\n%s\n", n, l.Total, p.output())
		}
		return n >= l.Total
	})
	rate := float64(l.Total) / time.Since(startAt).Seconds()
	reportCPU(b, l.Total, cpuSeconds(b, p.cmd.Process.Pid), cpuSeconds(b, db.PID())-dbCPU, cpuSeconds(b, m.PID())-mqCPU)
	if n := influxCount(b, db.URL, database, "salinity"); n != l.Total {
		b.Fatalf("ioc stored %d points, want %d", n, l.Total)
	}
	b.ReportMetric(p.rssBytes(b)/(1<<20), "rss_MiB")
	reportSinkMetrics(b, captureMetrics(b, httpAddr, "Ingest_"+l.Root))
	if addr, file := os.Getenv("IOC_BENCH_PPROF"), os.Getenv("IOC_BENCH_HEAPPROFILE"); addr != "" && file != "" {
		saveProfile(b, "http://"+addr+"/debug/pprof/heap", file) // what the drain left in memory
	}
	return rate
}

// probeCount counts the 2001 probe points in db.
func probeCount(b *testing.B, base, db string) int {
	return influxCountWhere(b, base, db, "salinity", "time < '2002-01-01T00:00:00Z'")
}

// profileDrain, with $IOC_BENCH_PPROF and $IOC_BENCH_CPUPROFILE set, saves a 10 s CPU profile of the
// ioc process taken from the start of its drain to the file $IOC_BENCH_CPUPROFILE names.
func profileDrain(b *testing.B) {
	addr, file := os.Getenv("IOC_BENCH_PPROF"), os.Getenv("IOC_BENCH_CPUPROFILE")
	if addr == "" || file == "" {
		return
	}
	go func() {
		for range 100 {
			resp, err := http.Get("http://" + addr + "/debug/pprof/profile?seconds=10")
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err == nil {
				err = os.WriteFile(file, data, 0o644)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "cpu profile: %v\n", err)
			}
			return
		}
	}()
}

// saveProfile fetches a pprof profile from url into file.
func saveProfile(b *testing.B, url, file string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatalf("profile: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(file, data, 0o644)
	}
	if err != nil {
		b.Fatalf("profile %s: %v", file, err)
	}
}

// reportCPU reports the CPU time per message the consumer process, InfluxDB and Mosquitto spent on a
// drain: the cost of each part of the path, which unlike a rate hardly depends on what else the
// machine was running. Their sum bounds the rate two cores can reach.
func reportCPU(b *testing.B, messages int, consumer, influxd, mosquitto float64) {
	b.ReportMetric(consumer/float64(messages)*1e6, "cpu_us/msg")
	b.ReportMetric(influxd/float64(messages)*1e6, "influxd_us/msg")
	b.ReportMetric(mosquitto/float64(messages)*1e6, "mosquitto_us/msg")
}

// reportSinkMetrics reports, from ioc's /metrics after a run, the pipeline's drops and each durable
// sink's mean write time and events per write: what the acknowledgement window waits on.
func reportSinkMetrics(b *testing.B, metrics string) {
	b.ReportMetric(metricSum(metrics, "ioc_pipeline_dropped_total"), "dropped")
	for _, sink := range []string{"influx", "store"} {
		sel := `{sink="` + sink + `"}`
		if n := metricSum(metrics, "ioc_sink_write_seconds_count"+sel); n > 0 {
			b.ReportMetric(1000*metricSum(metrics, "ioc_sink_write_seconds_sum"+sel)/n, sink+"_write_ms")
			b.ReportMetric(metricSum(metrics, "ioc_sink_batch_events_sum"+sel)/n, sink+"_batch")
		}
	}
}
