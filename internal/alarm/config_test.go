package alarm

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func loadConfig(t *testing.T, path string) Config {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg
}

func TestExampleConfig(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg := loadConfig(t, "testdata/alarm.good.yaml")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("example config: %v", err)
	}
	if len(cfg.Rules) != 9 || cfg.Rules[0].When.Threshold.For.D().Minutes() != 10 {
		t.Fatalf("example rules not decoded: %+v", cfg.Rules[0])
	}
	err := loadConfig(t, "testdata/alarm.bad.yaml").Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{
		"store.type: must be sqlite or postgres",
		"queue_size: must be positive",
		"rules[0] (salinity-high): when.threshold.clear: 4.5 is above the threshold 4",
		"rules[0] (salinity-high): when.threshold.for: must not be negative",
		"rules[1] (loop): when: cyclic rule reference loop → loop",
		"notify.webhooks[0].url",
		"notify.webhooks[0].secret",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %q:\n%v", want, err)
		}
	}
}
