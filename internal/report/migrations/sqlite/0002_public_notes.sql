-- A history note is internal unless an operator published it (#15.10). Of the notes written before,
-- only the fixed "received" text of a report's first entry was meant for the public.
ALTER TABLE report_history ADD COLUMN public INTEGER NOT NULL DEFAULT 0;
UPDATE report_history SET public = 1 WHERE from_status = '' AND to_status = 'new' AND actor LIKE 'citizen:%'
