-- The audit tables of this schema: the service's own database role may read them and add
-- to them, never change or remove a row (migrations.grant_service_role revokes the rest
-- after every migration run). Each service's migrations add theirs.
CREATE TABLE append_only_tables (
    name text PRIMARY KEY
);
