-- The referral record: coded facts only. Personal data lives in vault.
CREATE TABLE referrals (
    referral_id     uuid PRIMARY KEY,
    received_at     timestamptz NOT NULL,
    status          text NOT NULL,
    source          text NOT NULL,
    local_authority text NOT NULL,
    facts           jsonb NOT NULL,
    submitted_by    text NOT NULL,
    idempotency_key text UNIQUE,
    request_hash    text,
    decision        jsonb,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX referrals_received_at ON referrals (received_at);
CREATE INDEX referrals_status ON referrals (status, received_at);

-- Personal data: contact details, date of birth, crime reference. Read only through the
-- vault endpoints, each read written to disclosure_log.
CREATE TABLE vault (
    referral_id uuid PRIMARY KEY REFERENCES referrals (referral_id),
    personal    jsonb NOT NULL
);

-- One row per dispatched route, projected from the router's decisions and the adapters'
-- status events.
CREATE TABLE routes (
    route_id       uuid PRIMARY KEY,
    referral_id    uuid NOT NULL REFERENCES referrals (referral_id),
    decision_id    uuid NOT NULL,
    service        text NOT NULL,
    sub_service    text NOT NULL,
    priority       text NOT NULL,
    rule_ids       text[] NOT NULL,
    reason         text NOT NULL,
    consent_basis  text NOT NULL,
    status         text NOT NULL,
    requested_at   timestamptz NOT NULL,
    acknowledge_by timestamptz NOT NULL,
    contact_due_by timestamptz NOT NULL,
    code_deadline  timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX routes_referral ON routes (referral_id);
CREATE INDEX routes_service_status ON routes (service, status);

-- Everything that happened to a referral and its routes, in arrival order. Route status
-- events can arrive before the decision that created the route (they travel on another
-- topic); they wait here and the route takes its latest status when it is created.
CREATE TABLE timeline (
    id          bigserial PRIMARY KEY,
    referral_id uuid NOT NULL,
    route_id    uuid,
    event       text NOT NULL,
    status      text,
    at          timestamptz NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX timeline_referral ON timeline (referral_id, id);
CREATE INDEX timeline_route ON timeline (route_id, id) WHERE route_id IS NOT NULL;

-- Who read whose personal data, which fields, why and when.
CREATE TABLE disclosure_log (
    id          bigserial PRIMARY KEY,
    referral_id uuid NOT NULL,
    accessor    text NOT NULL,
    service     text,
    fields      text[] NOT NULL,
    purpose     text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disclosure_log_referral ON disclosure_log (referral_id, at);
