// Package cluster lets several ioc nodes share one live picture through NATS JetStream. Every node
// publishes the events it ingested, once, to a key-value bucket keyed by entity (history 1, in memory):
// the bucket is at once the fan-out channel — every node watches it and hands other nodes' events to
// its own registry and websocket clients — and the latest state of every entity, which a node that
// starts or reconnects reads first, so a browser gets the same snapshot whichever node it lands on.
package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ioc-vn/ioc/stream"
)

// Config configures cluster membership.
type Config struct {
	NodeID  string // unique per node
	NATSURL string // nats://host:4222
	Bucket  string // key-value bucket for entity state
}

// Node is this process's membership in the cluster.
type Node struct {
	cfg   Config
	log   *slog.Logger
	nc    *nats.Conn
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	apply func(ctx context.Context, events []stream.Event) error
	m     metrics
}

type metrics struct {
	published prometheus.Counter
	received  prometheus.Counter
	errors    *prometheus.CounterVec
}

// message is what travels between nodes.
type message struct {
	Node  string       `json:"node"`
	Event stream.Event `json:"event"`
}

var _ stream.Sink = (*Node)(nil)

// Join connects to NATS and opens (creating if needed) the state bucket. apply receives events
// ingested by other nodes (normally the registry's Write, which updates state and websockets).
func Join(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer, apply func(context.Context, []stream.Event) error) (*Node, error) {
	if cfg.NodeID == "" || cfg.NATSURL == "" || cfg.Bucket == "" {
		return nil, errors.New("cluster: node_id, nats_url and bucket must be set")
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("ioc-"+cfg.NodeID), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
	if err != nil {
		return nil, fmt.Errorf("cluster: connect %s: %w", cfg.NATSURL, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: cfg.Bucket, History: 1,
		Storage: jetstream.MemoryStorage, Description: "ioc entity state and live fan-out"})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: state bucket %s: %w", cfg.Bucket, err)
	}
	n := &Node{cfg: cfg, log: log.With("component", "cluster", "node", cfg.NodeID), nc: nc, js: js, kv: kv, apply: apply,
		m: metrics{
			published: prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_cluster_published_total", Help: "Events this node published to the cluster."}),
			received:  prometheus.NewCounter(prometheus.CounterOpts{Name: "ioc_cluster_received_total", Help: "Events from other nodes applied here."}),
			errors:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_cluster_errors_total", Help: "Cluster publish or decode failures, by reason."}, []string{"reason"}),
		}}
	if reg != nil {
		reg.MustRegister(n.m.published, n.m.received, n.m.errors)
	}
	return n, nil
}

// key makes a NATS-safe key from an entity id.
func key(entity string) string { return base64.RawURLEncoding.EncodeToString([]byte(entity)) }

// Write publishes accepted events to the cluster (a live sink: it waits only for the async window).
func (n *Node) Write(ctx context.Context, events []stream.Event) error {
	var futures []jetstream.PubAckFuture
	for i := range events {
		data, err := json.Marshal(message{Node: n.cfg.NodeID, Event: events[i]})
		if err != nil {
			n.m.errors.WithLabelValues("encode").Inc()
			continue
		}
		f, err := n.js.PublishAsync("$KV."+n.cfg.Bucket+"."+key(events[i].Entity), data)
		if err != nil {
			n.m.errors.WithLabelValues("publish").Inc()
			return fmt.Errorf("cluster: publish: %w", err)
		}
		futures = append(futures, f)
	}
	n.m.published.Add(float64(len(futures)))
	select {
	case <-n.js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		n.m.errors.WithLabelValues("ack_timeout").Inc()
		return errors.New("cluster: publish acks timed out")
	}
	for _, f := range futures {
		select {
		case err := <-f.Err():
			n.m.errors.WithLabelValues("publish").Inc()
			return fmt.Errorf("cluster: publish: %w", err)
		default:
		}
	}
	return nil
}

// Run watches the bucket until ctx ends: first the latest state of every entity (all nodes', including
// this node's from before a restart), then live changes from other nodes.
func (n *Node) Run(ctx context.Context) error {
	defer n.nc.Close()
	w, err := n.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("cluster: watch %s: %w", n.cfg.Bucket, err)
	}
	defer w.Stop() //nolint:errcheck // closing at shutdown
	initial := true
	var batch []stream.Event
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := n.apply(ctx, batch); err != nil {
			n.log.Warn("apply cluster events", "error", err)
		}
		n.m.received.Add(float64(len(batch)))
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("cluster: watcher closed")
			}
			if e == nil { // end of the initial values
				initial = false
				flush()
				continue
			}
			var m message
			if err := json.Unmarshal(e.Value(), &m); err != nil {
				n.m.errors.WithLabelValues("decode").Inc()
				continue
			}
			if m.Node == n.cfg.NodeID && !initial {
				continue // already applied locally
			}
			batch = append(batch, m.Event)
			if initial && len(batch) < 1000 {
				continue
			}
			if len(w.Updates()) > 0 && len(batch) < 1000 {
				continue
			}
			flush()
		}
	}
}

// Check reports readiness: the NATS connection is up.
func (n *Node) Check(context.Context) error {
	if !n.nc.IsConnected() {
		return fmt.Errorf("cluster: NATS %s: %s", n.cfg.NATSURL, n.nc.Status())
	}
	return nil
}
