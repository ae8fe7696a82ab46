-- Key rotation: each key has an id, a visible prefix and when it was last used; a provider
-- may hold two active keys while it rolls from one to the other.
ALTER TABLE provider_keys
    ADD COLUMN key_id uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN key_prefix text,
    ADD COLUMN last_used_at timestamptz;
CREATE UNIQUE INDEX provider_keys_id ON provider_keys (key_id);

-- Where this provider wants work pushed, and the secret its deliveries are signed with.
CREATE TABLE webhook (
    id         smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    url        text NOT NULL,
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per message to push; webhook_id is the Standard Webhooks "webhook-id", the same
-- on every retry so that the provider can ignore duplicates. Kept in the database so that
-- retries survive a restart.
CREATE TABLE deliveries (
    webhook_id       text PRIMARY KEY,
    route_id         uuid NOT NULL REFERENCES work_items (route_id),
    kind             text NOT NULL,
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    first_attempt_at timestamptz,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    delivered_at     timestamptz,
    last_error       text
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state IN ('pending', 'sending');

CREATE TABLE delivery_attempts (
    id          bigserial PRIMARY KEY,
    webhook_id  text NOT NULL REFERENCES deliveries (webhook_id),
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL,
    status_code integer,
    error       text,
    duration_ms integer NOT NULL
);
