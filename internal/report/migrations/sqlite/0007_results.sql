-- Published results and the citizens' satisfaction (#20.5).
ALTER TABLE reports ADD COLUMN result TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN rating TEXT NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN rated_us BIGINT NOT NULL DEFAULT 0
