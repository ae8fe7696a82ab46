"""``python -m deploy.compose_secrets`` (``make compose-secrets``): the secrets the compose
stack needs, made fresh into ``deploy/secrets/`` (ignored by git; nothing real is committed).

docker-compose mounts each file as a secret under ``/run/secrets``, where a service reads it
as the setting of the same name (``secrets_dir`` in ``services/plumbing/settings.py``; a
secret mounted under another name, such as ``database_url_intake`` as ``database_url``, says
so in docker-compose.yml):

- ``postgres_password``: the database superuser's (the image's bootstrap role, used by nothing
  of the hub's); ``db_role_passwords``: one ``role password`` line per role of
  ``deploy/database_roles.py``, read once by ``deploy/postgres/init-roles.sh``;
  ``database_migration_url`` (the schemas' owner, for the migration jobs and the dead letters
  tool) and ``database_url_<schema>`` (each service's own role);
- ``staff_jwt_public_key``: the public half of an ES256 key pair standing in for the identity
  provider's; the private half stays here as ``staff_jwt_private_key.pem`` (mounted nowhere) to
  mint the adapters' service tokens and, for trying the stack, staff tokens
  (``python -m deploy.compose_secrets token triage``);
- ``intake_service_token_<service>``: each adapter's token for intake's vault;
- ``provider_key_sha256_<service>``: the hash of each provider's first API key. The keys
  themselves are written once to ``provider_api_keys.json`` to hand to the providers; delete
  that file when they have them;
- ``portal_secret_key_<service>``: each provider portal's key, signing its form tokens and
  sealing its people's TOTP secrets (losing it means everyone enrols their authenticator
  again: back it up with the database);
- ``identity_hash_key``, ``vault_keys`` and ``vault_key_id``: intake's keyed-hash secret and
  the vault's AES-256 key. Losing these loses the duplicate matching and the personal data:
  back them up with the database;
- ``grafana_admin_password``;
- Kafka: ``kafka_admin_password`` (the broker's super user: the broker itself and kafka-init),
  ``kafka_password_<username>`` for every principal of ``schemas/bus_access.py`` that runs in
  compose (kafka-init sets each SCRAM credential from it; the service reads it as its
  ``kafka_sasl_password``), and TLS: a CA of its own (``kafka_ca.pem``, which the clients
  trust; its private key is not kept: make a new CA to renew), the broker's key store
  (``kafka_keystore.p12``, for the names ``kafka`` and ``localhost``) and its password.

Existing files are kept (``--force`` replaces them all), because a new vault key or identity
key would orphan the data sealed or matched with the old ones.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from deploy import database_roles
from deploy.container.topics import PASSWORD_FILE_PREFIX
from deploy.localstack import tls
from deploy.localstack.credentials import es256_key_pair, mint
from schemas.bus_access import PRINCIPALS
from schemas.codes import Service
from services.plumbing.auth import SERVICE_ROLE, STAFF_ROLES, hash_api_key

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SECRETS_DIR = PROJECT_ROOT / "deploy" / "secrets"
ISSUER = "referral-hub-compose"
"""Must equal STAFF_JWT_ISSUER in docker-compose.yml. Not the local stack's issuer, which the
production settings refuse."""
AUDIENCE = "referral-hub"
PRIVATE_KEY_FILE = "staff_jwt_private_key.pem"
PROVIDER_KEYS_FILE = "provider_api_keys.json"
SERVICE_TOKEN_DAYS = 365
STAFF_TOKEN_HOURS = 8


COMPOSE_PRINCIPALS = tuple(p for p in PRINCIPALS if p.name != "keda")
"""Every principal but KEDA's, which runs only on Kubernetes."""
BROKER_HOSTNAMES = ["kafka", "localhost", "127.0.0.1"]


def kafka_tls_files() -> dict[str, str | bytes]:
    """A new CA, the broker's key store under it, and the key store's password."""
    ca = tls.authority("referral-hub compose Kafka CA")
    keystore_password = secrets.token_urlsafe(24)
    return {
        "kafka_keystore_password": keystore_password,
        "kafka_keystore.p12": tls.server_keystore(ca, BROKER_HOSTNAMES, keystore_password),
        "kafka_ca.pem": ca.certificate_pem.decode(),
    }


def kafka_files() -> dict[str, str | bytes]:
    """The broker's and the principals' secrets (see the module's description)."""
    files: dict[str, str | bytes] = {
        "kafka_admin_password": secrets.token_urlsafe(24),
        **kafka_tls_files(),
    }
    for principal in COMPOSE_PRINCIPALS:
        files[f"{PASSWORD_FILE_PREFIX}{principal.username}"] = secrets.token_urlsafe(24)
    return files


def generate() -> dict[str, str | bytes]:
    """Every file's name and content, made fresh."""
    private_pem, public_pem = es256_key_pair()
    password = secrets.token_urlsafe(24)
    key_id = f"{datetime.now(UTC):%Y}-1"
    passwords = {role: database_roles.new_password() for role in database_roles.roles()}
    base = "postgresql://hub@postgres:5432/hub"
    files: dict[str, str | bytes] = {
        "postgres_password": password,
        "db_role_passwords": "".join(f"{r} {p}\n" for r, p in passwords.items()),
        "database_migration_url": database_roles.with_role(
            base, database_roles.OWNER, passwords[database_roles.OWNER]
        ),
        **{
            f"database_url_{schema}": database_roles.with_role(
                base,
                database_roles.app_role(schema),
                passwords[database_roles.app_role(schema)],
            )
            for schema in database_roles.SCHEMAS
        },
        "staff_jwt_public_key": public_pem,
        PRIVATE_KEY_FILE: private_pem,
        "identity_hash_key": secrets.token_hex(32),
        "vault_keys": json.dumps({key_id: base64.b64encode(secrets.token_bytes(32)).decode()}),
        "vault_key_id": key_id,
        "grafana_admin_password": secrets.token_urlsafe(18),
    }
    provider_keys: dict[str, str] = {}
    for service in Service:
        name = service.value.lower()
        files[f"intake_service_token_{name}"] = mint(
            private_pem,
            f"provider_adapter.{service.value}",
            [SERVICE_ROLE],
            issuer=ISSUER,
            audience=AUDIENCE,
            seconds=SERVICE_TOKEN_DAYS * 24 * 3600,
            service=service.value,
        )
        provider_keys[service.value] = f"pk_{name}_{secrets.token_urlsafe(32)}"
        files[f"provider_key_sha256_{name}"] = hash_api_key(provider_keys[service.value])
        files[f"portal_secret_key_{name}"] = secrets.token_hex(32)
    files[PROVIDER_KEYS_FILE] = json.dumps(provider_keys, indent=2)
    files.update(kafka_files())
    return files


def write(
    directory: Path,
    force: bool = False,
    say: Callable[[str], None] = print,
    fresh: dict[str, str | bytes] | None = None,
) -> list[str]:
    """Write the secrets into ``directory`` (0700); returns the names written. ``fresh``:
    only these (e.g. a new Kafka TLS set), replacing any of the same name."""
    only = fresh is not None
    fresh = fresh if fresh is not None else generate()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    present = sorted(name for name in fresh if (directory / name).exists())
    if present and not force and not only:
        say(
            f"{directory} already holds secrets ({', '.join(present)}); nothing changed. "
            "--force replaces them all (and orphans data sealed with the old vault key)."
        )
        return []
    for name, content in fresh.items():
        path = directory / name
        path.unlink(missing_ok=True)
        # No line break added: the same files can become Kubernetes Secrets with
        # `kubectl create secret --from-file`, which keeps every byte (a token ending in a
        # line break is not a valid header).
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        # The containers run as other users (hub 10001, postgres 999, grafana 472) and read
        # the mounted files: readable by all, inside a directory only its owner can enter.
        # The private key and the providers' plain keys are mounted nowhere: owner only.
        path.chmod(0o400 if name in (PRIVATE_KEY_FILE, PROVIDER_KEYS_FILE) else 0o444)
    say(
        f"Wrote {len(fresh)} secrets to {directory}. Hand {PROVIDER_KEYS_FILE} to the "
        "providers, then delete it."
    )
    return sorted(fresh)


def staff_token(directory: Path, role: str) -> str:
    private_pem = (directory / PRIVATE_KEY_FILE).read_text(encoding="utf-8")
    seconds = STAFF_TOKEN_HOURS * 3600
    return mint(
        private_pem, f"compose.{role}", [role], issuer=ISSUER, audience=AUDIENCE, seconds=seconds
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.compose_secrets",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dir", type=Path, default=SECRETS_DIR, help="default deploy/secrets")
    commands = parser.add_subparsers(dest="command")
    generate_cmd = commands.add_parser("generate", help="write the secrets (the default)")
    generate_cmd.add_argument("--force", action="store_true", help="replace existing secrets")
    commands.add_parser(
        "kafka-tls",
        help="replace the Kafka CA, the broker's key store and its password (nothing else); "
        "then restart kafka and every client",
    )
    token = commands.add_parser("token", help="print a staff token, for trying the stack")
    token.add_argument("role", choices=sorted(STAFF_ROLES))
    args = parser.parse_args(argv)
    if args.command == "token":
        print(staff_token(args.dir, args.role))
        return 0
    if args.command == "kafka-tls":
        write(args.dir, fresh=kafka_tls_files())
        return 0
    write(args.dir, force=getattr(args, "force", False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
