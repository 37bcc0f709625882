-- Escalation steps per deadline (#20.3): unit, then supervisor, then the IOC. An open report not
-- escalated before starts at its due time with the supervisor step, one escalated before is done.
ALTER TABLE reports ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN escalation_for_us BIGINT NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN next_escalation_us BIGINT NOT NULL DEFAULT 0;
UPDATE reports SET escalation_level = 1, escalation_for_us = due_us, next_escalation_us = due_us
	WHERE escalated_us = 0 AND status IN ('new', 'triaged', 'assigned', 'in_progress', 'reopened');
CREATE INDEX reports_next_escalation ON reports (next_escalation_us)
