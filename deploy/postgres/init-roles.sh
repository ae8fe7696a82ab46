#!/bin/sh
# Runs once, when the postgres container initialises its data volume (docker-entrypoint-
# initdb.d), as the image's superuser. Makes the hub's roles (deploy/database_roles.py says
# why): hub_owner owns the database and every schema; each service logs in as its own role
# with its own password (from /run/secrets/db_role_passwords, "role password" lines, made by
# `make compose-secrets`); password authentication (SCRAM) for everyone.
set -eu
PASSWORDS=/run/secrets/db_role_passwords
while read -r role password; do
    [ -n "$role" ] || continue
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set=role="$role" --set=password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD %L',
              :'role', :'password') \gexec
SQL
done < "$PASSWORDS"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
ALTER DATABASE "$POSTGRES_DB" OWNER TO hub_owner;
REVOKE ALL ON DATABASE "$POSTGRES_DB" FROM PUBLIC;
SQL
while read -r role password; do
    [ -n "$role" ] || continue
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set=role="$role" --set=db="$POSTGRES_DB" <<'SQL'
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'db', :'role') \gexec
SQL
done < "$PASSWORDS"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -c 'REVOKE CREATE ON SCHEMA public FROM PUBLIC'
