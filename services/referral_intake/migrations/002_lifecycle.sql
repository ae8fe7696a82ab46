-- Consent, overrides, SLA breaches, duplicate and repeat-victim matching, and who caused
-- each timeline entry.

ALTER TABLE referrals
    ADD COLUMN consent_status text,
    ADD COLUMN person_key text,
    ADD COLUMN crime_key text,
    ADD COLUMN repeat_victim boolean NOT NULL DEFAULT false;
UPDATE referrals SET consent_status = facts->>'consent';
-- Keyed hashes only (see domain/identity.py): no personal data in the clear outside vault.
CREATE INDEX referrals_person ON referrals (person_key, received_at) WHERE person_key IS NOT NULL;

ALTER TABLE timeline ADD COLUMN actor text;

ALTER TABLE routes
    ADD COLUMN second_acknowledge_by timestamptz,
    ADD COLUMN breached boolean NOT NULL DEFAULT false;
CREATE INDEX routes_open_acknowledge ON routes (acknowledge_by)
    WHERE status IN ('requested', 'received');
CREATE INDEX routes_escalated ON routes (second_acknowledge_by) WHERE status = 'escalated';
CREATE INDEX routes_open_contact ON routes (contact_due_by)
    WHERE status IN ('requested', 'received', 'accepted', 'escalated');

-- Every consent change: who recorded it and when. recorded_by may name an officer, so it
-- stays here, never on the bus.
CREATE TABLE consents (
    id          bigserial PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES referrals (referral_id),
    status      text NOT NULL,
    recorded_at timestamptz NOT NULL,
    recorded_by text,
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

-- Supervisor overrides, with their justification and identity.
CREATE TABLE overrides (
    request_id    uuid PRIMARY KEY,
    referral_id   uuid NOT NULL REFERENCES referrals (referral_id),
    action        text NOT NULL,
    service       text NOT NULL,
    sub_service   text,
    justification text NOT NULL,
    supervisor    text NOT NULL,
    at            timestamptz NOT NULL DEFAULT now()
);

-- One row per breach of one clock on one route: the primary key is what makes the
-- watchdog report each breach exactly once, across restarts and replicas.
CREATE TABLE sla_breaches (
    route_id    uuid NOT NULL REFERENCES routes (route_id),
    clock       text NOT NULL,
    due_at      timestamptz NOT NULL,
    detected_at timestamptz NOT NULL,
    PRIMARY KEY (route_id, clock)
);
