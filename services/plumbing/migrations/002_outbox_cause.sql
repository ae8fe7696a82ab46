-- Which consumed event caused each outbox row, so that receiving that event again re-drives
-- what it produced (see outbox.redrive).
ALTER TABLE outbox ADD COLUMN caused_by uuid;
CREATE INDEX outbox_caused_by ON outbox (caused_by) WHERE caused_by IS NOT NULL;
