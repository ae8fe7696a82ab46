-- A work item's webhook pushes go in two lanes (adapters/repository.py, WebhookStore): its
-- changes of contact details, and the rest; each lane's first waiting push, and what holds
-- it back, are found by work item.
CREATE INDEX deliveries_waiting ON deliveries (route_id, created_at)
    WHERE state IN ('pending', 'sending');
