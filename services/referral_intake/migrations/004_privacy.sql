-- The vault is encrypted (AES-256-GCM, see adapters/vault.py): personal data is kept only
-- as ciphertext, under a key id so that keys can rotate. Entries written in the clear by
-- earlier versions are sealed at start-up.
ALTER TABLE vault
    ADD COLUMN key_id text,
    ADD COLUMN nonce bytea,
    ADD COLUMN ciphertext bytea,
    ALTER COLUMN personal DROP NOT NULL;

-- Retention: when a referral closed, and when its personal data was erased.
ALTER TABLE referrals
    ADD COLUMN closed_at timestamptz,
    ADD COLUMN erased_at timestamptz;
CREATE INDEX referrals_closed ON referrals (closed_at) WHERE erased_at IS NULL;

CREATE TABLE erasures (
    id          bigserial PRIMARY KEY,
    referral_id uuid NOT NULL REFERENCES referrals (referral_id),
    reason      text NOT NULL,
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

-- The disclosure log is append-only, for every database role, the application's included.
CREATE FUNCTION disclosure_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the disclosure log is append-only: rows cannot be changed or removed';
END $$;
CREATE TRIGGER disclosure_log_append_only BEFORE UPDATE OR DELETE ON disclosure_log
    FOR EACH ROW EXECUTE FUNCTION disclosure_log_is_append_only();
CREATE TRIGGER disclosure_log_no_truncate BEFORE TRUNCATE ON disclosure_log
    FOR EACH STATEMENT EXECUTE FUNCTION disclosure_log_is_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON disclosure_log FROM PUBLIC;
