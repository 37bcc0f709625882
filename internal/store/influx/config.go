package influx

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Spool full policies.
const (
	OnFullBlock      = "block"       // Write waits for room: backpressure reaches the MQTT source
	OnFullDropOldest = "drop_oldest" // the oldest spooled points are dropped and counted
)

// Config configures the InfluxDB store. It works with InfluxDB 2.x (url, token, org, bucket) and with
// InfluxDB 1.8+ through its v2-compatible API (bucket "db/rp" or "db", token "user:password" or empty,
// org ignored).
type Config struct {
	URL       string        `yaml:"url"`        // http://127.0.0.1:8086
	Token     string        `yaml:"token"`      // API token (2.x/3.x) or user:password (1.8 with auth); IOC_INFLUX_TOKEN_FILE
	Org       string        `yaml:"org"`        // organisation (2.x); ignored by 1.8
	Bucket    string        `yaml:"bucket"`     // bucket, or "db/rp" on 1.8 (the query path needs db/rp)
	BatchSize int           `yaml:"batch_size"` // points per write request, at most
	Writers   int           `yaml:"writers"`    // concurrent write requests, at most
	Timeout   time.Duration `yaml:"timeout"`    // one write or query; a slower write goes to the spool
	Gzip      bool          `yaml:"gzip"`       // gzip write bodies
	Spool     SpoolConfig   `yaml:"spool"`
}

// SpoolConfig bounds the on-disk spool that keeps points while InfluxDB is unreachable or slow.
type SpoolConfig struct {
	Dir      string `yaml:"dir"`
	MaxBytes int64  `yaml:"max_bytes"`
	OnFull   string `yaml:"on_full"` // block | drop_oldest
}

// Defaults returns the defaults (an InfluxDB on localhost, database ioc, retention policy autogen).
func Defaults() Config {
	return Config{URL: "http://127.0.0.1:8086", Bucket: "ioc/autogen", BatchSize: 5000, Writers: 4,
		Timeout: 10 * time.Second, Gzip: true,
		Spool: SpoolConfig{Dir: "data/influx-spool", MaxBytes: 1 << 30, OnFull: OnFullBlock}}
}

// Validate reports every problem with its key (relative to the influx section).
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("url", "%q is not an http:// or https:// URL", c.URL)
	}
	if db, rp := splitBucket(c.Bucket); db == "" || strings.Count(c.Bucket, "/") > 1 || (strings.Contains(c.Bucket, "/") && rp == "") {
		add("bucket", "%q must be a bucket name or db/rp", c.Bucket)
	}
	if c.BatchSize < 1 || c.BatchSize > 100000 {
		add("batch_size", "must be between 1 and 100000 points")
	}
	if c.Writers < 1 || c.Writers > 64 {
		add("writers", "must be between 1 and 64")
	}
	if c.Timeout < time.Second {
		add("timeout", "must be at least 1s")
	}
	if c.Spool.Dir == "" {
		add("spool.dir", "must be set")
	}
	if c.Spool.MaxBytes < 1<<20 {
		add("spool.max_bytes", "must be at least 1048576 (1 MiB)")
	}
	if c.Spool.OnFull != OnFullBlock && c.Spool.OnFull != OnFullDropOldest {
		add("spool.on_full", "%q is not one of %s, %s", c.Spool.OnFull, OnFullBlock, OnFullDropOldest)
	}
	return errors.Join(errs...)
}

// splitBucket splits "db/rp" (1.8 naming) or "bucket" (2.x, and the database name of its v1 mapping).
func splitBucket(b string) (db, rp string) {
	db, rp, _ = strings.Cut(b, "/")
	return db, rp
}
