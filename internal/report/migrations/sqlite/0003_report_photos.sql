-- Which report a photo belongs to, so that every photo read checks that report's visibility (#15.12).
CREATE TABLE report_photos (
	photo_id  TEXT PRIMARY KEY,
	report_id INTEGER NOT NULL REFERENCES reports (id)
);
INSERT OR IGNORE INTO report_photos (photo_id, report_id) SELECT j.value, r.id FROM reports r, json_each(r.photos) j
