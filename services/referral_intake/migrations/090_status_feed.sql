-- The referrer's feed of status changes (GET /v1/status-changes, issue 19): when each
-- timeline entry was written, so that the feed shows only entries old enough that no
-- transaction still running can add one before them (ids are taken at insert, committed
-- in any order). A constant default: existing rows are not rewritten.
ALTER TABLE timeline ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();
