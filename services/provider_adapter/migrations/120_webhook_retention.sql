-- Old webhook deliveries are removed by the retention job (services/plumbing/webhooks.py,
-- prune: delivered ones after WEBHOOK_KEEP_DELIVERED_DAYS, the others after
-- WEBHOOK_KEEP_ENDED_DAYS). deliveries and delivery_attempts are not audit tables (they are
-- not in append_only_tables and no trigger guards them), so the service's role may delete
-- their rows. What other code read from old deliveries moves to the work item first:
-- * pushed_at: when a push about the work item first reached the provider's webhook (its
--   system holds the item, so an erasure must tell it the item is cancelled), which
--   was_delivered read from the deliveries;
-- * reminders_queued: how many reminders were queued for it, which numbered the next
--   reminder's webhook-id by counting deliveries (a count that fell when old ones went would
--   give a new reminder the id of one still kept, and it would never be queued).
ALTER TABLE work_items
    ADD COLUMN pushed_at        timestamptz,
    ADD COLUMN reminders_queued integer NOT NULL DEFAULT 0;
UPDATE work_items w SET pushed_at = d.first
FROM (SELECT route_id, min(delivered_at) AS first FROM deliveries
      WHERE state = 'delivered' GROUP BY route_id) d
WHERE w.route_id = d.route_id;
UPDATE work_items w SET reminders_queued = d.n
FROM (SELECT route_id, count(*) AS n FROM deliveries WHERE kind = 'reminder' GROUP BY route_id) d
WHERE w.route_id = d.route_id;

-- The retention job finds old ended deliveries by age, and removes their attempts by id
-- (the foreign key's check on each removed delivery needs the index too).
CREATE INDEX deliveries_ended ON deliveries (created_at) WHERE state NOT IN ('pending', 'sending');
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (webhook_id);
