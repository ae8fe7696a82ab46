-- This provider's work: one row per route directed to it. No contact details, ever.
CREATE TABLE work_items (
    route_id         uuid PRIMARY KEY,
    referral_id      uuid NOT NULL,
    decision_id      uuid NOT NULL,
    policy_version   text NOT NULL,
    service          text NOT NULL,
    sub_service      text NOT NULL,
    priority         text NOT NULL,
    priority_rank    smallint NOT NULL,
    status           text NOT NULL,
    rule_ids         text[] NOT NULL,
    reason           text NOT NULL,
    consent_basis    text NOT NULL,
    flags            text[] NOT NULL,
    facts            jsonb NOT NULL,
    requested_at     timestamptz NOT NULL,
    acknowledge_by   timestamptz NOT NULL,
    contact_due_by   timestamptz NOT NULL,
    code_deadline    timestamptz NOT NULL,
    queued_at        timestamptz NOT NULL DEFAULT now(),
    rejection_reason text,
    rejection_note   text,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX work_items_queue ON work_items (priority_rank, requested_at, route_id);
CREATE INDEX work_items_referral ON work_items (referral_id, requested_at DESC);

CREATE TABLE contact_attempts (
    id          bigserial PRIMARY KEY,
    route_id    uuid NOT NULL REFERENCES work_items (route_id),
    at          timestamptz NOT NULL,
    channel     text NOT NULL,
    result      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_attempts_route ON contact_attempts (route_id, at);

CREATE TABLE outcomes (
    route_id    uuid PRIMARY KEY REFERENCES work_items (route_id),
    status      text NOT NULL,
    reason      text,
    measures    jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Provider API keys, stored as SHA-256 hashes. Several may be active at once, so that a
-- provider can roll to a new key without downtime.
CREATE TABLE provider_keys (
    key_hash   text PRIMARY KEY,
    label      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
