-- A person's contact details changed after this provider was sent the work (issue 26): the
-- work item carries a marker until the provider reads the new details. Versions are intake's
-- (1: as submitted): contact_version is the newest this adapter heard of, contact_read_version
-- the newest its provider read. No details here, only which fields changed.
ALTER TABLE work_items
    ADD COLUMN contact_version integer NOT NULL DEFAULT 1,
    ADD COLUMN contact_read_version integer NOT NULL DEFAULT 1,
    ADD COLUMN contact_changed_at timestamptz,
    ADD COLUMN contact_changed_fields text[] NOT NULL DEFAULT '{}';
