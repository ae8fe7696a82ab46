"""The container image: deploy/Dockerfile (multi-stage, hash-locked dependencies, a non-root
user), what it runs besides the services (the topic job), the settings reading secrets as
files, and the secrets generator for docker-compose."""

from __future__ import annotations

import base64
import json
import re
import stat
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from deploy import compose_secrets
from deploy.container import topics
from schemas.codes import Service
from schemas.topics import PARTITIONS, REFERRAL_ROUTED, all_topics, dead_letter_for, queue_for
from services.plumbing import settings as settings_module
from services.plumbing.auth import SERVICE_ROLE, hash_api_key
from services.plumbing.migrations import MigrationSettings
from services.plumbing.topics_admin import misfits
from services.referral_intake.settings import IntakeSettings
from tests.support.deployment import ROOT

DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def test_the_image_is_built_in_stages_from_a_pinned_base() -> None:
    args = dict(
        rest.split("=", 1) for keyword, rest in _instructions() if keyword == "ARG" and "=" in rest
    )
    stages = _stages()
    assert len(stages) >= 2
    for stage in stages:
        base = stage[0][1].split()[0]
        base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        name, _, tag = base.partition(":")
        # Python for the services; Node.js only to build the portal's assets.
        assert name in ("python", "node"), base
        wanted = r"3\.11\.\d+-" if name == "python" else r"\d+\.\d+\.\d+-"
        assert re.match(wanted, tag), f"{base}: pin the patch release"
    runtime = stages[-1]
    # The runtime stage copies the built virtualenv and code; it installs nothing itself.
    assert not any(k == "RUN" and "pip install" in rest for k, rest in runtime)
    assert any(k == "COPY" and rest.startswith("--from=build") for k, rest in runtime)


def test_dependencies_are_installed_from_the_hash_locked_lock() -> None:
    installs = [
        rest for keyword, rest in _instructions() if keyword == "RUN" and "pip install" in rest
    ]
    assert len(installs) == 1
    assert "--require-hashes" in installs[0]
    assert "--no-deps" in installs[0]
    assert any(
        k == "COPY" and rest.startswith("requirements/runtime.txt") for k, rest in _instructions()
    )
    lock = (ROOT / "requirements" / "runtime.txt").read_text(encoding="utf-8")
    requirements = re.findall(
        r"^([A-Za-z0-9_.\-]+)==[^\s\\]+((?:\s*\\\n\s*--hash=sha256:[0-9a-f]{64})+)", lock, re.M
    )
    pinned = re.findall(r"^[A-Za-z0-9_.\-]+==", lock, re.M)
    assert requirements
    assert len(requirements) == len(pinned), "a requirement without hashes"


def test_the_image_runs_as_a_non_root_user_and_its_command() -> None:
    runtime = _stages()[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users, "no USER: the container would run as root"
    uid, _, gid = users[-1].partition(":")
    # Numeric, so that Kubernetes can check runAsNonRoot without reading /etc/passwd.
    assert uid.isdigit(), uid
    assert gid.isdigit(), gid
    assert int(uid) > 0
    # No entrypoint in front of the command: the settings read the secret files themselves.
    assert not [rest for keyword, rest in runtime if keyword == "ENTRYPOINT"]
    (command,) = [json.loads(rest) for keyword, rest in runtime if keyword == "CMD"]
    assert command[:2] == ["python", "-m"]
    healthcheck = next(rest for keyword, rest in runtime if keyword == "HEALTHCHECK")
    assert "/healthz" in healthcheck
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    assert "HTTP_HOST=0.0.0.0" in env, (
        "inside a container the services must listen on all interfaces"
    )


def test_the_build_context_holds_only_what_the_image_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines, "the context should be an allow-list"
    allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    for keyword, rest in _instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            source = rest.split()[0].rstrip("/")
            assert any(source == a or source.startswith(a + "/") for a in allowed), source
            assert (ROOT / source).exists(), source
    assert not any(a.startswith((".venv", ".dev", "deploy/secrets", ".git")) for a in allowed)


# ---- secrets as files ------------------------------------------------------------------


def test_settings_read_secret_files_and_set_variables_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What docker-compose and Kubernetes mount under /run/secrets, the settings read
    themselves (pydantic-settings secrets_dir): a file named like the setting, its trailing
    line break dropped, a PEM's inner lines kept; an environment variable of the same name
    wins; a file named like no setting is never read."""
    (tmp_path / "identity_hash_key").write_text("k" * 64 + "\n")
    (tmp_path / "staff_jwt_public_key").write_text("-----BEGIN-----\nabc\n-----END-----\n")
    (tmp_path / "kafka_sasl_password").write_text("from-a-file\n")
    (tmp_path / "vault_keys").write_text('{"2026-1": "a2V5"}')
    (tmp_path / "vault_key_id").write_text("2026-1")
    (tmp_path / "database_url").write_text("postgresql://from-file")
    for name in ("DATABASE_URL", "IDENTITY_HASH_KEY", "KAFKA_SASL_PASSWORD", "VAULT_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://set")
    monkeypatch.setenv("HUB_ENVIRONMENT", "test")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.invalid:9092")
    monkeypatch.setenv("ROUTER_URL", "http://router.invalid")
    monkeypatch.setenv(settings_module.SECRETS_DIR_VARIABLE, str(tmp_path))
    settings = IntakeSettings(_secrets_dir=settings_module.secrets_dir())
    assert settings.database_url == "postgresql://set"
    assert settings.identity_hash_key == "k" * 64
    assert settings.staff_jwt_public_key == "-----BEGIN-----\nabc\n-----END-----"
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "from-a-file"
    assert settings.vault_keys == {"2026-1": "a2V5"}
    migration = MigrationSettings(_secrets_dir=settings_module.secrets_dir())
    assert migration.database_url == "postgresql://set"
    monkeypatch.delenv("DATABASE_URL")
    migration = MigrationSettings(_secrets_dir=settings_module.secrets_dir())
    assert migration.database_url == "postgresql://from-file"


def test_the_secrets_directory_is_run_secrets_unless_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings_module.SECRETS_DIR_VARIABLE, str(tmp_path))
    assert settings_module.secrets_dir() == str(tmp_path)
    monkeypatch.delenv(settings_module.SECRETS_DIR_VARIABLE)
    expected = "/run/secrets" if Path("/run/secrets").is_dir() else None
    assert settings_module.secrets_dir() == expected


# ---- the topic job ----------------------------------------------------------------------


def test_the_topic_job_wants_every_topic_with_the_fixed_partition_count() -> None:
    assert misfits(dict.fromkeys(all_topics(), PARTITIONS)) == {}
    counts = dict.fromkeys(all_topics(), PARTITIONS)
    idva_dead_letters = dead_letter_for(queue_for(Service.IDVA))
    counts[REFERRAL_ROUTED] = 1
    del counts[idva_dead_letters]
    assert misfits(counts) == {REFERRAL_ROUTED: 1, idva_dead_letters: 0}


def test_the_topic_job_needs_a_broker_and_a_sensible_replication_factor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(SystemExit):
        topics.parse([])
    with pytest.raises(SystemExit):
        topics.parse(["--bootstrap-servers", "kafka:9092", "--replication-factor", "0"])
    args = topics.parse(["--bootstrap-servers", "kafka:9092", "--replication-factor", "3"])
    assert (args.bootstrap_servers, args.replication_factor) == ("kafka:9092", 3)


# ---- the secrets generator --------------------------------------------------------------


def test_generated_secrets_fit_together() -> None:
    generated = compose_secrets.generate()
    files = {name: value for name, value in generated.items() if isinstance(value, str)}
    public_key = files["staff_jwt_public_key"]
    for service in Service:
        name = service.value.lower()
        claims = jwt.decode(
            files[f"intake_service_token_{name}"],
            public_key,
            algorithms=["ES256"],
            issuer=compose_secrets.ISSUER,
            audience=compose_secrets.AUDIENCE,
        )
        assert claims["roles"] == [SERVICE_ROLE]
        assert claims["service"] == service.value
        key = json.loads(files[compose_secrets.PROVIDER_KEYS_FILE])[service.value]
        assert files[f"provider_key_sha256_{name}"] == hash_api_key(key)
    vault_keys = json.loads(files["vault_keys"])
    assert len(base64.b64decode(vault_keys[files["vault_key_id"]])) == 32
    assert len(files["identity_hash_key"]) >= 32
    # Least privilege: the owner migrates, each service logs in as its own role, and no URL
    # carries the superuser's password.
    assert files["database_migration_url"].startswith("postgresql://hub_owner:")
    assert files["database_url_intake"].startswith("postgresql://hub_intake:")
    roles = dict(line.split() for line in files["db_role_passwords"].splitlines())
    assert set(roles) == {"hub_owner", "hub_intake", "hub_router"} | {
        f"hub_adapter_{s.value.lower()}" for s in Service
    }
    assert all(
        files["postgres_password"] not in files[n] for n in files if n.startswith("database_")
    )
    assert f":{roles['hub_intake']}@postgres:5432/hub" in files["database_url_intake"]
    assert files != compose_secrets.generate(), "secrets must be random"


def test_the_kafka_secrets_make_a_tls_broker_its_clients_trust() -> None:
    """The broker's key store opens with its password and holds a certificate for ``kafka``
    signed by the CA the clients are given; each compose principal has its own password."""
    files = compose_secrets.generate()
    keystore = files["kafka_keystore.p12"]
    password = files["kafka_keystore_password"]
    ca_pem = files["kafka_ca.pem"]
    assert isinstance(keystore, bytes)
    assert isinstance(password, str)
    assert isinstance(ca_pem, str)
    _, certificate, chain = pkcs12.load_key_and_certificates(keystore, password.encode())
    assert certificate is not None
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    certificate.verify_directly_issued_by(ca)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kafka" in names.get_values_for_type(x509.DNSName)
    assert [c.subject for c in chain] == [ca.subject]
    passwords = [
        files[f"{topics.PASSWORD_FILE_PREFIX}{p.username}"]
        for p in compose_secrets.COMPOSE_PRINCIPALS
    ]
    assert len(set(passwords)) == len(passwords)
    assert all(isinstance(p, str) and len(p) >= 24 for p in passwords)


def test_secrets_are_written_readable_to_containers_and_never_overwritten(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    said: list[str] = []
    written = compose_secrets.write(directory, say=said.append)
    assert set(written) == set(compose_secrets.generate())
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "vault_keys").stat().st_mode) == 0o444
    assert stat.S_IMODE((directory / compose_secrets.PRIVATE_KEY_FILE).stat().st_mode) == 0o400
    vault = (directory / "vault_keys").read_text()
    assert compose_secrets.write(directory, say=said.append) == []
    assert (directory / "vault_keys").read_text() == vault
    assert "nothing changed" in said[-1]
    compose_secrets.write(directory, force=True, say=said.append)
    assert (directory / "vault_keys").read_text() != vault
    token = compose_secrets.staff_token(directory, "triage")
    claims = jwt.decode(
        token,
        (directory / "staff_jwt_public_key").read_text(),
        algorithms=["ES256"],
        audience=compose_secrets.AUDIENCE,
    )
    assert claims["roles"] == ["triage"]
