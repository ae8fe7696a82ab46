-- Every submission of a referral keeps its own idempotency record since resubmissions
-- (060): keyed like the referral's (070: an HMAC under intake's identity key, never the
-- key or an unkeyed hash of the body) and cleared on erasure. A resubmission's key is
-- looked up here. Earlier rows are keyed at start (handlers/notes.py).
ALTER TABLE submissions
    ADD COLUMN idempotency_hmac text UNIQUE,
    ADD COLUMN request_hmac text;
