-- Where a report's location comes from (#17.9): gps, or address (placed by the commune its
-- address_string names, for an operator to check).
ALTER TABLE reports ADD COLUMN located_by TEXT NOT NULL DEFAULT 'gps'
