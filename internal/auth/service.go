package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures accounts and their enforcement.
type Config struct {
	Store      StoreConfig   `yaml:"store"`
	SessionTTL time.Duration `yaml:"session_ttl"` // a session ends this long after sign-in
	SameSite   string        `yaml:"same_site"`   // lax | strict
	// RateLimitIP and RateLimitToken are "count:seconds" tiers, comma-separated: "100:1,2000:60" allows 100
	// requests per second and 2,000 per minute from one client address (per token for token callers).
	// Empty: no limit.
	RateLimitIP    string `yaml:"rate_limit_ip"`
	RateLimitToken string `yaml:"rate_limit_token"`
	// Login backoff: after LoginFailures failed sign-ins for one user name from one address, or from
	// one address for any names, each further attempt must wait LoginBackoff, doubling per failure up
	// to LoginBackoffMax. An address is an IPv4 address or an IPv6 /64.
	LoginFailures   int           `yaml:"login_failures"`
	LoginBackoff    time.Duration `yaml:"login_backoff"`
	LoginBackoffMax time.Duration `yaml:"login_backoff_max"`
	// LoginConcurrency bounds the password checks running at once (19 MiB each); LoginQueue bounds
	// the sign-ins waiting for one. Past both, a sign-in is refused with 503.
	LoginConcurrency int `yaml:"login_concurrency"`
	LoginQueue       int `yaml:"login_queue"`
	// OIDC is optional single sign-on through an OpenID Connect provider (oidc.go).
	OIDC OIDCConfig `yaml:"oidc"`
}

// Defaults are the account settings ioc runs with.
func Defaults() Config {
	return Config{Store: StoreConfig{Driver: "sqlite"}, SessionTTL: 12 * time.Hour, SameSite: "lax",
		RateLimitIP: "200:1,6000:60", RateLimitToken: "50:1,3000:60",
		LoginFailures: 5, LoginBackoff: time.Second, LoginBackoffMax: 15 * time.Minute, LoginConcurrency: 4, LoginQueue: 32,
		OIDC: oidcDefaults()}
}

// Validate reports every problem (keys relative to the auth section).
func (c Config) Validate() error {
	var errs []error
	switch c.Store.Driver {
	case "sqlite": // an empty path is auth.db beside the embedded store
	case "postgres":
		if c.Store.DSN == "" {
			errs = append(errs, errors.New("store.dsn: must be set for the postgres driver"))
		}
	default:
		errs = append(errs, fmt.Errorf("store.driver: must be sqlite or postgres, got %q", c.Store.Driver))
	}
	if c.SessionTTL < time.Minute {
		errs = append(errs, errors.New("session_ttl: must be at least 1m"))
	}
	if c.SameSite != "lax" && c.SameSite != "strict" {
		errs = append(errs, fmt.Errorf("same_site: must be lax or strict, got %q", c.SameSite))
	}
	if _, err := ParseLimits(c.RateLimitIP); err != nil {
		errs = append(errs, fmt.Errorf("rate_limit_ip: %w", err))
	}
	if _, err := ParseLimits(c.RateLimitToken); err != nil {
		errs = append(errs, fmt.Errorf("rate_limit_token: %w", err))
	}
	if c.LoginFailures < 1 {
		errs = append(errs, errors.New("login_failures: must be at least 1"))
	}
	if c.LoginBackoff <= 0 || c.LoginBackoffMax < c.LoginBackoff {
		errs = append(errs, errors.New("login_backoff: must be positive and not above login_backoff_max"))
	}
	if c.LoginConcurrency < 1 || c.LoginConcurrency > 64 {
		errs = append(errs, fmt.Errorf("login_concurrency: must be 1 to 64, got %d", c.LoginConcurrency))
	}
	if c.LoginQueue < 0 || c.LoginQueue > 10000 {
		errs = append(errs, fmt.Errorf("login_queue: must be 0 to 10000, got %d", c.LoginQueue))
	}
	if err := c.OIDC.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CookieName is the session cookie.
const CookieName = "ioc_session"

// tokenPrefix starts every API token, so leaked tokens are easy to find in code and logs.
const tokenPrefix = "ioc_"

// Options are a Service's collaborators.
type Options struct {
	Log        *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time // nil: time.Now
}

// Service signs users in and out, finds the principal of a request and issues tokens.
type Service struct {
	cfg     Config
	st      Store
	log     *slog.Logger
	now     func() time.Time
	backoff *backoff
	verify  *verifier
	m       metrics
	// sso revalidates sessions opened through single sign-on; set by Register before serving.
	sso *oidcFlow
	// oidcKey is the private_key_jwt client key (auth.oidc.client_key_file), nil without one.
	oidcKey *clientKey
}

type metrics struct {
	logins  *prometheus.CounterVec
	denied  *prometheus.CounterVec
	limited *prometheus.CounterVec
	// revalidations counts SSO session revalidations by outcome.
	revalidations *prometheus.CounterVec
}

// New builds the service over st.
func New(cfg Config, st Store, o Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{cfg: cfg, st: st, log: o.Log.With("component", "auth"), now: o.Now,
		backoff: newBackoff(cfg.LoginFailures, cfg.LoginBackoff, cfg.LoginBackoffMax),
		verify:  newVerifier(cfg.LoginConcurrency, cfg.LoginQueue),
		m: metrics{
			logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_auth_logins_total",
				Help: "Sign-in attempts by result (ok, bad_credentials, backoff, busy; single sign-on: oidc_ok, oidc_refused)."}, []string{"result"}),
			denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_auth_denied_total",
				Help: "Requests refused by the access layer, by reason (unauthenticated, forbidden, no_rule, csrf, bad_token, scope)."}, []string{"reason"}),
			limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_auth_rate_limited_total",
				Help: "Requests refused by a rate limit, by key kind (ip, token)."}, []string{"kind"}),
			revalidations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ioc_auth_sso_revalidations_total",
				Help: "Single sign-on sessions checked with the provider, by outcome (ok, ended, unreachable_kept)."}, []string{"result"}),
		}}
	if cfg.OIDC.Enabled() && cfg.OIDC.ClientKeyFile != "" {
		k, err := loadClientKey(cfg.OIDC.ClientKeyFile, cfg.OIDC.ClientKeyID)
		if err != nil {
			return nil, fmt.Errorf("auth config: oidc.client_key_file: %w", err)
		}
		s.oidcKey = k
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.m.logins, s.m.denied, s.m.limited, s.m.revalidations)
	}
	return s, nil
}

// Store is the service's store.
func (s *Service) Store() Store { return s.st }

// AddUser creates a user with a password.
func (s *Service) AddUser(ctx context.Context, u User, password string) error {
	if err := u.Check(); err != nil {
		return err
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	h, err := HashPassword(password)
	if err != nil {
		return err
	}
	u.PasswordHash = h
	if u.Created.IsZero() {
		u.Created = s.now()
	}
	return s.st.CreateUser(ctx, u)
}

// SetPassword replaces a user's password and ends their sessions.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	u, err := s.st.User(ctx, name)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = HashPassword(password); err != nil {
		return err
	}
	if err := s.st.UpdateUser(ctx, u); err != nil {
		return err
	}
	return s.st.DeleteUserSessions(ctx, name)
}

// UpdateUser stores an admin's change to an account (every field but Name, Created and the password)
// and ends the account's sessions, so a new role or scope applies at the next sign-in. Disabling an
// account also revokes its API tokens, and so does enabling one again: a token still live at that
// point predates the disabling (tokens cannot be issued to a disabled account) and must not come back
// with it. Tokens are revoked first, so a failure half-way leaves less access, never more.
func (s *Service) UpdateUser(ctx context.Context, u User) error {
	was, err := s.st.User(ctx, u.Name)
	if err != nil {
		return err
	}
	if u.Disabled || was.Disabled {
		n, err := s.st.RevokeUserTokens(ctx, u.Name, s.now())
		if err != nil {
			return err
		}
		if n > 0 {
			s.log.Info("tokens revoked with the account's disabling", "user", u.Name, "tokens", n, "disabled", u.Disabled)
		}
	}
	if err := s.st.UpdateUser(ctx, u); err != nil {
		return err
	}
	return s.st.DeleteUserSessions(ctx, u.Name)
}

// EnsureAdmin creates an admin account when no account exists yet (the first start) and, when
// token is set, an API token with that secret for it. It reports whether it created the account.
func (s *Service) EnsureAdmin(ctx context.Context, name, password, token string) (bool, error) {
	n, err := s.st.CountUsers(ctx)
	if err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if err := s.AddUser(ctx, User{Name: name, DisplayName: "Quản trị / Administrator", Role: RoleAdmin}, password); err != nil {
		return false, fmt.Errorf("first admin: %w", err)
	}
	if token != "" {
		if err := s.addToken(ctx, name, "bootstrap", token); err != nil {
			return true, fmt.Errorf("first admin token: %w", err)
		}
	}
	s.log.Info("first admin account created", "user", name, "with_token", token != "")
	return true, nil
}

// BackoffError says a sign-in must wait.
type BackoffError struct{ Wait time.Duration }

func (e *BackoffError) Error() string {
	return fmt.Sprintf("too many failed sign-ins, retry in %s", e.Wait.Round(time.Second))
}

// Login checks a user's password and opens a session. It returns the new session's cookie value.
// Failures are counted per user name from one address and per address (addressKey: IPv4, or IPv6
// by /64), never per user name alone, so guessing from one place cannot lock the account's owner out
// elsewhere. Past the threshold every attempt, right or wrong, waits out its backoff first
// (*BackoffError). The attempt is counted before its password is checked, so parallel guesses cannot
// slip past the threshold together, and the check waits for a slot of the bounded pool (ErrBusy when
// too many wait).
func (s *Service) Login(ctx context.Context, name, password, ip string) (string, *Principal, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	addr := addressKey(ip)
	keyName := name
	if len(keyName) > 65 { // no account name is longer than 64: bound the memory a key can take
		keyName = keyName[:65]
	}
	userKey, addrKey := "user:"+keyName+" from "+addr, "ip:"+addr
	if wait := s.backoff.reserve(s.now(), userKey, addrKey); wait > 0 {
		s.m.logins.WithLabelValues("backoff").Inc()
		return "", nil, &BackoffError{Wait: wait}
	}
	u, ok, err := s.checkPassword(ctx, name, password)
	if errors.Is(err, ErrBusy) {
		s.m.logins.WithLabelValues("busy").Inc()
	}
	if errors.Is(err, ErrBusy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		s.backoff.succeed(nil, []string{userKey, addrKey}) // not checked: not a guess
	}
	if err != nil {
		return "", nil, err
	}
	if !ok {
		s.m.logins.WithLabelValues("bad_credentials").Inc()
		return "", nil, ErrBadLogin
	}
	// The address keeps its other failures: one good account must not reset guessing at others.
	s.backoff.succeed([]string{userKey}, []string{addrKey})
	raw, p, err := s.openSession(ctx, u)
	if err != nil {
		return "", nil, err
	}
	s.m.logins.WithLabelValues("ok").Inc()
	return raw, p, nil
}

// checkPassword reports whether name is an enabled account whose password is password.
func (s *Service) checkPassword(ctx context.Context, name, password string) (User, bool, error) {
	u, err := s.st.User(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		// Spend the same work as a real check so timing does not tell which names exist.
		_, err := s.verify.verify(ctx, dummyHash, password)
		if errors.Is(err, errBadHash) {
			return u, false, fmt.Errorf("dummy password hash: %w", err)
		}
		return u, false, err
	case err != nil:
		return u, false, err
	}
	ok, err := s.verify.verify(ctx, u.PasswordHash, password)
	if err != nil {
		return u, false, fmt.Errorf("user %q: %w", name, err)
	}
	return u, ok && !u.Disabled, nil
}

// openSession opens a session for u (who has proved who they are) and returns its cookie value.
func (s *Service) openSession(ctx context.Context, u User) (string, *Principal, error) {
	now := s.now()
	raw, hash, err := newSecret()
	if err != nil {
		return "", nil, err
	}
	if err := s.st.CreateSession(ctx, Session{Hash: hash, User: u.Name, Created: now, Expires: now.Add(s.cfg.SessionTTL)}); err != nil {
		return "", nil, err
	}
	return raw, principalOf(u, "session", ""), nil
}

// dummyHash is verified against when the user does not exist.
var dummyHash = func() string {
	h, err := HashPassword("không có người dùng này / no such user")
	if err != nil {
		panic(err) // crypto/rand failing at start is not recoverable
	}
	return h
}()

// Logout ends the session whose cookie value is given.
func (s *Service) Logout(ctx context.Context, cookie string) error {
	if cookie == "" {
		return nil
	}
	return s.st.DeleteSession(ctx, hashOf(cookie))
}

// Authenticate finds the principal of a request: a bearer token (Authorization: Bearer ioc_…) or
// the session cookie. No credentials gives nil and no error (a citizen); an expired or unknown
// session cookie is treated as none; a bearer token that is unknown, revoked or belongs to a
// disabled user is ErrUnauthorized.
func (s *Service) Authenticate(r *http.Request) (*Principal, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		raw, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || !strings.HasPrefix(raw, tokenPrefix) {
			return nil, fmt.Errorf("%w: Authorization must be \"Bearer ioc_…\"", ErrUnauthorized)
		}
		t, err := s.st.TokenByHash(ctx, hashOf(raw))
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: unknown token", ErrUnauthorized)
		}
		if err != nil {
			return nil, err
		}
		if t.Revoked != nil {
			return nil, fmt.Errorf("%w: token %s was revoked", ErrUnauthorized, t.ID)
		}
		u, err := s.activeUser(ctx, t.User)
		if err != nil {
			return nil, err
		}
		if now := s.now(); t.LastUsed == nil || now.Sub(*t.LastUsed) > time.Minute { // one write a minute at most
			if err := s.st.TouchToken(ctx, t.ID, now); err != nil {
				s.log.Warn("token last-use not recorded", "token_id", t.ID, "error", err)
			}
		}
		return principalOf(u, "token", t.ID), nil
	}
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	ss, err := s.st.Session(ctx, hashOf(c.Value))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !s.now().Before(ss.Expires) {
		if err := s.st.DeleteSession(ctx, ss.Hash); err != nil {
			s.log.Warn("expired session not deleted", "error", err)
		}
		return nil, nil
	}
	u, err := s.activeUser(ctx, ss.User)
	if errors.Is(err, ErrUnauthorized) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.sso != nil {
		ok := false
		if u, ok, err = s.sso.revalidate(ctx, ss.Hash, u); err != nil || !ok {
			return nil, err
		}
	}
	return principalOf(u, "session", ""), nil
}

func (s *Service) activeUser(ctx context.Context, name string) (User, error) {
	u, err := s.st.User(ctx, name)
	if errors.Is(err, ErrNotFound) || (err == nil && u.Disabled) {
		return u, fmt.Errorf("%w: user %q is disabled or gone", ErrUnauthorized, name)
	}
	return u, err
}

func principalOf(u User, via, tokenID string) *Principal {
	return &Principal{User: u.Name, Role: u.Role, Areas: u.Areas, Unit: u.Unit, Via: via, TokenID: tokenID}
}

// CreateToken issues an API token acting as user. The secret is returned once and never stored.
func (s *Service) CreateToken(ctx context.Context, user, name string) (Token, string, error) {
	if _, err := s.activeUser(ctx, user); errors.Is(err, ErrUnauthorized) {
		return Token{}, "", fmt.Errorf("%w: user %q does not exist or is disabled", ErrInvalid, user)
	} else if err != nil {
		return Token{}, "", err
	}
	if name == "" || len(name) > 100 {
		return Token{}, "", fmt.Errorf("%w: name: 1 to 100 bytes", ErrInvalid)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Token{}, "", fmt.Errorf("token secret: %w", err)
	}
	id := hex.EncodeToString(b[:6])
	secret := tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(b[6:])
	t := Token{ID: id, User: user, Name: name, Created: s.now(), Hash: hashOf(secret)}
	if err := s.st.CreateToken(ctx, t); err != nil {
		return Token{}, "", err
	}
	return t, secret, nil
}

// addToken stores a token whose secret the operator chose (the bootstrap token from the environment).
func (s *Service) addToken(ctx context.Context, user, name, secret string) error {
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) < 24 {
		return fmt.Errorf("%w: a token must start with %q and be at least 24 characters", ErrInvalid, tokenPrefix)
	}
	sum := sha256.Sum256([]byte(secret))
	return s.st.CreateToken(ctx, Token{ID: "boot" + hex.EncodeToString(sum[:4]), User: user, Name: name, Created: s.now(), Hash: sum[:]})
}

// RevokeToken revokes a token; later requests with it get 401.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	return s.st.RevokeToken(ctx, id, s.now())
}

// Audit records an entry; a failure is logged, not returned (the action itself already happened).
func (s *Service) Audit(ctx context.Context, e AuditEntry) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if err := s.st.AddAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit entry lost", "action", e.Action, "actor", e.Actor, "error", err)
	}
}

// Sweep deletes expired sessions and forgets old backoff entries; run it now and then.
func (s *Service) Sweep(ctx context.Context) error {
	s.backoff.prune(s.now())
	return s.st.DeleteExpiredSessions(ctx, s.now())
}

// newSecret returns a random session value and its SHA-256.
func newSecret() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("session secret: %w", err)
	}
	raw := base64.RawURLEncoding.EncodeToString(b)
	return raw, hashOf(raw), nil
}

func hashOf(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}
