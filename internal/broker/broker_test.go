package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// With credentials configured, the embedded broker admits clients over loopback (ioc's own) and
// others only with the right user name and password.
func TestCredentialsRequiredBeyondLoopback(t *testing.T) {
	h := &credHook{user: []byte("tram"), pass: []byte("mật-khẩu-broker")}
	for _, tc := range []struct {
		name, remote, user, pass string
		want                     bool
	}{
		{"loopback without credentials", "127.0.0.1:50000", "", "", true},
		{"IPv6 loopback", "[::1]:50000", "", "", true},
		{"remote without credentials", "10.20.0.7:50000", "", "", false},
		{"remote, wrong password", "10.20.0.7:50000", "tram", "sai", false},
		{"remote, wrong user", "10.20.0.7:50000", "khac", "mật-khẩu-broker", false},
		{"remote with credentials", "10.20.0.7:50000", "tram", "mật-khẩu-broker", true},
		{"unparseable address", "pipe", "", "", false},
	} {
		cl := &mqtt.Client{Net: mqtt.ClientConnection{Remote: tc.remote}}
		pk := packets.Packet{Connect: packets.ConnectParams{Username: []byte(tc.user), Password: []byte(tc.pass)}}
		if got := h.OnConnectAuthenticate(cl, pk); got != tc.want {
			t.Errorf("%s: admitted %v, want %v", tc.name, got, tc.want)
		}
	}
	if !h.Provides(mqtt.OnConnectAuthenticate) || !h.Provides(mqtt.OnACLCheck) {
		t.Error("the hook must answer authentication and ACL checks (mochi refuses everything otherwise)")
	}
}

// startBroker runs an embedded broker on a free loopback port until the test ends, with ioc's
// subscriber "ioc-sub".
func startBroker(t *testing.T) *Broker {
	t.Helper()
	b, err := New(Config{Listen: "127.0.0.1:0", MaxInflight: 64, Watch: []string{"ioc-sub"}},
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return b
}

func connect(t *testing.T, opts *paho.ClientOptions) paho.Client {
	t.Helper()
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// An inbound QoS 1 or 2 publish that ioc's subscriber takes is acknowledged to the device only once that
// subscriber acknowledged it (ioc does after its durable commit), and the acknowledgements go back in the
// order the publishes came; a publish ioc does not take is acknowledged at once.
func TestAcknowledgedOnlyAfterIOCAcknowledged(t *testing.T) {
	b := startBroker(t)
	got := make(chan paho.Message, 16)
	sub := connect(t, paho.NewClientOptions().AddBroker(b.URL()).SetClientID("ioc-sub").SetCleanSession(false).
		SetAutoAckDisabled(true).SetOrderMatters(true))
	if tok := sub.Subscribe("ioc/devices/+/telemetry", 1, func(_ paho.Client, m paho.Message) { got <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub := connect(t, paho.NewClientOptions().AddBroker(b.URL()).SetClientID("device").SetProtocolVersion(4))
	receive := func() paho.Message {
		t.Helper()
		select {
		case m := <-got:
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("ioc's subscriber received nothing")
			return nil
		}
	}

	for _, qos := range []byte{1, 2} {
		first := pub.Publish("ioc/devices/a/telemetry", qos, false, fmt.Sprintf(`{"qos":%d,"n":1}`, qos))
		second := pub.Publish("ioc/devices/a/telemetry", qos, false, fmt.Sprintf(`{"qos":%d,"n":2}`, qos))
		m1 := receive()
		// mochi alone acknowledges before it routes: by now the device would have its acknowledgement.
		if done(first) {
			t.Fatalf("QoS %d: the device was acknowledged before ioc stored its publish", qos)
		}
		if qos == 1 {
			m2 := receive()
			m2.Ack() // the second stored first: its acknowledgement still waits for the first
			waitPending(t, b, 2)
			if done(first) || done(second) {
				t.Fatal("QoS 1: an acknowledgement overtook that of an earlier publish")
			}
			m1.Ack()
		} else {
			m1.Ack() // QoS 2 waits in the publisher's read loop, so the second comes only now
			receive().Ack()
		}
		for _, tok := range []paho.Token{first, second} {
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("QoS %d: no acknowledgement after ioc acknowledged: %v", qos, tok.Error())
			}
		}
	}
	if tok := pub.Publish("other/topic", 1, false, "x"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("a publish ioc does not take is not acknowledged: %v", tok.Error())
	}
	if n := b.acks.pending(); n != 0 {
		t.Fatalf("%d acknowledgements still pending", n)
	}
}

// waitPending waits until n inbound publishes await ioc's acknowledgement.
func waitPending(t *testing.T, b *Broker, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); b.acks.pending() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d publishes pending, want %d", b.acks.pending(), n)
		}
	}
}

func done(tok paho.Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}
