-- Wakes the webhook dispatcher as soon as a transaction that queued deliveries commits
-- (the shared trigger function is plumbing's 121_webhook_wakeups.sql).
CREATE TRIGGER deliveries_queued AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION webhooks_notify_latest('created_at');
