-- Wakes the referrers' webhook dispatcher when a transaction that recorded status changes
-- commits (services/plumbing/webhook_wakeups.py), instead of its polling the timeline: the
-- channel is <schema>_webhooks, the payload the instant the latest change was recorded
-- (seconds since the epoch), from which the dispatcher counts STATUS_FEED_SETTLE_SECONDS
-- before the change may be pushed (the feed shows it only then). Nothing is notified while
-- no referrer has an enabled webhook. The schema is named from the trigger's table, so that
-- the function does not depend on the writer's search_path.
CREATE FUNCTION timeline_recorded_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    latest timestamptz;
    listening boolean;
BEGIN
    EXECUTE format(
        'SELECT EXISTS (SELECT 1 FROM %I.referrer_webhooks WHERE disabled_at IS NULL)',
        TG_TABLE_SCHEMA
    ) INTO listening;
    IF NOT listening THEN
        RETURN NULL;
    END IF;
    SELECT max(recorded_at) INTO latest FROM recorded;
    IF latest IS NOT NULL THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '_webhooks', extract(epoch FROM latest)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER timeline_recorded AFTER INSERT ON timeline
    REFERENCING NEW TABLE AS recorded
    FOR EACH STATEMENT EXECUTE FUNCTION timeline_recorded_notify();
