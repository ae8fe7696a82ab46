-- The router keeps no referral state: only its outbox and inbox (from the shared plumbing)
-- and a log of the decisions it made, so that each can be explained and reproduced.
CREATE TABLE decisions (
    decision_id    uuid PRIMARY KEY,
    referral_id    uuid NOT NULL,
    trigger_event  uuid NOT NULL,
    policy_version text NOT NULL,
    decided_at     timestamptz NOT NULL,
    status         text NOT NULL,
    rule_ids       text[] NOT NULL
);
CREATE INDEX decisions_referral ON decisions (referral_id, decided_at);
