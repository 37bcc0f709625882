package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/sqldb"
)

// Store keeps users, sessions, tokens and the audit log. Implementations are safe for concurrent
// use. Get methods return ErrNotFound for what does not exist; CreateUser and CreateToken return
// ErrExists for a taken name or ID.
type Store interface {
	CreateUser(ctx context.Context, u User) error
	UpdateUser(ctx context.Context, u User) error // every field but Name and Created; ErrNotFound
	User(ctx context.Context, name string) (User, error)
	Users(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int, error)

	CreateSession(ctx context.Context, s Session) error
	Session(ctx context.Context, hash []byte) (Session, error)
	DeleteSession(ctx context.Context, hash []byte) error
	DeleteUserSessions(ctx context.Context, user string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) error // and the SSO records of sessions gone

	// The SSO record of a session opened through the provider (oidc.go). Deleting a session deletes
	// its record.
	CreateSSOSession(ctx context.Context, s SSOSession) error
	SSOSession(ctx context.Context, hash []byte) (SSOSession, error)
	UpdateSSOSession(ctx context.Context, s SSOSession) error // its tokens and Checked; ErrNotFound
	// DeleteSSOSessions ends the sessions of a provider session (sid), or every session of a provider
	// subject when sid is empty; how many.
	DeleteSSOSessions(ctx context.Context, sid, subject string) (int, error)

	CreateToken(ctx context.Context, t Token) error
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	Tokens(ctx context.Context, user string) ([]Token, error) // "" lists every user's
	RevokeToken(ctx context.Context, id string, at time.Time) error
	RevokeUserTokens(ctx context.Context, user string, at time.Time) (int, error) // every unrevoked token of user; how many
	TouchToken(ctx context.Context, id string, at time.Time) error

	AddAudit(ctx context.Context, e AuditEntry) error
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)

	Check(ctx context.Context) error
	Close() error
}

// StoreConfig says where accounts are kept; an empty SQLite path is auth.db beside store.path.
type StoreConfig = sqldb.Config

// sqlStore implements Store on database/sql for SQLite and PostgreSQL with the same statements
// (? placeholders rebound to $n). Times are Unix microseconds; lists are comma-joined.
type sqlStore struct {
	db *sql.DB
	pg bool
}

var _ Store = (*sqlStore)(nil)

// OpenStore opens the database and creates the tables when missing.
func OpenStore(ctx context.Context, cfg StoreConfig) (Store, error) {
	db, pg, err := sqldb.Open(cfg, 8)
	if err != nil {
		return nil, fmt.Errorf("auth store: %w", err)
	}
	s := &sqlStore{db: db, pg: pg}
	if err := sqldb.Migrate(ctx, db, pg, s.migrate); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqlStore) migrate(ctx context.Context) error {
	serial := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if s.pg {
		serial = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS auth_users (name TEXT PRIMARY KEY, display_name TEXT NOT NULL, role TEXT NOT NULL,
			areas TEXT NOT NULL, unit TEXT NOT NULL, disabled INTEGER NOT NULL, created_us BIGINT NOT NULL, password_hash TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS auth_sessions (hash BYTEA PRIMARY KEY, username TEXT NOT NULL, created_us BIGINT NOT NULL, expires_us BIGINT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions (username)`,
		`CREATE TABLE IF NOT EXISTS auth_sso_sessions (hash BYTEA PRIMARY KEY, sid TEXT NOT NULL, subject TEXT NOT NULL,
			id_token TEXT NOT NULL, refresh_token TEXT NOT NULL, checked_us BIGINT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS auth_sso_sessions_sid ON auth_sso_sessions (sid)`,
		`CREATE INDEX IF NOT EXISTS auth_sso_sessions_subject ON auth_sso_sessions (subject)`,
		`CREATE TABLE IF NOT EXISTS auth_tokens (id TEXT PRIMARY KEY, hash BYTEA NOT NULL UNIQUE, username TEXT NOT NULL, name TEXT NOT NULL,
			created_us BIGINT NOT NULL, last_used_us BIGINT NOT NULL, revoked_us BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS auth_audit (id ` + serial + `, at_us BIGINT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
			action TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL, ip TEXT NOT NULL, detail TEXT NOT NULL, token_id TEXT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS auth_audit_at ON auth_audit (at_us)`,
	}
	for _, q := range stmts {
		if !s.pg {
			q = strings.ReplaceAll(q, "BYTEA", "BLOB")
		}
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("auth store schema: %w", err)
		}
	}
	return nil
}

func (s *sqlStore) Close() error { return s.db.Close() }

// Check pings the database (readiness).
func (s *sqlStore) Check(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *sqlStore) bind(q string) string { return sqldb.Rebind(s.pg, q) }

func (s *sqlStore) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, s.bind(q), args...)
}

// isUnique reports a primary key or unique constraint violation in either engine.
func isUnique(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

func us(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromUS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v)
}

func optTime(v int64) *time.Time {
	if v == 0 {
		return nil
	}
	t := time.UnixMicro(v)
	return &t
}

func joinList(l []string) string { return strings.Join(l, ",") }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *sqlStore) CreateUser(ctx context.Context, u User) error {
	_, err := s.exec(ctx, `INSERT INTO auth_users (name, display_name, role, areas, unit, disabled, created_us, password_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, u.Name, u.DisplayName, string(u.Role), joinList(u.Areas), u.Unit, boolInt(u.Disabled), us(u.Created), u.PasswordHash)
	if err != nil {
		if isUnique(err) {
			return fmt.Errorf("user %q: %w", u.Name, ErrExists)
		}
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

func (s *sqlStore) UpdateUser(ctx context.Context, u User) error {
	res, err := s.exec(ctx, `UPDATE auth_users SET display_name = ?, role = ?, areas = ?, unit = ?, disabled = ?, password_hash = ? WHERE name = ?`,
		u.DisplayName, string(u.Role), joinList(u.Areas), u.Unit, boolInt(u.Disabled), u.PasswordHash, u.Name)
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update user: %w", err)
	} else if n == 0 {
		return fmt.Errorf("user %q: %w", u.Name, ErrNotFound)
	}
	return nil
}

const userCols = `name, display_name, role, areas, unit, disabled, created_us, password_hash`

func scanUser(sc interface{ Scan(...any) error }) (User, error) {
	var u User
	var role, areas string
	var disabled int
	var created int64
	if err := sc.Scan(&u.Name, &u.DisplayName, &role, &areas, &u.Unit, &disabled, &created, &u.PasswordHash); err != nil {
		return u, err
	}
	u.Role, u.Areas, u.Disabled, u.Created = Role(role), splitList(areas), disabled != 0, fromUS(created)
	return u, nil
}

func (s *sqlStore) User(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.bind(`SELECT `+userCols+` FROM auth_users WHERE name = ?`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

func (s *sqlStore) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM auth_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func (s *sqlStore) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM auth_users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

func (s *sqlStore) CreateSession(ctx context.Context, ss Session) error {
	if _, err := s.exec(ctx, `INSERT INTO auth_sessions (hash, username, created_us, expires_us) VALUES (?, ?, ?, ?)`,
		ss.Hash, ss.User, us(ss.Created), us(ss.Expires)); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

func (s *sqlStore) Session(ctx context.Context, hash []byte) (Session, error) {
	ss := Session{Hash: hash}
	var created, expires int64
	err := s.db.QueryRowContext(ctx, s.bind(`SELECT username, created_us, expires_us FROM auth_sessions WHERE hash = ?`), hash).
		Scan(&ss.User, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return ss, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return ss, fmt.Errorf("get session: %w", err)
	}
	ss.Created, ss.Expires = fromUS(created), fromUS(expires)
	return ss, nil
}

func (s *sqlStore) DeleteSession(ctx context.Context, hash []byte) error {
	for _, q := range []string{`DELETE FROM auth_sessions WHERE hash = ?`, `DELETE FROM auth_sso_sessions WHERE hash = ?`} {
		if _, err := s.exec(ctx, q, hash); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
	}
	return nil
}

func (s *sqlStore) CreateSSOSession(ctx context.Context, ss SSOSession) error {
	if _, err := s.exec(ctx, `INSERT INTO auth_sso_sessions (hash, sid, subject, id_token, refresh_token, checked_us) VALUES (?, ?, ?, ?, ?, ?)`,
		ss.Hash, ss.SID, ss.Subject, ss.IDToken, ss.RefreshToken, us(ss.Checked)); err != nil {
		return fmt.Errorf("create sso session: %w", err)
	}
	return nil
}

func (s *sqlStore) SSOSession(ctx context.Context, hash []byte) (SSOSession, error) {
	ss := SSOSession{Hash: hash}
	var checked int64
	err := s.db.QueryRowContext(ctx, s.bind(`SELECT sid, subject, id_token, refresh_token, checked_us FROM auth_sso_sessions WHERE hash = ?`), hash).
		Scan(&ss.SID, &ss.Subject, &ss.IDToken, &ss.RefreshToken, &checked)
	if errors.Is(err, sql.ErrNoRows) {
		return ss, fmt.Errorf("sso session: %w", ErrNotFound)
	}
	if err != nil {
		return ss, fmt.Errorf("get sso session: %w", err)
	}
	ss.Checked = fromUS(checked)
	return ss, nil
}

func (s *sqlStore) UpdateSSOSession(ctx context.Context, ss SSOSession) error {
	res, err := s.exec(ctx, `UPDATE auth_sso_sessions SET id_token = ?, refresh_token = ?, checked_us = ? WHERE hash = ?`,
		ss.IDToken, ss.RefreshToken, us(ss.Checked), ss.Hash)
	if err != nil {
		return fmt.Errorf("update sso session: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("update sso session: %w", errors.Join(ErrNotFound, err))
	}
	return nil
}

func (s *sqlStore) DeleteSSOSessions(ctx context.Context, sid, subject string) (int, error) {
	where, arg := `sid = ?`, sid
	if sid == "" {
		where, arg = `subject = ?`, subject
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("delete sso sessions: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	res, err := tx.ExecContext(ctx, s.bind(`DELETE FROM auth_sessions WHERE hash IN (SELECT hash FROM auth_sso_sessions WHERE `+where+`)`), arg)
	if err != nil {
		return 0, fmt.Errorf("delete sso sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete sso sessions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.bind(`DELETE FROM auth_sso_sessions WHERE `+where), arg); err != nil {
		return 0, fmt.Errorf("delete sso sessions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("delete sso sessions: %w", err)
	}
	return int(n), nil
}

func (s *sqlStore) DeleteUserSessions(ctx context.Context, user string) error {
	if _, err := s.exec(ctx, `DELETE FROM auth_sessions WHERE username = ?`, user); err != nil {
		return fmt.Errorf("delete sessions: %w", err)
	}
	return nil
}

func (s *sqlStore) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM auth_sessions WHERE expires_us < ?`, us(now)); err != nil {
		return fmt.Errorf("delete expired sessions: %w", err)
	}
	if _, err := s.exec(ctx, `DELETE FROM auth_sso_sessions WHERE hash NOT IN (SELECT hash FROM auth_sessions)`); err != nil {
		return fmt.Errorf("delete sso records of ended sessions: %w", err)
	}
	return nil
}

func (s *sqlStore) CreateToken(ctx context.Context, t Token) error {
	_, err := s.exec(ctx, `INSERT INTO auth_tokens (id, hash, username, name, created_us, last_used_us, revoked_us) VALUES (?, ?, ?, ?, ?, 0, 0)`,
		t.ID, t.Hash, t.User, t.Name, us(t.Created))
	if err != nil {
		if isUnique(err) {
			return fmt.Errorf("token %q: %w", t.ID, ErrExists)
		}
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

const tokenCols = `id, hash, username, name, created_us, last_used_us, revoked_us`

func scanToken(sc interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var created, used, revoked int64
	if err := sc.Scan(&t.ID, &t.Hash, &t.User, &t.Name, &created, &used, &revoked); err != nil {
		return t, err
	}
	t.Created, t.LastUsed, t.Revoked = fromUS(created), optTime(used), optTime(revoked)
	return t, nil
}

func (s *sqlStore) TokenByHash(ctx context.Context, hash []byte) (Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, s.bind(`SELECT `+tokenCols+` FROM auth_tokens WHERE hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("get token: %w", err)
	}
	return t, nil
}

func (s *sqlStore) Tokens(ctx context.Context, user string) ([]Token, error) {
	q, args := `SELECT `+tokenCols+` FROM auth_tokens ORDER BY created_us, id`, []any{}
	if user != "" {
		q, args = `SELECT `+tokenCols+` FROM auth_tokens WHERE username = ? ORDER BY created_us, id`, []any{user}
	}
	rows, err := s.db.QueryContext(ctx, s.bind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *sqlStore) RevokeToken(ctx context.Context, id string, at time.Time) error {
	res, err := s.exec(ctx, `UPDATE auth_tokens SET revoked_us = ? WHERE id = ? AND revoked_us = 0`, us(at), id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	} else if n == 0 {
		return fmt.Errorf("token %q: %w", id, ErrNotFound)
	}
	return nil
}

func (s *sqlStore) RevokeUserTokens(ctx context.Context, user string, at time.Time) (int, error) {
	res, err := s.exec(ctx, `UPDATE auth_tokens SET revoked_us = ? WHERE username = ? AND revoked_us = 0`, us(at), user)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of %q: %w", user, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of %q: %w", user, err)
	}
	return int(n), nil
}

func (s *sqlStore) TouchToken(ctx context.Context, id string, at time.Time) error {
	if _, err := s.exec(ctx, `UPDATE auth_tokens SET last_used_us = ? WHERE id = ?`, us(at), id); err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	return nil
}

func (s *sqlStore) AddAudit(ctx context.Context, e AuditEntry) error {
	if _, err := s.exec(ctx, `INSERT INTO auth_audit (at_us, actor, role, action, method, path, status, ip, detail, token_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, us(e.At), e.Actor, string(e.Role), e.Action, e.Method, e.Path, e.Status, e.IP, e.Detail, e.TokenID); err != nil {
		return fmt.Errorf("add audit entry: %w", err)
	}
	return nil
}

func (s *sqlStore) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	where, args := []string{"1 = 1"}, []any{}
	if q.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, q.Actor)
	}
	if q.Action != "" {
		where, args = append(where, "action = ?"), append(args, q.Action)
	}
	if !q.From.IsZero() {
		where, args = append(where, "at_us >= ?"), append(args, us(q.From))
	}
	if !q.To.IsZero() {
		where, args = append(where, "at_us < ?"), append(args, us(q.To))
	}
	limit := q.Limit
	if limit <= 0 || limit > 5000 {
		limit = 500
	}
	rows, err := s.db.QueryContext(ctx, s.bind(`SELECT id, at_us, actor, role, action, method, path, status, ip, detail, token_id
		FROM auth_audit WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT `+strconv.Itoa(limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		var role string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &role, &e.Action, &e.Method, &e.Path, &e.Status, &e.IP, &e.Detail, &e.TokenID); err != nil {
			return nil, fmt.Errorf("query audit: %w", err)
		}
		e.At, e.Role = fromUS(at), Role(role)
		out = append(out, e)
	}
	return out, rows.Err()
}
