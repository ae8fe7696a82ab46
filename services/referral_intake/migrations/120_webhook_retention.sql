-- Old referrer webhook deliveries are removed by the retention job (services/plumbing/
-- webhooks.py, prune: delivered ones after WEBHOOK_KEEP_DELIVERED_DAYS, the others after
-- WEBHOOK_KEEP_ENDED_DAYS). referrer_deliveries and referrer_delivery_attempts are not audit
-- tables (not in append_only_tables, no trigger guards them), so intake's role may delete
-- their rows; nothing else reads old ones (a change is queued once, from the webhook's feed
-- position, so a removed delivery is never queued again).
CREATE INDEX referrer_deliveries_ended ON referrer_deliveries (created_at)
    WHERE state NOT IN ('pending', 'sending');
-- The foreign key's check on each removed delivery, and removing its attempts, look them up
-- by delivery.
CREATE INDEX referrer_delivery_attempts_by_delivery ON referrer_delivery_attempts (webhook_id);
