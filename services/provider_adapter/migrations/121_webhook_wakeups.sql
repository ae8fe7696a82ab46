-- Wakes the webhook dispatcher as soon as a transaction that queued deliveries commits
-- (services/plumbing/webhook_wakeups.py), instead of its polling for them: the channel is
-- <schema>_webhooks, the payload the instant the latest was queued (seconds since the epoch).
CREATE FUNCTION deliveries_queued_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    latest timestamptz;
BEGIN
    SELECT max(created_at) INTO latest FROM queued;
    IF latest IS NOT NULL THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '_webhooks', extract(epoch FROM latest)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER deliveries_queued AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS queued
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_queued_notify();
