-- Audit tables: who read whose details (disclosure_log, append-only since 004) and which
-- referrals' personal data was erased, when and why (erasures). The service's own role
-- may only read and add to them; the triggers refuse changes from any role, the owner's
-- included, short of a superuser disabling them.
INSERT INTO append_only_tables (name) VALUES ('disclosure_log'), ('erasures');

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: rows cannot be changed or removed', TG_TABLE_NAME;
END $$;
CREATE TRIGGER erasures_append_only BEFORE UPDATE OR DELETE ON erasures
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
CREATE TRIGGER erasures_no_truncate BEFORE TRUNCATE ON erasures
    FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();
