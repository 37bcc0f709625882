-- Severity classes and working-time deadlines (#20.1, #20.2). Reports filed before keep their due
-- time and get the default class, their receive and respond deadlines are unknown (0).
ALTER TABLE reports ADD COLUMN severity TEXT NOT NULL DEFAULT 'binh_thuong';
ALTER TABLE reports ADD COLUMN receive_due_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN respond_due_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN received_us BIGINT NOT NULL DEFAULT 0
