-- Wakes the referrers' webhook dispatcher when a transaction that recorded status changes
-- commits, instead of its polling the timeline (the shared trigger function is plumbing's
-- 121_webhook_wakeups.sql): the payload is the instant the latest change was recorded, from
-- which the dispatcher counts STATUS_FEED_SETTLE_SECONDS before the change may be pushed
-- (the feed shows it only then). Nothing is notified while no referrer has an enabled
-- webhook.
CREATE TRIGGER timeline_recorded AFTER INSERT ON timeline
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION webhooks_notify_latest('recorded_at', 'referrer_webhooks');
