-- A webhook whose URL was refused at delivery (its name now resolves to a private address,
-- say): when and under which rule, for the provider (GET /v1/webhook) and operations.
-- Deliveries refused that way end in state 'refused' and are not retried.
ALTER TABLE webhook
    ADD COLUMN refused_at   timestamptz,
    ADD COLUMN refused_rule text;
