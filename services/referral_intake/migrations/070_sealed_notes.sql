-- Erasure that erases (issue 25). Free text staff or providers write about a referral (an
-- override's justification, who recorded consent, a provider's rejection note or outcome
-- reason) can name the person, so it is sealed in the vault beside the contact details,
-- under the same keys, and erased with them. The tables that held it in the clear keep a
-- reference to the sealed note instead; what earlier versions wrote in the clear is sealed
-- at start (handlers/notes.py), or dropped if the referral was erased already.
CREATE TABLE vault_notes (
    id          bigserial PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES referrals (referral_id),
    kind        text NOT NULL,
    route_id    uuid,
    author      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    key_id      text NOT NULL,
    nonce       bytea NOT NULL,
    ciphertext  bytea NOT NULL
);
CREATE INDEX vault_notes_referral ON vault_notes (referral_id, id);

ALTER TABLE overrides
    ALTER COLUMN justification DROP NOT NULL,
    ADD COLUMN justification_note bigint;
ALTER TABLE consents ADD COLUMN recorded_by_note bigint;

-- The idempotency record is keyed (HMAC with a key only intake holds, like the identity
-- keys) and cleared on erasure: an unkeyed hash of the body let anyone test a guess of an
-- erased person's details. Earlier rows are re-keyed at start.
ALTER TABLE referrals
    ADD COLUMN idempotency_hmac text UNIQUE,
    ADD COLUMN request_hmac text;
