package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestShippedConfigsLoad(t *testing.T) {
	for _, name := range []string{"ioc.example.yaml", "demo.yaml"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(filepath.Join("..", "..", "configs", name), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("%s invalid: %v", name, err)
			}
		})
	}
	// The example documents the defaults: loading it must give exactly them.
	cfg, err := Load(filepath.Join("..", "..", "configs", "ioc.example.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Pipeline, Default().Pipeline; got != want {
		t.Errorf("example pipeline %+v differs from defaults %+v", got, want)
	}
	if got, want := cfg.Live, Default().Live; got != want {
		t.Errorf("example live %+v differs from defaults %+v", got, want)
	}
	if got, want := cfg.Influx, Default().Influx; got != want {
		t.Errorf("example influx %+v differs from defaults %+v", got, want)
	}
	if got, want := cfg.Auth, Default().Auth; !reflect.DeepEqual(got, want) {
		t.Errorf("example auth %+v differs from defaults %+v", got, want)
	}
	if got, want := cfg.Admin, Default().Admin; got != want {
		t.Errorf("example admin %+v differs from defaults %+v", got, want)
	}
}

// TestBadConfigs loads testdata/*.bad.yaml and expects every line of the matching .errors file.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			wantData, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".errors")
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(f, nil)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, line := range strings.Split(strings.TrimSpace(string(wantData)), "\n") {
				if !strings.Contains(err.Error(), line) {
					t.Errorf("error does not report %q; got:\n%v", line, err)
				}
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("", []string{
		"IOC_HTTP_ADDR=[::1]:9090",
		"IOC_HTTP_ALLOWED_ORIGINS=https://a.example, https://b.example",
		"IOC_BROKER_ENABLED=false",
		"IOC_COLLECTORS_0_BROKER=tcp://10.1.2.3:1883",
		"IOC_COLLECTORS_0_PASSWORD_FILE=" + secret,
		"IOC_COLLECTORS_0_TOPICS_1_FORMAT=senml",
		"IOC_PIPELINE_QUEUE_SIZE=99",
		"IOC_PIPELINE_MAX_FUTURE=90s",
		"UNRELATED=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Collectors[0]
	switch {
	case cfg.HTTP.Addr != "[::1]:9090":
		t.Errorf("http.addr = %q", cfg.HTTP.Addr)
	case len(cfg.HTTP.AllowedOrigins) != 2 || cfg.HTTP.AllowedOrigins[1] != "https://b.example":
		t.Errorf("allowed_origins = %q", cfg.HTTP.AllowedOrigins)
	case cfg.Broker.Enabled:
		t.Error("broker.enabled not overridden")
	case c.Broker != "tcp://10.1.2.3:1883" || c.Password != "s3cret":
		t.Errorf("collector broker %q password %q", c.Broker, c.Password)
	case c.Topics[1].Format != "senml":
		t.Errorf("topics[1].format = %q", c.Topics[1].Format)
	case cfg.Pipeline.QueueSize != 99 || cfg.Pipeline.MaxFuture != 90*time.Second:
		t.Errorf("pipeline = %+v", cfg.Pipeline)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("overridden config invalid: %v", err)
	}
}

func TestEnvErrorsNameTheVariable(t *testing.T) {
	_, err := Load("", []string{"IOC_PIPELINE_QUEUE_SIZE=lots", "IOC_LIVE_PING_INTERVAL=often", "IOC_HTTP_ADDR_FILE=/nonexistent/x"})
	if err == nil {
		t.Fatal("bad environment accepted")
	}
	for _, want := range []string{"IOC_PIPELINE_QUEUE_SIZE (pipeline.queue_size): not an integer", "IOC_LIVE_PING_INTERVAL", "IOC_HTTP_ADDR_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestCollectorEntriesGetDefaults: an entry of a collectors list sets only what differs from the default
// collector (ack, max_payload, keep_alive, qos… were zero and refused), and unknown keys in it are
// still refused.
func TestCollectorEntriesGetDefaults(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(`collectors:
  - name: river
    client_id: ioc-river
    broker: tcp://127.0.0.1:1883
    topics: [{filter: "song/+/tele", format: thingsboard}]
  - name: air
    client_id: ioc-air
    qos: 0
    ack: on_receive
    topics: [{filter: "air/#", format: senml}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(good, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("an entry with only its own keys is refused: %v", err)
	}
	def := defaultCollector()
	river, air := cfg.Collectors[0], cfg.Collectors[1]
	if river.Ack != def.Ack || river.MaxPayload != def.MaxPayload || river.KeepAlive != def.KeepAlive ||
		river.QoS != def.QoS || river.ReadyGrace != def.ReadyGrace || river.Type != "mqtt" {
		t.Errorf("river did not get the defaults: %+v", river)
	}
	if len(river.Topics) != 1 || river.Topics[0].Filter != "song/+/tele" || river.Broker != "tcp://127.0.0.1:1883" {
		t.Errorf("river lost its own keys: %+v", river)
	}
	if air.QoS != 0 || air.Ack != "on_receive" || air.Broker != "embedded" {
		t.Errorf("air: an explicit qos 0 / ack must stay, the broker default apply: %+v", air)
	}

	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("collectors:\n  - name: x\n    client_id: x\n    keepalive: 10s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(typo, nil); err == nil || !strings.Contains(err.Error(), "keepalive") {
		t.Errorf("unknown key in a collectors entry: %v, want it refused", err)
	}
}
