package camera

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ioc-vn/ioc/internal/httpapi"
)

// Authentication modes for inbound HTTP.
const (
	AuthHMAC   = "hmac"   // X-IOC-Timestamp + X-IOC-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp "." body)>
	AuthBearer = "bearer" // Authorization: Bearer <secret>
	AuthBasic  = "basic"  // Authorization: Basic (username, secret) — for cameras that can do nothing else
	AuthNone   = "none"   // IP allow-list only; allow_cidrs must not be empty
)

// Signature headers for AuthHMAC.
const (
	HeaderTimestamp = "X-IOC-Timestamp" // Unix seconds
	HeaderSignature = "X-IOC-Signature" // "sha256=" + lowercase hex
)

// DefaultMaxSkew is how far a signed request's timestamp may be from our clock.
const DefaultMaxSkew = 5 * time.Minute

// AuthConfig protects one inbound path. Secrets belong in the environment-expanded config, never in
// the repository.
type AuthConfig struct {
	Mode       string        `yaml:"mode"`        // hmac | bearer | basic | none
	Secret     string        `yaml:"secret"`      // HMAC key, bearer token or basic password
	Username   string        `yaml:"username"`    // basic only
	AllowCIDRs []string      `yaml:"allow_cidrs"` // optional for hmac/bearer/basic, required for none
	MaxSkew    time.Duration `yaml:"max_skew"`    // hmac only; 0 means DefaultMaxSkew
}

// Validate reports every problem with key paths under prefix.
func (c AuthConfig) Validate(prefix string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	switch c.Mode {
	case AuthHMAC, AuthBearer:
		if len(c.Secret) < 16 {
			bad("secret", "must be at least 16 characters")
		}
	case AuthBasic:
		if c.Username == "" {
			bad("username", "is required for basic")
		}
		if len(c.Secret) < 8 {
			bad("secret", "must be at least 8 characters")
		}
	case AuthNone:
		if len(c.AllowCIDRs) == 0 {
			bad("allow_cidrs", "is required when mode is none")
		}
	default:
		bad("mode", "must be hmac, bearer, basic or none, got %q", c.Mode)
	}
	for i, s := range c.AllowCIDRs {
		if _, err := netip.ParsePrefix(s); err != nil {
			bad(fmt.Sprintf("allow_cidrs[%d]", i), "%q is not a CIDR", s)
		}
	}
	if c.MaxSkew < 0 {
		bad("max_skew", "must not be negative")
	}
	return errors.Join(errs...)
}

// Auth checks inbound requests against an AuthConfig. It is safe for concurrent use.
type Auth struct {
	cfg     AuthConfig
	allow   []netip.Prefix
	skew    time.Duration
	now     func() time.Time
	replays *replayCache
}

// NewAuth builds an Auth. now is the clock (time.Now when nil).
func NewAuth(cfg AuthConfig, now func() time.Time) (*Auth, error) {
	if err := cfg.Validate("auth"); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	a := &Auth{cfg: cfg, skew: cfg.MaxSkew, now: now}
	if a.skew == 0 {
		a.skew = DefaultMaxSkew
	}
	for _, s := range cfg.AllowCIDRs {
		a.allow = append(a.allow, netip.MustParsePrefix(s).Masked())
	}
	if cfg.Mode == AuthHMAC {
		a.replays = &replayCache{seen: map[string]time.Time{}}
	}
	return a, nil
}

// Auth failure codes: the Code of the returned *httpapi.Error and the reason label of auth metrics.
const (
	ReasonIPDenied     = "ip_denied"
	ReasonNoCredential = "no_credentials"
	ReasonBadToken     = "bad_token"
	ReasonBadSignature = "bad_signature"
	ReasonStale        = "stale_timestamp"
	ReasonReplay       = "replay"
)

// Check authenticates r whose body has already been read (limited) into body. It returns nil or an
// *httpapi.Error: 403 for an address outside the allow-list, 401 otherwise; its Code is one of the
// Reason constants. Only the TCP peer address is trusted, never X-Forwarded-For.
func (a *Auth) Check(r *http.Request, body []byte) error {
	if len(a.allow) > 0 && !a.allowed(r.RemoteAddr) {
		return httpapi.Errorf(http.StatusForbidden, ReasonIPDenied, "địa chỉ không được phép / address not allowed")
	}
	switch a.cfg.Mode {
	case AuthBearer:
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return unauthorized(ReasonNoCredential, "thiếu mã truy cập / missing bearer token")
		}
		if !equal(tok, a.cfg.Secret) {
			return unauthorized(ReasonBadToken, "mã truy cập sai / wrong bearer token")
		}
	case AuthBasic:
		u, p, ok := r.BasicAuth()
		if !ok {
			return unauthorized(ReasonNoCredential, "thiếu thông tin đăng nhập / missing basic credentials")
		}
		if !equal(u, a.cfg.Username) || !equal(p, a.cfg.Secret) {
			return unauthorized(ReasonBadToken, "thông tin đăng nhập sai / wrong basic credentials")
		}
	case AuthHMAC:
		return a.checkHMAC(r, body)
	}
	return nil
}

func (a *Auth) checkHMAC(r *http.Request, body []byte) error {
	ts, sig := r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature)
	if ts == "" || sig == "" {
		return unauthorized(ReasonNoCredential, "thiếu chữ ký / missing %s or %s", HeaderTimestamp, HeaderSignature)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return unauthorized(ReasonStale, "dấu thời gian không hợp lệ / %s must be Unix seconds", HeaderTimestamp)
	}
	now := a.now()
	at := time.Unix(secs, 0)
	if d := now.Sub(at); d > a.skew || d < -a.skew {
		return unauthorized(ReasonStale, "dấu thời gian lệch quá %s / timestamp more than %s away", a.skew, a.skew)
	}
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil {
		return unauthorized(ReasonBadSignature, "chữ ký sai định dạng / signature must be sha256=<hex>")
	}
	if !hmac.Equal(got, Sign([]byte(a.cfg.Secret), ts, body)) {
		return unauthorized(ReasonBadSignature, "chữ ký sai / signature mismatch")
	}
	// Keyed on the decoded bytes: the same signature written in other hex case is the same request.
	if !a.replays.add(string(got), at, now, a.skew) {
		return unauthorized(ReasonReplay, "yêu cầu đã được gửi trước đó / replayed request")
	}
	return nil
}

// Sign returns HMAC-SHA256(secret, timestamp + "." + body), the signature AuthHMAC expects (hex
// encoded, after "sha256=").
func Sign(secret []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// SignatureHeader returns the X-IOC-Signature value for a request.
func SignatureHeader(secret []byte, timestamp string, body []byte) string {
	return "sha256=" + hex.EncodeToString(Sign(secret, timestamp, body))
}

func (a *Auth) allowed(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range a.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func unauthorized(code, format string, args ...any) error {
	return httpapi.Errorf(http.StatusUnauthorized, code, format, args...)
}

// maxReplays bounds the replay cache; beyond it (after pruning) signed requests are refused.
const maxReplays = 1 << 17

// replayCache remembers accepted signatures until their timestamps leave the skew window.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time // decoded signature bytes → request timestamp
	adds int
}

// add records sig (the decoded signature, never its text) and reports whether it was new.
func (c *replayCache) add(sig string, at, now time.Time, skew time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.seen[sig]; dup {
		return false
	}
	c.adds++
	if c.adds%1024 == 0 || len(c.seen) >= maxReplays {
		for k, t := range c.seen {
			if now.Sub(t) > skew {
				delete(c.seen, k)
			}
		}
	}
	if len(c.seen) >= maxReplays {
		return false
	}
	c.seen[sig] = at
	return true
}
