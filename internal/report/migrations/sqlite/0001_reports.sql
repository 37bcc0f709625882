CREATE TABLE reports (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	code         TEXT NOT NULL UNIQUE,
	idem_key     TEXT UNIQUE,
	service_code TEXT NOT NULL,
	status       TEXT NOT NULL,
	description  TEXT NOT NULL,
	lon          REAL NOT NULL,
	lat          REAL NOT NULL,
	address      TEXT NOT NULL,
	address_id   TEXT NOT NULL,
	areas        TEXT NOT NULL,
	attributes   TEXT NOT NULL,
	photos       TEXT NOT NULL,
	media_url    TEXT NOT NULL,
	unit         TEXT NOT NULL,
	duplicate_of INTEGER NOT NULL,
	client       TEXT NOT NULL,
	contact      TEXT NOT NULL,
	created_us   INTEGER NOT NULL,
	updated_us   INTEGER NOT NULL,
	due_us       INTEGER NOT NULL,
	resolved_us  INTEGER NOT NULL,
	escalated_us INTEGER NOT NULL,
	version      INTEGER NOT NULL
);
CREATE INDEX reports_created ON reports (created_us);
CREATE INDEX reports_status ON reports (status, due_us);
CREATE TABLE report_history (
	report_id INTEGER NOT NULL REFERENCES reports (id),
	seq       INTEGER NOT NULL,
	at_us     INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	from_status TEXT NOT NULL,
	to_status TEXT NOT NULL,
	note      TEXT NOT NULL,
	unit      TEXT NOT NULL,
	PRIMARY KEY (report_id, seq)
);
CREATE TABLE open311_keys (
	id         TEXT PRIMARY KEY,
	client     TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	created_us INTEGER NOT NULL,
	revoked_us INTEGER NOT NULL
);
