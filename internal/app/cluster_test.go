package app

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ioc-vn/ioc/internal/config"
	"github.com/ioc-vn/ioc/internal/mqtttest"
	"github.com/ioc-vn/ioc/internal/natstest"
	"github.com/ioc-vn/ioc/internal/pgtest"
)

// clusterNode is the config of one node of a two-node cluster on a shared Mosquitto and NATS.
func clusterNode(t *testing.T, id, mqttURL, natsURL string) config.Config {
	cfg := testConfig(t)
	cfg.Broker.Enabled = false
	c := &cfg.Collectors[0]
	c.Broker, c.ClientID = mqttURL, "ioc-"+id
	for i := range c.Topics {
		c.Topics[i].Filter = "$share/ioc/" + c.Topics[i].Filter
	}
	cfg.Cluster = config.Cluster{NodeID: id, NATSURL: natsURL, Bucket: "ioc_state"}
	return cfg
}

// TestTwoNodes: messages published to a shared subscription are each stored by exactly one node, and a
// websocket client on either node sees every entity, whichever node ingested it.
func TestTwoNodes(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	natsURL := natstest.Start(t)
	cfgA, cfgB := clusterNode(t, "a", m.URL, natsURL), clusterNode(t, "b", m.URL, natsURL)
	a := startApp(t, cfgA)
	b := startApp(t, cfgB)
	liveA, liveB := dialLive(t, a.HTTP.Addr()), dialLive(t, b.HTTP.Addr())

	const n = 400
	pub := publisher(t, m.URL, "cluster-pub")
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < n; i++ {
		publish(t, pub, fmt.Sprintf("ioc/devices/cl-%03d/telemetry", i), fmt.Sprintf(`{"ts":%d,"values":{"v":%d}}`,
			base.Add(time.Duration(i)*time.Millisecond).UnixMilli(), i))
	}
	stored := func(cfg config.Config) map[string]bool {
		db, err := sql.Open("sqlite", "file:"+cfg.Store.Path+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.QueryContext(context.Background(), `SELECT entity FROM readings`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				t.Fatal(err)
			}
			if out[e] {
				t.Fatalf("%s stored twice on one node", e)
			}
			out[e] = true
		}
		return out
	}
	var sa, sb map[string]bool
	waitFor(t, 20*time.Second, "all messages stored across the two nodes", func() bool {
		sa, sb = stored(cfgA), stored(cfgB)
		return len(sa)+len(sb) >= n
	})
	if len(sa) == 0 || len(sb) == 0 {
		t.Fatalf("node a stored %d, node b %d: the shared subscription did not split the load", len(sa), len(sb))
	}
	for e := range sa {
		if sb[e] {
			t.Fatalf("%s stored by both nodes", e)
		}
	}
	if len(sa)+len(sb) != n {
		t.Fatalf("stored %d + %d, want %d", len(sa), len(sb), n)
	}
	// A device ingested by a is seen live on b, and one ingested by b on a.
	var fromA, fromB string
	for e := range sa {
		fromA = e
		break
	}
	for e := range sb {
		fromB = e
		break
	}
	var ia, ib int
	fmt.Sscanf(fromA, "cl-%d", &ia)
	fmt.Sscanf(fromB, "cl-%d", &ib)
	liveB.waitItem(t, fromA, "v", float64(ia))
	liveA.waitItem(t, fromB, "v", float64(ib))
	// A node started later gets the whole picture in its snapshot.
	cfgC := clusterNode(t, "c", m.URL, natsURL)
	c := startApp(t, cfgC)
	waitFor(t, 10*time.Second, "late node has every entity", func() bool { return c.Registry.Len() >= n })
	if _, ok := c.Registry.Get(fromA); !ok {
		t.Fatalf("late node lacks %s", fromA)
	}
}

// TestClusterNodeKilledLosesNothing: two ioc processes share a Mosquitto shared subscription and NATS;
// one is killed with SIGKILL in the middle of the stream and started again. Every message is stored
// exactly once across the two nodes: what the killed node had not acknowledged stays in its durable
// session and is redelivered to it when it comes back.
func TestClusterNodeKilledLosesNothing(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	natsURL := natstest.Start(t)
	type node struct {
		config, db, http string
	}
	nodes := map[string]*node{}
	for _, id := range []string{"a", "b"} {
		dir := t.TempDir()
		n := &node{config: filepath.Join(dir, "ioc.yaml"), db: filepath.Join(dir, "ioc.db"),
			http: fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))}
		yaml := fmt.Sprintf(`
log: {level: warn}
http: {addr: "%s"}
broker: {enabled: false}
store: {path: "%s"}
alarm: {store: {path: "%s/alarms.db"}}
reports: {store: {path: "%s/reports.db"}, photo_dir: "%s/photos", catalogue: "../../configs/services.yaml", calendar: {holidays: "../../configs/holidays-vn.yaml"}}
geo: {admin_files: ["../../configs/admin/83.geojson"]}
cluster: {node_id: "%s", nats_url: "%s"}
collectors:
  - name: telemetry
    type: mqtt
    broker: "%s"
    client_id: ioc-node-%s
    qos: 1
    clean_session: false
    ack: after_store
    max_payload: 65536
    keep_alive: 10s
    topics:
      - {filter: "$share/ioc/ioc/devices/+/telemetry", format: thingsboard}
`, n.http, n.db, dir, dir, dir, id, natsURL, m.URL, id)
		if err := os.WriteFile(n.config, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		nodes[id] = n
	}
	a := startProcess(t, nodes["a"].config, nodes["a"].http)
	startProcess(t, nodes["b"].config, nodes["b"].http)

	const total = 4000
	pub := publisher(t, m.URL, "cluster-kill-pub")
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < total; i++ {
		if i == total/2 {
			if err := a.cmd.Process.Kill(); err != nil { // SIGKILL: no drain, no goodbye
				t.Fatal(err)
			}
			<-a.done
		}
		if i == total*3/4 {
			a = startProcess(t, nodes["a"].config, nodes["a"].http)
		}
		publish(t, pub, fmt.Sprintf("ioc/devices/k-%02d/telemetry", i%40), fmt.Sprintf(`{"ts":%d,"values":{"n":%d}}`,
			base.Add(time.Duration(i)*time.Millisecond).UnixMilli(), i))
	}
	count := func(db string) map[int]bool {
		conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		rows, err := conn.Query(`SELECT value FROM readings`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[int]bool{}
		for rows.Next() {
			var v float64
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out[int(v)] = true
		}
		return out
	}
	var ca, cb map[int]bool
	waitFor(t, 60*time.Second, "every message stored on one node or the other", func() bool {
		ca, cb = count(nodes["a"].db), count(nodes["b"].db)
		return len(ca)+len(cb) >= total
	})
	for v := range ca {
		if cb[v] {
			t.Fatalf("message %d stored on both nodes", v)
		}
	}
	if len(ca)+len(cb) != total {
		t.Fatalf("stored %d + %d, want %d", len(ca), len(cb), total)
	}
	for i := 0; i < total; i++ {
		if !ca[i] && !cb[i] {
			t.Fatalf("message %d lost", i)
		}
	}
}

// TestClusterOneAlarmAcrossNodes: two nodes share a Mosquitto shared subscription, NATS and one
// PostgreSQL alarm store. Readings over the threshold for one station reach both nodes at the same
// time, so both engines try to raise the same alarm: exactly one is open, and both nodes answer it.
func TestClusterOneAlarmAcrossNodes(t *testing.T) {
	m := mqtttest.StartMosquitto(t)
	natsURL := natstest.Start(t)
	dsn := pgtest.Schema(t, "cluster_alarm")
	var nodes []*App
	for _, id := range []string{"a", "b"} {
		cfg := clusterNode(t, id, m.URL, natsURL)
		if err := yaml.Unmarshal([]byte(salinityRule), &cfg.Alarm); err != nil {
			t.Fatal(err)
		}
		cfg.Alarm.Store.Type, cfg.Alarm.Store.DSN = "postgres", dsn
		nodes = append(nodes, startApp(t, cfg))
	}
	pub := publisher(t, m.URL, "cluster-alarm-pub")
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	const n = 40 // round-robin over two nodes: each raises from its own first reading
	for i := 0; i < n; i++ {
		publish(t, pub, "ioc/devices/sal-ba-lai/telemetry", fmt.Sprintf(`{"ts":%d,"values":{"salinity":%g,"lat":10.05,"lon":106.60}}`,
			base.Add(time.Duration(i)*time.Millisecond).UnixMilli(), 5+float64(i)/100))
	}
	stored := func(a *App) float64 {
		return metricValue(t, a.Gatherer, "ioc_sink_batch_events_sum", map[string]string{"sink": "store"})
	}
	waitFor(t, 20*time.Second, "every reading processed", func() bool { return stored(nodes[0])+stored(nodes[1]) >= n })
	if stored(nodes[0]) == 0 || stored(nodes[1]) == 0 {
		t.Fatalf("node a processed %g, node b %g: both nodes must see the station", stored(nodes[0]), stored(nodes[1]))
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var total, open int
	waitFor(t, 10*time.Second, "the alarm stored", func() bool {
		if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE active = 1) FROM alarms WHERE source = 'sal-ba-lai' AND rule = 'salinity-high'`).Scan(&total, &open); err != nil {
			t.Fatal(err)
		}
		return total > 0
	})
	time.Sleep(200 * time.Millisecond) // let a racing second raise land, if the store let one through
	if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE active = 1) FROM alarms WHERE source = 'sal-ba-lai' AND rule = 'salinity-high'`).Scan(&total, &open); err != nil {
		t.Fatal(err)
	}
	if total != 1 || open != 1 {
		t.Fatalf("%d alarms (%d open) for one station and rule across two nodes, want exactly 1", total, open)
	}
	for i, a := range nodes {
		var out struct {
			Alarms []struct {
				ID string `json:"id"`
			} `json:"alarms"`
		}
		getJSON(t, "http://"+a.HTTP.Addr()+"/api/v1/alarms?source=sal-ba-lai", &out)
		if len(out.Alarms) != 1 {
			t.Errorf("node %d lists %d alarms for the station, want 1", i, len(out.Alarms))
		}
	}
}
