-- A retired provider key stays retired, whoever asks: start-up used to re-insert the
-- configured keys with "ON CONFLICT ... SET revoked_at = NULL", which brought a key the
-- provider had retired back to life (penetration test, issue 25). The code no longer does;
-- this refuses it in the database too, and refuses forgetting when a key was retired.
CREATE FUNCTION provider_keys_revocation_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'provider key % was retired; a retired key cannot be restored', OLD.key_id;
    END IF;
    IF OLD.key_hash <> NEW.key_hash THEN
        RAISE EXCEPTION 'a provider key''s hash cannot change';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER provider_keys_revocation_final BEFORE UPDATE ON provider_keys
    FOR EACH ROW EXECUTE FUNCTION provider_keys_revocation_is_final();
CREATE FUNCTION provider_keys_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'provider keys are never deleted: a deleted retired key could be added again';
END $$;
CREATE TRIGGER provider_keys_kept BEFORE DELETE ON provider_keys
    FOR EACH ROW EXECUTE FUNCTION provider_keys_are_kept();

-- Free text a provider wrote (a rejection note, an outcome's reason that is not a code) is
-- kept in intake's vault from now on, where erasure reaches it; none is kept here. Notes
-- written before were never shown to anyone and cannot be erased from here: they go.
UPDATE work_items SET rejection_note = NULL WHERE rejection_note IS NOT NULL;
UPDATE outcomes SET reason = NULL WHERE reason IS NOT NULL AND reason !~ '^[a-z][a-z0-9_]{0,63}$';
