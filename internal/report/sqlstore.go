package report

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/sqldb"
)

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

//go:embed migrations
var migrations embed.FS

// StoreConfig says where reports are kept.
type StoreConfig = sqldb.Config

// sqlStore implements Store on database/sql for both SQLite and PostgreSQL: the same statements,
// written with ? placeholders and rebound to $n for PostgreSQL. Times are stored as Unix
// microseconds so both engines compare and sort them the same way.
type sqlStore struct {
	db *sql.DB
	pg bool
}

var _ Store = (*sqlStore)(nil)

// OpenStore opens the database and applies pending migrations.
func OpenStore(ctx context.Context, cfg StoreConfig) (Store, error) {
	db, pg, err := sqldb.Open(cfg, 32, "foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &sqlStore{db: db, pg: pg}
	if err := sqldb.Migrate(ctx, db, pg, s.migrate); err != nil { // advisory lock on PostgreSQL
		s.db.Close()
		return nil, err
	}
	return s, nil
}

func (s *sqlStore) Close() error { return s.db.Close() }

// Check pings the database (readiness).
func (s *sqlStore) Check(ctx context.Context) error { return s.db.PingContext(ctx) }

// migrate applies the embedded migrations not yet recorded in schema_migrations, each in its own
// transaction, in file name order.
func (s *sqlStore) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS report_migrations (version BIGINT PRIMARY KEY, applied_us BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	dir := "migrations/sqlite"
	if s.pg {
		dir = "migrations/postgres"
	}
	files, err := fs.Glob(migrations, dir+"/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	slices.Sort(files)
	for _, f := range files {
		v, err := strconv.Atoi(strings.SplitN(path.Base(f), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad version prefix: %w", f, err)
		}
		if err := s.apply(ctx, v, f); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqlStore) apply(ctx context.Context, version int, file string) error {
	body, err := migrations.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read migration %s: %w", file, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration %d: %w", version, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, s.bind(`SELECT count(*) FROM report_migrations WHERE version = ?`), version).Scan(&n); err != nil {
		return fmt.Errorf("check migration %d: %w", version, err)
	}
	if n > 0 {
		return nil
	}
	for _, stmt := range strings.Split(string(body), ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migration %d: %w", version, err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.bind(`INSERT INTO report_migrations (version, applied_us) VALUES (?, ?)`), version, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("record migration %d: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration %d: %w", version, err)
	}
	return nil
}

// bind rewrites ? placeholders as $1, $2 … for PostgreSQL.
func (s *sqlStore) bind(q string) string { return sqldb.Rebind(s.pg, q) }

const reportCols = `id, code, service_code, status, description, lon, lat, address, address_id, areas, attributes,
	photos, media_url, unit, duplicate_of, client, contact, created_us, updated_us, due_us, resolved_us, escalated_us, version,
	severity, receive_due_us, respond_due_us, received_us, escalation_level, escalation_for_us, next_escalation_us, located_by, result, rating, rated_us`

type scanner interface{ Scan(dest ...any) error }

func scanReport(sc scanner) (Report, error) {
	var r Report
	var areas, attrs, photos, contact string
	var created, updated, due, resolved, escalated, receiveDue, respondDue, received, escFor, nextEsc, rated int64
	err := sc.Scan(&r.ID, &r.Code, &r.Service, &r.Status, &r.Description, &r.Location[0], &r.Location[1],
		&r.Address, &r.AddressID, &areas, &attrs, &photos, &r.MediaURL, &r.Unit, &r.DuplicateOf, &r.Client,
		&contact, &created, &updated, &due, &resolved, &escalated, &r.Version,
		&r.Severity, &receiveDue, &respondDue, &received, &r.EscalationLevel, &escFor, &nextEsc, &r.LocatedBy, &r.Result, &r.Rating, &rated)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("scan report: %w", err)
	}
	for _, j := range []struct {
		raw string
		v   any
	}{{areas, &r.Areas}, {attrs, &r.Attributes}, {photos, &r.Photos}, {contact, &r.Contact}} {
		if err := json.Unmarshal([]byte(j.raw), j.v); err != nil {
			return r, fmt.Errorf("decode report %d: %w", r.ID, err)
		}
	}
	if r.Contact.Name == "" {
		r.Contact.Name = legacyName(contact, r.Client)
	}
	r.Created, r.Updated, r.Due = fromMicro(created), fromMicro(updated), fromMicro(due)
	r.Resolved, r.Escalated = fromMicro(resolved), fromMicro(escalated)
	r.ReceiveDue, r.RespondDue, r.Received = fromMicro(receiveDue), fromMicro(respondDue), fromMicro(received)
	r.EscalationFor, r.NextEscalation, r.Rated = fromMicro(escFor), fromMicro(nextEsc), fromMicro(rated)
	return r, nil
}

// apiZone is Asia/Ho_Chi_Minh (UTC+7, no daylight saving time): stored times are read back in it, so API
// answers carry the +07:00 offset, never Z.
var apiZone = time.FixedZone("Asia/Ho_Chi_Minh", 7*3600)

// legacyName reads the name of a contact stored before the full-name field (#17.7): the web form
// had cut it at the first space (first_name "Trần", last_name "Thị B"), Open311 clients sent
// first_name as the given name and last_name as the family name.
func legacyName(raw, client string) string {
	var old struct {
		First string `json:"first_name"`
		Last  string `json:"last_name"`
	}
	if json.Unmarshal([]byte(raw), &old) != nil {
		return "" // the contact decoded just before; this cannot fail
	}
	if client == "web" {
		return strings.TrimSpace(old.First + " " + old.Last)
	}
	return FullName(old.First, old.Last)
}

func fromMicro(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).In(apiZone)
}

func toMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("report: marshal %T: %v", v, err)) // maps of strings always marshal
	}
	return string(b)
}

func (s *sqlStore) Create(ctx context.Context, r Report, idemKey string, first Entry) (Report, bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return r, false, fmt.Errorf("begin create: %w", err)
	}
	defer tx.Rollback()
	var taken int
	if err := tx.QueryRowContext(ctx, s.bind(`SELECT count(*) FROM reports WHERE code = ?`), r.Code).Scan(&taken); err != nil {
		return r, false, fmt.Errorf("check code: %w", err)
	}
	if taken > 0 {
		return r, false, ErrCodeTaken
	}
	key := sql.NullString{String: idemKey, Valid: idemKey != ""}
	r.Version = 1
	err = tx.QueryRowContext(ctx, s.bind(`INSERT INTO reports (code, idem_key, service_code, status, description,
		lon, lat, address, address_id, areas, attributes, photos, media_url, unit, duplicate_of, client, contact,
		created_us, updated_us, due_us, resolved_us, escalated_us, version, severity, receive_due_us, respond_due_us, received_us,
		escalation_level, escalation_for_us, next_escalation_us, located_by, result, rating, rated_us)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (idem_key) DO NOTHING RETURNING id`),
		r.Code, key, r.Service, r.Status, r.Description, r.Location[0], r.Location[1], r.Address, r.AddressID,
		mustJSON(r.Areas), mustJSON(r.Attributes), mustJSON(r.Photos), r.MediaURL, r.Unit, r.DuplicateOf,
		r.Client, mustJSON(r.Contact), toMicro(r.Created), toMicro(r.Updated), toMicro(r.Due),
		toMicro(r.Resolved), toMicro(r.Escalated), r.Version, r.Severity, toMicro(r.ReceiveDue), toMicro(r.RespondDue),
		toMicro(r.Received), r.EscalationLevel, toMicro(r.EscalationFor), toMicro(r.NextEscalation), r.LocatedBy, r.Result, r.Rating, toMicro(r.Rated)).Scan(&r.ID)
	if errors.Is(err, sql.ErrNoRows) {
		// The key exists: a retry. Read the first report outside this transaction, after the
		// competing insert committed (PostgreSQL made us wait for it).
		tx.Rollback()
		existing, err := scanReport(s.db.QueryRowContext(ctx, s.bind(`SELECT `+reportCols+` FROM reports WHERE idem_key = ?`), idemKey))
		if err != nil {
			return r, false, fmt.Errorf("read report by idempotency key: %w", err)
		}
		return existing, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("insert report: %w", err)
	}
	for _, p := range r.Photos {
		if _, err := tx.ExecContext(ctx, s.bind(`INSERT INTO report_photos (photo_id, report_id) VALUES (?, ?)`), p, r.ID); err != nil {
			return r, false, fmt.Errorf("insert photo %s: %w", p, err)
		}
	}
	first.ReportID = r.ID
	if err := s.addEntry(ctx, tx, first); err != nil {
		return r, false, err
	}
	if err := tx.Commit(); err != nil {
		return r, false, fmt.Errorf("commit report: %w", err)
	}
	return r, true, nil
}

func (s *sqlStore) addEntry(ctx context.Context, tx *sql.Tx, e Entry) error {
	public := 0
	if e.Public {
		public = 1
	}
	_, err := tx.ExecContext(ctx, s.bind(`INSERT INTO report_history (report_id, seq, at_us, actor, from_status, to_status, note, unit, public)
		VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM report_history WHERE report_id = ?), ?, ?, ?, ?, ?, ?, ?)`),
		e.ReportID, e.ReportID, toMicro(e.At), e.Actor, e.From, e.To, e.Note, e.Unit, public)
	if err != nil {
		return fmt.Errorf("insert history: %w", err)
	}
	return nil
}

func (s *sqlStore) Get(ctx context.Context, id int64) (Report, error) {
	return scanReport(s.db.QueryRowContext(ctx, s.bind(`SELECT `+reportCols+` FROM reports WHERE id = ?`), id))
}

func (s *sqlStore) ByCode(ctx context.Context, code string) (Report, error) {
	return scanReport(s.db.QueryRowContext(ctx, s.bind(`SELECT `+reportCols+` FROM reports WHERE code = ?`), code))
}

func (s *sqlStore) ByPhoto(ctx context.Context, photoID string) (Report, error) {
	return scanReport(s.db.QueryRowContext(ctx, s.bind(`SELECT `+reportCols+` FROM reports
		WHERE id = (SELECT report_id FROM report_photos WHERE photo_id = ?)`), photoID))
}

func (s *sqlStore) Update(ctx context.Context, r Report, e Entry) (Report, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return r, fmt.Errorf("begin update: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.bind(`UPDATE reports SET status = ?, description = ?, unit = ?, duplicate_of = ?,
		areas = ?, photos = ?, updated_us = ?, due_us = ?, resolved_us = ?, escalated_us = ?, severity = ?,
		receive_due_us = ?, respond_due_us = ?, received_us = ?, escalation_level = ?, escalation_for_us = ?,
		next_escalation_us = ?, located_by = ?, result = ?, rating = ?, rated_us = ?, version = version + 1
		WHERE id = ? AND version = ?`),
		r.Status, r.Description, r.Unit, r.DuplicateOf, mustJSON(r.Areas), mustJSON(r.Photos), toMicro(r.Updated),
		toMicro(r.Due), toMicro(r.Resolved), toMicro(r.Escalated), r.Severity, toMicro(r.ReceiveDue),
		toMicro(r.RespondDue), toMicro(r.Received), r.EscalationLevel, toMicro(r.EscalationFor),
		toMicro(r.NextEscalation), r.LocatedBy, r.Result, r.Rating, toMicro(r.Rated), r.ID, r.Version)
	if err != nil {
		return r, fmt.Errorf("update report %d: %w", r.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return r, fmt.Errorf("update report %d: %w", r.ID, err)
	}
	if n == 0 {
		return r, ErrConflict
	}
	e.ReportID = r.ID
	if err := s.addEntry(ctx, tx, e); err != nil {
		return r, err
	}
	if err := tx.Commit(); err != nil {
		return r, fmt.Errorf("commit update %d: %w", r.ID, err)
	}
	r.Version++
	return r, nil
}

func (s *sqlStore) History(ctx context.Context, id int64) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, s.bind(`SELECT at_us, actor, from_status, to_status, note, unit, public FROM report_history
		WHERE report_id = ? ORDER BY seq`), id)
	if err != nil {
		return nil, fmt.Errorf("query history %d: %w", id, err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e := Entry{ReportID: id}
		var at, public int64
		if err := rows.Scan(&at, &e.Actor, &e.From, &e.To, &e.Note, &e.Unit, &public); err != nil {
			return nil, fmt.Errorf("scan history %d: %w", id, err)
		}
		e.At, e.Public = fromMicro(at), public != 0
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read history %d: %w", id, err)
	}
	return out, nil
}

func (s *sqlStore) List(ctx context.Context, q Query) ([]Report, error) {
	var where []string
	var args []any
	in := func(col string, n int, arg func(i int) any) {
		if n == 0 {
			return
		}
		where = append(where, col+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", n), ", ")+")")
		for i := range n {
			args = append(args, arg(i))
		}
	}
	in("id", len(q.IDs), func(i int) any { return q.IDs[i] })
	in("service_code", len(q.Services), func(i int) any { return q.Services[i] })
	in("status", len(q.Statuses), func(i int) any { return string(q.Statuses[i]) })
	if len(q.Areas) > 0 {
		like := make([]string, len(q.Areas))
		for i, code := range q.Areas {
			like[i] = "areas LIKE ?"
			args = append(args, `%":"`+code+`"%`) // area codes are checked to be [A-Za-z0-9-]
		}
		where = append(where, "("+strings.Join(like, " OR ")+")")
	}
	if q.Unit != "" {
		where = append(where, "unit = ?")
		args = append(args, q.Unit)
	}
	if q.Box != nil {
		where = append(where, "lon >= ? AND lon <= ? AND lat >= ? AND lat <= ?")
		args = append(args, q.Box.Min[0], q.Box.Max[0], q.Box.Min[1], q.Box.Max[1])
	}
	if !q.From.IsZero() {
		where = append(where, "created_us >= ?")
		args = append(args, q.From.UnixMicro())
	}
	if !q.To.IsZero() {
		where = append(where, "created_us < ?")
		args = append(args, q.To.UnixMicro())
	}
	stmt := `SELECT ` + reportCols + ` FROM reports`
	if len(where) > 0 {
		stmt += " WHERE " + strings.Join(where, " AND ")
	}
	stmt += " ORDER BY created_us DESC, id DESC"
	if q.Limit > 0 {
		stmt += fmt.Sprintf(" LIMIT %d OFFSET %d", q.Limit, max(q.Offset, 0))
	}
	return s.queryReports(ctx, stmt, args...)
}

func (s *sqlStore) queryReports(ctx context.Context, stmt string, args ...any) ([]Report, error) {
	rows, err := s.db.QueryContext(ctx, s.bind(stmt), args...)
	if err != nil {
		return nil, fmt.Errorf("query reports: %w", err)
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read reports: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Escalations(ctx context.Context, now time.Time, limit int) ([]Report, error) {
	return s.queryReports(ctx, `SELECT `+reportCols+` FROM reports WHERE next_escalation_us > 0 AND next_escalation_us <= ?
		ORDER BY next_escalation_us LIMIT ?`, now.UnixMicro(), limit)
}

func (s *sqlStore) AddKey(ctx context.Context, k APIKey, hash string) error {
	_, err := s.db.ExecContext(ctx, s.bind(`INSERT INTO open311_keys (id, client, hash, created_us, revoked_us) VALUES (?, ?, ?, ?, 0)`),
		k.ID, k.Client, hash, toMicro(k.Created))
	if err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	return nil
}

func scanKey(sc scanner) (APIKey, error) {
	var k APIKey
	var created, revoked int64
	if err := sc.Scan(&k.ID, &k.Client, &created, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return k, ErrNotFound
		}
		return k, fmt.Errorf("scan api key: %w", err)
	}
	k.Created = fromMicro(created)
	if revoked != 0 {
		t := fromMicro(revoked)
		k.Revoked = &t
	}
	return k, nil
}

func (s *sqlStore) KeyByHash(ctx context.Context, hash string) (APIKey, error) {
	return scanKey(s.db.QueryRowContext(ctx, s.bind(`SELECT id, client, created_us, revoked_us FROM open311_keys WHERE hash = ? AND revoked_us = 0`), hash))
}

func (s *sqlStore) Keys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, client, created_us, revoked_us FROM open311_keys ORDER BY created_us, id`)
	if err != nil {
		return nil, fmt.Errorf("query api keys: %w", err)
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read api keys: %w", err)
	}
	return out, nil
}

func (s *sqlStore) RevokeKey(ctx context.Context, id string, t time.Time) error {
	res, err := s.db.ExecContext(ctx, s.bind(`UPDATE open311_keys SET revoked_us = ? WHERE id = ? AND revoked_us = 0`), toMicro(t), id)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}
