-- The referrer's webhook (issue 19, "the loop closed to the referrer"): each client that
-- submits referrals (its token's subject, the referrals' submitted_by) may register one URL,
-- and every status change GET /v1/status-changes would show it is pushed there, signed
-- (Standard Webhooks), by the same machinery as the providers' webhooks
-- (services/plumbing/webhooks.py).
-- feed_position is the last timeline id queued for it: the dispatcher reads the settled
-- timeline after it and queues the deliveries in the same transaction as it moves on, so
-- that a change is queued once, and none is lost if intake stops.
CREATE TABLE referrer_webhooks (
    owner                 text PRIMARY KEY,
    url                   text NOT NULL,
    secret                text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    feed_position         bigint NOT NULL,
    refused_at            timestamptz,
    refused_rule          text,
    previous_secret       text,
    previous_secret_until timestamptz,
    disabled_at           timestamptz,
    disabled_reason       text,
    paused_until          timestamptz
);

-- One row per message; webhook_id is the Standard Webhooks "webhook-id"
-- (msg_<referral>_<timeline id>), the same on every retry. Coded facts only (the feed's
-- item), so no personal data is kept here. Deliveries of one referral go in timeline order.
CREATE TABLE referrer_deliveries (
    webhook_id       text PRIMARY KEY,
    owner            text NOT NULL,
    referral_id      uuid NOT NULL,
    timeline_id      bigint NOT NULL,
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
CREATE INDEX referrer_deliveries_waiting ON referrer_deliveries (owner, referral_id, timeline_id)
    WHERE state IN ('pending', 'sending');
CREATE INDEX referrer_deliveries_by_owner ON referrer_deliveries (owner, created_at);

CREATE TABLE referrer_delivery_attempts (
    id          bigserial PRIMARY KEY,
    webhook_id  text NOT NULL REFERENCES referrer_deliveries (webhook_id),
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL,
    status_code integer,
    error       text,
    duration_ms integer NOT NULL
);
