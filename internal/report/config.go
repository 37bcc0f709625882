package report

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/ioc-vn/ioc/internal/report/worktime"
)

// Config configures the report component. Defaults() holds every default value.
type Config struct {
	Catalogue     string        `yaml:"catalogue"`       // service catalogue file (configs/services.yaml)
	Store         StoreConfig   `yaml:"store"`           // where reports are kept
	PhotoDir      string        `yaml:"photo_dir"`       // directory of cleaned photos and thumbnails
	PublicURL     string        `yaml:"public_url"`      // absolute base URL of links (Open311, photos); empty: from each request
	CodePrefix    string        `yaml:"code_prefix"`     // tracking code prefix: BT → BT-7K3Q9X
	Timezone      string        `yaml:"timezone"`        // zone of Open311 datetimes
	MaxPhotos     int           `yaml:"max_photos"`      // photos per report
	MaxPhotoBytes int64         `yaml:"max_photo_bytes"` // per photo
	MaxBodyBytes  int64         `yaml:"max_body_bytes"`  // whole request body
	NearbyRadius  float64       `yaml:"nearby_radius_m"` // duplicate suggestion radius, metres
	ReopenWindow  time.Duration `yaml:"reopen_window"`   // how long after resolution a citizen may reopen
	EscalateEvery time.Duration `yaml:"escalate_every"`  // how often overdue reports are looked for
	RateIP        RateConfig    `yaml:"rate_ip"`         // anonymous submissions per client IP
	RateDevice    RateConfig    `yaml:"rate_device"`     // anonymous submissions per device_id
	// TrackFailures limits wrong tracking codes per client address (IPv6 per /64): once the bucket is
	// empty, every code lookup from there (tracking page, reopen, Open311 tokens) is 429 until it refills.
	TrackFailures RateConfig        `yaml:"track_failures"`
	MaxClients    int               `yaml:"max_clients"`   // rate limiter entries kept (least recently seen evicted)
	BotCheck      string            `yaml:"bot_check"`     // on | off: form token + honeypot on the native API
	FormSecret    string            `yaml:"form_secret"`   // HMAC key of form tokens (≥ 32 characters)
	MinFillTime   time.Duration     `yaml:"min_fill_time"` // a form token younger than this is refused
	FormMaxAge    time.Duration     `yaml:"form_max_age"`  // a form token older than this is refused
	Open311       Open311Config     `yaml:"open311"`
	PhotoDecode   PhotoDecodeConfig `yaml:"photo_decode"` // bounds on decoding citizens' photos
	// MaxUploadMemory bounds the submission bodies held in memory at once (each counts its
	// Content-Length, max_body_bytes when unknown); a body that finds no room within
	// photo_decode.wait is refused with 503.
	MaxUploadMemory int64 `yaml:"max_upload_memory"`
	// UploadMinRate and UploadGrace let a submission's body take longer than the server's read
	// timeout while it arrives at UploadMinRate bytes a second after UploadGrace (then it is cut).
	UploadMinRate int64         `yaml:"upload_min_rate"`
	UploadGrace   time.Duration `yaml:"upload_grace"`
	// Calendar is the working time deadlines are counted in (docs/REPORTS.md).
	Calendar worktime.Config `yaml:"calendar"`
	// Severities are the report classes with their deadlines; DefaultSeverity is the class of a
	// category that names none.
	Severities      []Severity `yaml:"severities"`
	DefaultSeverity string     `yaml:"default_severity"`
	// Escalation names who is told of reports nearing or past a deadline.
	Escalation EscalationConfig `yaml:"escalation"`
}

// PhotoDecodeConfig bounds photo decoding across all requests (docs/SECURITY.md).
type PhotoDecodeConfig struct {
	MaxBytes      int64         `yaml:"max_bytes"`      // memory all decodes at once may take (per photo: its header's estimate)
	MaxConcurrent int           `yaml:"max_concurrent"` // decodes at once
	Wait          time.Duration `yaml:"wait"`           // longest a photo waits for room before the report is refused with 503
}

// RateConfig is a token bucket: one submission per Every, bursts up to Burst.
type RateConfig struct {
	Every time.Duration `yaml:"every"`
	Burst int           `yaml:"burst"`
}

// Open311Config fills the Open311 discovery document.
type Open311Config struct {
	JurisdictionID string `yaml:"jurisdiction_id"` // the jurisdiction served; another one in a request is 404
	Contact        string `yaml:"contact"`         // who to contact about the API
	KeyService     string `yaml:"key_service"`     // how to get an api_key
	Changeset      string `yaml:"changeset"`       // RFC 3339 time of the last change to the endpoints
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Catalogue:     "configs/services.yaml",
		Store:         StoreConfig{Driver: DriverSQLite, Path: "data/reports.db"},
		PhotoDir:      "data/photos",
		CodePrefix:    "BT",
		Timezone:      "Asia/Ho_Chi_Minh",
		MaxPhotos:     5,
		MaxPhotoBytes: 8 << 20,
		MaxBodyBytes:  45 << 20,
		NearbyRadius:  50,
		ReopenWindow:  7 * 24 * time.Hour,
		EscalateEvery: time.Minute,
		RateIP:        RateConfig{Every: 20 * time.Second, Burst: 10},
		RateDevice:    RateConfig{Every: time.Minute, Burst: 5},
		TrackFailures: RateConfig{Every: time.Minute, Burst: 10},
		MaxClients:    100_000,
		BotCheck:      "on",
		MinFillTime:   3 * time.Second,
		FormMaxAge:    2 * time.Hour,
		Open311: Open311Config{
			JurisdictionID: "bentre.gov.vn",
			Contact:        "Trung tâm IOC tỉnh Bến Tre / Bến Tre IOC, ioc@bentre.gov.vn",
			KeyService:     "Liên hệ Trung tâm IOC để được cấp api_key / contact the IOC for an api_key",
			Changeset:      "2025-01-01T00:00:00+07:00",
		},
		PhotoDecode:     PhotoDecodeConfig{MaxBytes: 512 << 20, MaxConcurrent: 4, Wait: 10 * time.Second},
		UploadMinRate:   16 << 10,
		MaxUploadMemory: 512 << 20,
		UploadGrace:     30 * time.Second,
		Calendar:        worktime.Defaults(),
		Severities:      DefaultSeverities(),
		DefaultSeverity: "binh_thuong",
		Escalation: EscalationConfig{
			Supervisors: map[string]string{DefaultUnit: "Văn phòng UBND tỉnh / Provincial People's Committee office"},
			IOC:         "Trung tâm IOC tỉnh / provincial IOC",
			IOCAfter:    4 * time.Hour,
		},
	}
}

var prefixRE = regexp.MustCompile(`^[A-Z]{1,4}$`)

// Validate reports every problem at once with its key path. It does no I/O.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Catalogue == "" {
		bad("catalogue: required")
	}
	switch c.Store.Driver {
	case DriverSQLite:
		if c.Store.Path == "" {
			bad("store.path: required for driver sqlite")
		}
	case DriverPostgres:
		if c.Store.DSN == "" {
			bad("store.dsn: required for driver postgres")
		}
	default:
		bad("store.driver: must be %s or %s, got %q", DriverSQLite, DriverPostgres, c.Store.Driver)
	}
	if c.PhotoDir == "" {
		bad("photo_dir: required")
	}
	if u, err := url.Parse(c.PublicURL); c.PublicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "") {
		bad("public_url: must be an absolute http(s) URL without query, got %q", c.PublicURL)
	}
	if !prefixRE.MatchString(c.CodePrefix) {
		bad("code_prefix: must be 1-4 capital letters, got %q", c.CodePrefix)
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		bad("timezone: unknown zone %q", c.Timezone)
	}
	if c.Open311.JurisdictionID == "" || strings.ContainsFunc(c.Open311.JurisdictionID, unicode.IsSpace) {
		bad("open311.jurisdiction_id: required, without spaces")
	}
	if c.MaxPhotos < 0 || c.MaxPhotos > 20 {
		bad("max_photos: must be 0..20")
	}
	if c.MaxPhotoBytes <= 0 {
		bad("max_photo_bytes: must be positive")
	}
	if c.MaxBodyBytes < c.MaxPhotoBytes*int64(c.MaxPhotos) {
		bad("max_body_bytes: must be at least max_photos × max_photo_bytes")
	}
	if c.NearbyRadius <= 0 || c.NearbyRadius > 5000 {
		bad("nearby_radius_m: must be in (0, 5000]")
	}
	if c.ReopenWindow <= 0 {
		bad("reopen_window: must be positive")
	}
	if c.EscalateEvery <= 0 {
		bad("escalate_every: must be positive")
	}
	for _, r := range []struct {
		name string
		RateConfig
	}{{"rate_ip", c.RateIP}, {"rate_device", c.RateDevice}, {"track_failures", c.TrackFailures}} {
		if r.Every <= 0 {
			bad("%s.every: must be positive", r.name)
		}
		if r.Burst < 1 {
			bad("%s.burst: must be at least 1", r.name)
		}
	}
	if c.MaxClients < 1 {
		bad("max_clients: must be at least 1")
	}
	if c.PhotoDecode.MaxBytes < 16<<20 {
		bad("photo_decode.max_bytes: must be at least 16 MiB (16777216)")
	}
	if c.PhotoDecode.MaxConcurrent < 1 {
		bad("photo_decode.max_concurrent: must be at least 1")
	}
	if c.PhotoDecode.Wait <= 0 {
		bad("photo_decode.wait: must be positive")
	}
	if c.MaxUploadMemory < c.MaxBodyBytes {
		bad("max_upload_memory: must be at least max_body_bytes (%d)", c.MaxBodyBytes)
	}
	if c.UploadMinRate < 1024 {
		bad("upload_min_rate: must be at least 1024 bytes a second")
	}
	if c.UploadGrace < 0 {
		bad("upload_grace: must not be negative")
	}
	switch c.BotCheck {
	case "on":
		if len(c.FormSecret) < 32 {
			bad("form_secret: must be at least 32 characters when bot_check is on")
		}
		if c.MinFillTime < 0 || c.FormMaxAge <= c.MinFillTime {
			bad("form_max_age: must be longer than min_fill_time (≥ 0)")
		}
	case "off":
	default:
		bad("bot_check: must be on or off, got %q", c.BotCheck)
	}
	errs = append(errs, c.Calendar.Validate("calendar"))
	errs = append(errs, validateSeverities(c.Severities, c.DefaultSeverity)...)
	errs = append(errs, c.Escalation.validate()...)
	return errors.Join(errs...)
}
