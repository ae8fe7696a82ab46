-- Reconciliation: which event produced each route (so that it can be re-driven), and when
-- each stuck referral or route was last re-driven (so that it is not re-driven too often).
ALTER TABLE routes ADD COLUMN trigger_event_id uuid;

CREATE TABLE reconciliation (
    subject  uuid NOT NULL,
    stage    text NOT NULL,
    attempts integer NOT NULL,
    last_at  timestamptz NOT NULL,
    PRIMARY KEY (subject, stage)
);
