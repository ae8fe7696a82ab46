-- Wakes a service's webhook dispatcher (services/plumbing/webhook_wakeups.py) as soon as a
-- transaction that queued something for it commits, instead of its polling: the channel is
-- <schema>_webhooks, the payload the instant the latest row was queued (seconds since the
-- epoch). Each service's own migration puts it on the table it queues to, as a statement
-- trigger whose transition table of new rows is named ``added``, with arguments:
--   1. the column that dates a row (timestamptz);
--   2. optionally, the schema's table of webhooks: then nothing is notified while none of
--      them is enabled (``disabled_at IS NULL``).
-- The schema is named from the trigger's table, so that the function does not depend on the
-- writer's search_path.
CREATE FUNCTION webhooks_notify_latest() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    latest timestamptz;
    listening boolean;
BEGIN
    IF TG_NARGS > 1 THEN
        EXECUTE format(
            'SELECT EXISTS (SELECT 1 FROM %I.%I WHERE disabled_at IS NULL)',
            TG_TABLE_SCHEMA,
            TG_ARGV[1]
        ) INTO listening;
        IF NOT listening THEN
            RETURN NULL;
        END IF;
    END IF;
    EXECUTE format('SELECT max(%I) FROM added', TG_ARGV[0]) INTO latest;
    IF latest IS NOT NULL THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '_webhooks', extract(epoch FROM latest)::text);
    END IF;
    RETURN NULL;
END $$;
