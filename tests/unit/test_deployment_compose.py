"""docker-compose.yml: valid against the Compose specification, and in agreement with the code
it runs: the settings classes, the provider services, the secrets generator, the scrape
configuration and the start-up order."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy import compose_secrets
from deploy.container.topics import PASSWORD_FILE_PREFIX
from deploy.localstack import kafka as localstack_kafka
from schemas.bus_access import ADMIN, BY_USERNAME, Principal
from schemas.codes import Service
from services.plumbing.migrations import MigrationSettings
from tests.support.deployment import (
    COMPOSE_FILE,
    HUB_IMAGE,
    ROOT,
    SETTINGS,
    interpolate,
    load_yaml,
    required_settings,
    service_module,
    setting_names,
    settings_from,
)

COMPOSE: dict[str, Any] = load_yaml(COMPOSE_FILE)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
HUB = {name: s for name, s in SERVICES.items() if s["image"].startswith(f"{HUB_IMAGE}:")}
SERVERS = {name: s for name, s in HUB.items() if s.get("restart") == "unless-stopped"}
"""The long-running hub services (the rest of the hub image's containers are jobs)."""


def test_compose_file_validates_against_the_compose_specification() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {name: interpolate(str(value)) for name, value in service.get("environment", {}).items()}


def _secret_env(service: dict[str, Any]) -> dict[str, str]:
    """The settings each mounted secret becomes (the settings read /run/secrets themselves:
    services/plumbing/settings.py secrets_dir): the file's name in the container,
    upper-cased, and the secret it comes from. A file not named like a setting (with a dot:
    ``kafka_ca.pem``) is one a setting names by its path (``KAFKA_SSL_CAFILE``)."""
    found = {}
    for entry in service.get("secrets", []):
        source = entry if isinstance(entry, str) else entry["source"]
        target = entry if isinstance(entry, str) else entry.get("target", source)
        if "." not in target:
            found[target.upper()] = source
    return found


def _secret_files(service: dict[str, Any]) -> dict[str, str]:
    """Every mounted secret: its path in the container, and the secret it comes from."""
    found = {}
    for entry in service.get("secrets", []):
        source = entry if isinstance(entry, str) else entry["source"]
        target = entry if isinstance(entry, str) else entry.get("target", source)
        found[f"/run/secrets/{target}"] = source
    return found


def _hub_module(service: dict[str, Any]) -> tuple[str, list[str]]:
    """The module a container of the hub image runs, and its arguments."""
    command = list(service.get("entrypoint", [])) + list(service.get("command", []))
    parsed = service_module(command)
    assert parsed is not None, command
    return parsed


MIGRATIONS = {
    name: service
    for name, service in HUB.items()
    if _hub_module(service)[0] in SETTINGS and _hub_module(service)[1] == ["migrate"]
}
"""The migration jobs: `python -m services.<name> migrate` reads MigrationSettings only."""
SETTINGS_USERS = {
    name: service
    for name, service in HUB.items()
    if _hub_module(service)[0] in SETTINGS and name not in MIGRATIONS
}
"""The hub processes that build their service's settings."""


def test_every_hub_process_runs_a_module_that_exists() -> None:
    for name, service in HUB.items():
        module, _ = _hub_module(service)
        assert importlib.util.find_spec(module) is not None, f"{name}: no module {module}"
    assert {_hub_module(s)[0] for s in SERVERS.values()} == set(SETTINGS)


@pytest.mark.parametrize("name", sorted(SETTINGS_USERS))
def test_every_variable_set_is_a_setting_of_that_service(name: str) -> None:
    service = SETTINGS_USERS[name]
    cls = SETTINGS[_hub_module(service)[0]]
    unknown = (set(_env(service)) | set(_secret_env(service))) - setting_names(cls)
    assert not unknown, f"{name} sets {sorted(unknown)}, which {cls.__name__} does not read"


@pytest.mark.parametrize("name", sorted(SETTINGS_USERS))
def test_every_required_setting_is_set(name: str) -> None:
    service = SETTINGS_USERS[name]
    cls = SETTINGS[_hub_module(service)[0]]
    missing = required_settings(cls) - set(_env(service)) - set(_secret_env(service))
    assert not missing, f"{name} leaves {sorted(missing)} unset"


@pytest.mark.parametrize("name", sorted(SETTINGS_USERS))
def test_the_settings_accept_the_compose_configuration_in_production(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the secrets `make compose-secrets` writes, each service's settings validate, in
    production mode: no development default slipped in."""
    service = SETTINGS_USERS[name]
    module, _ = _hub_module(service)
    generated = _texts(compose_secrets.generate())
    env = _env(service)
    env.update({variable: generated[source] for variable, source in _secret_env(service).items()})
    settings = settings_from(SETTINGS[module], env, monkeypatch)
    assert settings.hub_environment == "production"
    assert settings.http_host == "0.0.0.0"
    assert settings.otel_exporter_otlp_endpoint
    # bootstrap.py of intake refuses to start without a way to verify tokens.
    assert settings.staff_jwt_public_key or settings.staff_jwt_jwks_url


def _texts(generated: dict[str, str | bytes]) -> dict[str, str]:
    return {name: value for name, value in generated.items() if isinstance(value, str)}


@pytest.mark.parametrize("name", sorted(MIGRATIONS))
def test_a_migration_job_sets_only_what_migrate_reads(name: str) -> None:
    job = MIGRATIONS[name]
    variables = set(_env(job)) | set(_secret_env(job))
    unknown = variables - setting_names(MigrationSettings)
    assert not unknown, f"{name} sets {sorted(unknown)}, which MigrationSettings does not read"
    missing = required_settings(MigrationSettings) - variables
    assert not missing, f"{name} leaves {sorted(missing)} unset"
    if _hub_module(job)[0] == "services.provider_adapter":
        # The adapter's schema is its provider service's.
        assert _env(job).get("SERVICE") in {s.value for s in Service}, f"{name} sets no SERVICE"


@pytest.mark.parametrize("name", sorted(MIGRATIONS))
def test_a_migration_job_holds_no_secret_but_the_owners_database_url(name: str) -> None:
    secrets = _secret_env(MIGRATIONS[name])
    assert set(secrets) == {"DATABASE_MIGRATION_URL"}, f"{name} is given {sorted(secrets)}"


def test_the_tokens_are_minted_for_the_issuer_the_services_expect() -> None:
    for service in SETTINGS_USERS.values():
        assert _env(service)["STAFF_JWT_ISSUER"] == compose_secrets.ISSUER
        assert _env(service)["STAFF_JWT_AUDIENCE"] == compose_secrets.AUDIENCE


def test_every_provider_service_has_its_adapter_and_its_own_port() -> None:
    adapters = {
        name: s for name, s in SERVERS.items() if _hub_module(s)[0] == "services.provider_adapter"
    }
    assert sorted(_env(s)["SERVICE"] for s in adapters.values()) == sorted(s.value for s in Service)
    for name, adapter in adapters.items():
        assert name == f"adapter-{_env(adapter)['SERVICE'].lower()}"
        # Its own token and key hashes, not another adapter's.
        sources = set(_secret_env(adapter).values())
        suffix = _env(adapter)["SERVICE"].lower()
        assert f"intake_service_token_{suffix}" in sources
        assert f"provider_key_sha256_{suffix}" in sources
    host_ports = [
        interpolate(port).rsplit(":", 2)[-2]
        for s in SERVICES.values()
        for port in s.get("ports", [])
    ]
    assert len(host_ports) == len(set(host_ports)), "two services publish the same host port"


def test_services_listen_where_their_health_checks_and_ports_look() -> None:
    for name, service in SERVERS.items():
        port = _env(service)["HTTP_PORT"]
        assert _env(service)["HTTP_HOST"] == "0.0.0.0", name
        check = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/readyz" in check, name
        for published in service.get("ports", []):
            assert interpolate(published).endswith(f":{port}"), name


def _depends(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in service.get("depends_on", {}).items()}


def test_start_up_order() -> None:
    for name, service in SERVICES.items():
        for dependency in _depends(service):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
    assert _depends(SERVICES["kafka-init"]) == {"kafka": "service_healthy"}
    for name, service in SERVERS.items():
        module, _ = _hub_module(service)
        depends = _depends(service)
        assert depends.get("kafka-init") == "service_completed_successfully", name
        migrations = [
            job
            for job, condition in depends.items()
            if condition == "service_completed_successfully"
            and _hub_module(SERVICES[job]) == (module, ["migrate"])
        ]
        assert len(migrations) == 1, f"{name} does not wait for its migration job"
        job = SERVICES[migrations[0]]
        # The job migrates the service's schema (the same SERVICE and DB_SCHEMA), as the
        # owner, and gives its privileges to the very role the service logs in as.
        for variable in ("SERVICE", "DB_SCHEMA"):
            assert _env(job).get(variable) == _env(service).get(variable), (
                f"{migrations[0]} and {name} differ on {variable}"
            )
        generated = compose_secrets.generate()
        service_url = str(generated[_secret_env(service)["DATABASE_URL"]])
        role = _env(job)["DATABASE_APP_ROLE"]
        assert service_url.startswith(f"postgresql://{role}:"), (name, role)
        assert "DATABASE_URL" not in _secret_env(job)
        assert _depends(job) == {"postgres": "service_healthy"}
        if module == "services.provider_adapter":
            assert depends.get("referral-intake") == "service_healthy", name


def test_jobs_run_once_and_servers_restart_and_stop_gracefully() -> None:
    for name, service in HUB.items():
        if name in SERVERS:
            # The services finish in-flight work within 15 seconds of SIGTERM.
            grace = service["stop_grace_period"]
            assert re.fullmatch(r"\d+s", grace), name
            assert int(grace[:-1]) >= 20, name
        else:
            assert service["restart"] == "no", name
            assert service["healthcheck"] == {"disable": True}, name


def test_hub_containers_are_hardened() -> None:
    for name, service in HUB.items():
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name


def test_third_party_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = interpolate(service["image"])
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image} is not pinned"
        assert tag not in ("", "latest"), f"{name}: {image} is not pinned"
        assert any(c.isdigit() for c in tag), f"{name}: {image} names no version"


def test_kafka_is_the_version_and_configuration_the_local_stack_runs() -> None:
    """One Kafka everywhere: the image's tag is the local stack's version, and the broker's
    configuration file is made from the local stack's definition (SASL, the
    StandardAuthorizer, no topic auto-creation, the log on the volume)."""
    kafka = SERVICES["kafka"]
    assert kafka["image"] == f"apache/kafka:{localstack_kafka.kafka_version()}"
    mounted = dict(v.split(":")[:2] for v in kafka["volumes"])
    config_dir = mounted["./deploy/kafka"]
    assert (ROOT / "deploy" / "kafka" / "server.properties").read_text() == (
        localstack_kafka.compose_file_text()
    ), "python -m deploy.localstack.kafka compose"
    properties = localstack_kafka.compose_properties()
    assert properties["auto.create.topics.enable"] == "false"
    assert properties["authorizer.class.name"].endswith("StandardAuthorizer")
    assert properties["super.users"] == f"User:{ADMIN}"
    assert "controller" in properties["process.roles"]
    assert mounted["kafkadata"] == properties["log.dirs"]
    script = " ".join(kafka["command"])
    assert f"--config {config_dir}/server.properties" in script
    assert f"kafka-server-start.sh {config_dir}/server.properties" in script
    assert f"name={ADMIN},password=$$(cat /run/secrets/kafka_admin_password)" in script
    # Every secret the configuration reads is mounted.
    mounted_secrets = set(kafka["secrets"])
    for value in properties.values():
        for name in re.findall(r"\$\{dir:/run/secrets:([^}]+)\}", value):
            assert name in mounted_secrets, name
    keystore = properties["listener.name.tls.ssl.keystore.location"]
    assert keystore.removeprefix("/run/secrets/") in mounted_secrets
    # Clients reach the TLS listener by the name the certificate is made for.
    advertised = properties["advertised.listeners"]
    assert "TLS://kafka:9092" in advertised
    assert "kafka" in compose_secrets.BROKER_HOSTNAMES
    init = SERVICES["kafka-init"]
    assert _hub_module(init)[0] == "deploy.container.topics"
    for service in SETTINGS_USERS.values():
        assert _env(service)["HUB_ENVIRONMENT"] == "production"
        assert _env(service)["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def _principal(name: str) -> Principal:
    principal = BY_USERNAME.get(name)
    assert principal is not None, f"{name} has no principal in schemas/bus_access.py"
    return principal


def _kafka_clients() -> dict[str, dict[str, Any]]:
    """Every hub container that talks to Kafka: the services, the dead-letter tool, the
    topic job (not the migration jobs)."""
    return {
        name: service
        for name, service in HUB.items()
        if name not in MIGRATIONS and "KAFKA_BOOTSTRAP_SERVERS" in _env(service)
    }


def test_every_kafka_client_is_its_own_principal_over_tls() -> None:
    clients = _kafka_clients()
    assert set(clients) >= set(SERVERS) | {"dead-letters", "kafka-init"}
    for name, service in clients.items():
        env = _env(service)
        secrets = _secret_env(service)
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert _secret_files(service)[env["KAFKA_SSL_CAFILE"]] == "kafka_ca.pem", name
        username = env["KAFKA_SASL_USERNAME"]
        if name == "kafka-init":
            assert username == ADMIN
            assert secrets["KAFKA_SASL_PASSWORD"] == "kafka_admin_password"
            continue
        # Its principal is the table's for that container, with its own password.
        assert _principal(name).username == username, name
        assert secrets["KAFKA_SASL_PASSWORD"] == f"{PASSWORD_FILE_PREFIX}{username}", name


def test_the_topic_job_sets_every_compose_principals_password() -> None:
    init = SERVICES["kafka-init"]
    _, args = _hub_module(init)
    users_dir = args[args.index("--users-dir") + 1]
    assert users_dir == "/run/secrets"
    mounted = set(_secret_files(init).values())
    expected = {f"{PASSWORD_FILE_PREFIX}{p.username}" for p in compose_secrets.COMPOSE_PRINCIPALS}
    assert {m for m in mounted if m.startswith(PASSWORD_FILE_PREFIX)} == expected
    # And every principal that runs in compose is one of them (KEDA runs on Kubernetes only).
    running = {_principal(name).username for name in _kafka_clients() if name != "kafka-init"}
    assert running == {p.username for p in compose_secrets.COMPOSE_PRINCIPALS}


def test_secrets_are_files_the_generator_makes_and_git_ignores() -> None:
    declared: dict[str, Any] = COMPOSE["secrets"]
    used = {
        entry if isinstance(entry, str) else entry["source"]
        for service in SERVICES.values()
        for entry in service.get("secrets", [])
    }
    assert used == set(declared), "a secret is declared but unused, or used but not declared"
    generated = compose_secrets.generate()
    for name, spec in declared.items():
        path = ROOT / spec["file"]
        assert path.parent == ROOT / "deploy" / "secrets", name
        assert path.name in generated, f"make compose-secrets does not make {path.name}"
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", spec["file"]],
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
        assert tracked.returncode != 0, f"{spec['file']} is in git"
    ignored = (ROOT / "deploy" / "secrets" / ".gitignore").read_text().split()
    assert "*" in ignored
    # Nothing mounted that the generator keeps private.
    assert compose_secrets.PRIVATE_KEY_FILE not in declared
    assert compose_secrets.PROVIDER_KEYS_FILE not in declared


def test_postgres_and_grafana_read_their_passwords_from_secrets() -> None:
    postgres = SERVICES["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    grafana = SERVICES["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == (
        "/run/secrets/grafana_admin_password"
    )


def test_telemetry_goes_to_the_collector_and_on_to_jaeger() -> None:
    collector = load_yaml(ROOT / "deploy" / "otel-collector.yaml")
    http = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    for service in SETTINGS_USERS.values():
        endpoint = _env(service)["OTEL_EXPORTER_OTLP_ENDPOINT"]
        host, port = endpoint.removeprefix("http://").split(":")
        assert host in SERVICES
        assert http.endswith(f":{port}")
    pipeline = collector["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for component in pipeline[kind]:
            assert component in collector[kind], f"{component} is not configured"
    for exporter in pipeline["exporters"]:
        host = collector["exporters"][exporter]["endpoint"].split(":")[0]
        assert host in SERVICES
    mounts = SERVICES["otel-collector"]["volumes"]
    assert any(m.startswith("./deploy/otel-collector.yaml:") for m in mounts)


def test_prometheus_scrapes_every_hub_service() -> None:
    prometheus = load_yaml(ROOT / "deploy" / "prometheus" / "prometheus.yml")
    hub = next(job for job in prometheus["scrape_configs"] if job["job_name"] == "hub")
    assert hub.get("metrics_path", "/metrics") == "/metrics"
    scraped = {
        target: group["labels"]["app"]
        for group in hub["static_configs"]
        for target in group["targets"]
    }
    expected = {f"{name}:{_env(s)['HTTP_OPS_PORT']}": name for name, s in SERVERS.items()}
    assert scraped == expected
    mounted = {
        volume.split(":")[1] for volume in SERVICES["prometheus"]["volumes"] if ":" in volume
    }
    assert set(prometheus["rule_files"]) <= mounted


def test_grafana_is_provisioned_from_the_repository() -> None:
    mounts = dict(
        volume.split(":")[:2] for volume in SERVICES["grafana"]["volumes"] if volume.startswith(".")
    )
    provider = load_yaml(ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "hub.yml")
    path = provider["providers"][0]["options"]["path"]
    assert mounts["./deploy/grafana/dashboards"] == path
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
