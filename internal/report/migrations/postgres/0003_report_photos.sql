-- Which report a photo belongs to, so that every photo read checks that report's visibility (#15.12).
CREATE TABLE report_photos (
	photo_id  TEXT PRIMARY KEY,
	report_id BIGINT NOT NULL REFERENCES reports (id)
);
INSERT INTO report_photos (photo_id, report_id)
	SELECT p, r.id FROM reports r, jsonb_array_elements_text(r.photos::jsonb) AS p WHERE r.photos LIKE '[%'
	ON CONFLICT DO NOTHING
