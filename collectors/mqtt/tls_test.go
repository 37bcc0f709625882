package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ioc-vn/ioc/internal/mqtttest"
	"github.com/ioc-vn/ioc/internal/tlstest"
	"github.com/ioc-vn/ioc/stream"
)

// TestTLSAndPasswordTowardABroker: a Mosquitto that requires a password and, on its TLS listener, a
// client certificate signed by a private CA. The collector reaches it with ca_file, cert_file,
// key_file, username and password, and receives what is published there.
func TestTLSAndPasswordTowardABroker(t *testing.T) {
	dir := t.TempDir()
	// mosquitto started as root drops its privileges before reading certificates and passwords.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	certs := tlstest.Write(t, dir)
	pw := filepath.Join(dir, "passwords")
	if out, err := exec.Command("mosquitto_passwd", "-c", "-b", pw, "ioc", "mật-khẩu-mqtt").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd (installed with mosquitto by make test): %v %s", err, out)
	}
	tlsPort := mqtttest.FreePort(t)
	m := mqtttest.StartMosquitto(t, "allow_anonymous false", "password_file "+pw,
		fmt.Sprintf("listener %d 127.0.0.1", tlsPort), "cafile "+certs.CA,
		"certfile "+certs.ServerCert, "keyfile "+certs.ServerKey, "require_certificate true")
	got := make(chan stream.Event, 10)
	emit := func(_ context.Context, b stream.Batch) error {
		for _, e := range b.Events {
			got <- e
		}
		if b.Done != nil {
			b.Done()
		}
		return nil
	}
	met := NewMetrics(nil)
	c, err := New(Config{Name: "tls", Broker: fmt.Sprintf("ssl://127.0.0.1:%d", tlsPort), ClientID: "ioc-tls-test",
		Username: "ioc", Password: "mật-khẩu-mqtt", CAFile: certs.CA,
		CertFile: certs.ClientCert, KeyFile: certs.ClientKey,
		QoS: 1, Ack: AckAfterStore, MaxPayload: 4096, KeepAlive: 30 * time.Second, CleanSession: true,
		Topics: []Topic{{Filter: "ioc/devices/+/telemetry", Format: "thingsboard"}}}, slog.New(slog.DiscardHandler), met)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, emit) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
	}()
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(m.URL).SetClientID("tls-pub").SetUsername("ioc").SetPassword("mật-khẩu-mqtt"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	deadline := time.After(15 * time.Second)
	for {
		if tok := pub.Publish("ioc/devices/bt-sal-tls/telemetry", 1, false, `{"salinity": 4.5}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		select {
		case e := <-got:
			if e.Entity != "bt-sal-tls" || e.Values["salinity"] != 4.5 {
				t.Fatalf("event %+v", e)
			}
			return
		case <-time.After(500 * time.Millisecond): // not subscribed yet: publish again
		case <-deadline:
			t.Fatal("nothing arrived over TLS")
		}
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing CA file", Config{CAFile: filepath.Join(dir, "nope.pem")}, "ca_file"},
		{"CA file without PEM", Config{CAFile: bad}, "no PEM certificate"},
		{"bad client pair", Config{CertFile: bad, KeyFile: bad}, "cert_file/key_file"},
	} {
		tc.cfg.Name, tc.cfg.Ack = "x", AckAfterStore
		if _, err := New(tc.cfg, slog.New(slog.DiscardHandler), NewMetrics(nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}
