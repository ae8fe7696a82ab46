-- Resubmissions, identity and cross-links (issue 14).
--
-- A second submission for the same person (and role) and crime, while the referral is open,
-- is kept as a new version of the referral's facts and re-assessed; anything else is a new
-- referral, cross-linked to the same person's others. See domain/identity.py and
-- domain/resubmission.py.

-- Identity: keyed hashes only (no personal data in the clear outside the vault).
-- person_key is name and date of birth; person_phone_key name and phone (E.164);
-- born_key the date of birth alone. identity_version says which normalisation made them:
-- rows made by an older one are keyed again from the vault at start (handlers/identity.py).
ALTER TABLE referrals
    ADD COLUMN person_phone_key text,
    ADD COLUMN born_key text,
    ADD COLUMN identity_version integer NOT NULL DEFAULT 1,
    ADD COLUMN last_submitted_at timestamptz,
    -- A resubmission's re-assessment is sent only when the referral's latest decision is in
    -- (so that it is decided against the routes as they stand): the decision it waits for,
    -- and the one it will become.
    ADD COLUMN awaiting_decision uuid,
    ADD COLUMN pending_reassessment uuid;
UPDATE referrals SET last_submitted_at = received_at;
ALTER TABLE referrals ALTER COLUMN last_submitted_at SET NOT NULL;
CREATE INDEX referrals_person_phone ON referrals (person_phone_key)
    WHERE person_phone_key IS NOT NULL;
CREATE INDEX referrals_identity_stale ON referrals (referral_id)
    WHERE identity_version < 2 AND erased_at IS NULL;

-- Every submission of a referral, as it was given: its own coded facts (the referral's
-- facts are the combined picture), who sent it and when, what it changed, and the decision
-- that followed. Its personal data is in the vault entry's history.
CREATE TABLE submissions (
    referral_id      uuid NOT NULL REFERENCES referrals (referral_id),
    version          integer NOT NULL,
    submitted_at     timestamptz NOT NULL,
    submitted_by     text NOT NULL,
    facts            jsonb NOT NULL,
    raised           text[] NOT NULL DEFAULT '{}',
    kept_from_record text[] NOT NULL DEFAULT '{}',
    consent_change   text,
    decision_id      uuid,
    idempotency_key  text UNIQUE,
    request_hash     text,
    PRIMARY KEY (referral_id, version)
);
CREATE INDEX submissions_decision ON submissions (decision_id) WHERE decision_id IS NOT NULL;
INSERT INTO submissions (referral_id, version, submitted_at, submitted_by, facts,
                         idempotency_key, request_hash)
SELECT referral_id, 1, received_at, submitted_by, facts, idempotency_key, request_hash
FROM referrals;

-- Referrals of the same person (another role, another crime, or the same crime once the
-- first had closed): staff see each from the other. One row per direction.
CREATE TABLE referral_links (
    referral_id uuid NOT NULL REFERENCES referrals (referral_id),
    linked_id   uuid NOT NULL REFERENCES referrals (referral_id),
    relation    text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (referral_id, linked_id)
);
