"""deploy/k8s: every manifest validates against its schema (Kubernetes' own, bundled with
kubernetes-validate, or deploy/k8s/keda/scaledobject.schema.json for KEDA), and agrees with
the code: settings, consumer groups, partition count, the image's user."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from deploy import compose_secrets
from schemas import topics
from schemas.codes import Service
from services.plumbing.migrations import MigrationSettings
from services.plumbing.settings import ServiceSettings
from services.provider_adapter.entrypoints import consumers as adapter_consumers
from services.provider_adapter.handlers.common import Adapter
from services.referral_intake.entrypoints import consumers as intake_consumers
from services.router.entrypoints import consumers as router_consumers
from tests.support.deployment import (
    HUB_IMAGE,
    K8S_DIR,
    SETTINGS,
    load_yaml,
    load_yaml_documents,
    required_settings,
    service_module,
    setting_names,
    settings_from,
)

KUSTOMIZATION: dict[str, Any] = load_yaml(K8S_DIR / "kustomization.yaml")
EXAMPLE_SECRETS = K8S_DIR / "secrets.example.yaml"
KEDA_SCHEMA: dict[str, Any] = json.loads(
    (K8S_DIR / "keda" / "scaledobject.schema.json").read_text(encoding="utf-8")
)
KUBERNETES_VERSION = "1.33"
"""The oldest Kubernetes the manifests are checked against (native preStop sleep is GA)."""
IMAGE_USER = 10001
"""deploy/Dockerfile: USER 10001:10001."""


def _manifests() -> list[Path]:
    return sorted(p for p in K8S_DIR.rglob("*.yaml") if p.name != "kustomization.yaml")


def _resources() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/k8s` applies."""
    return [
        doc for path in KUSTOMIZATION["resources"] for doc in load_yaml_documents(K8S_DIR / path)
    ]


def _of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in _resources() if doc["kind"] == kind}


DEPLOYMENTS = _of_kind("Deployment")
SCALED_OBJECTS = _of_kind("ScaledObject")
CONFIG: dict[str, str] = _of_kind("ConfigMap")["hub-config"]["data"]


def test_the_kustomization_applies_every_manifest_but_the_secret_examples() -> None:
    listed = {K8S_DIR / path for path in KUSTOMIZATION["resources"]}
    assert listed == set(_manifests()) - {EXAMPLE_SECRETS}
    assert KUSTOMIZATION["namespace"] == _of_kind("Namespace").popitem()[0]
    images = {image["name"] for image in KUSTOMIZATION["images"]}
    assert images == {HUB_IMAGE}


@pytest.mark.parametrize("path", _manifests(), ids=lambda p: str(p.relative_to(K8S_DIR)))
def test_every_manifest_validates_against_its_schema(path: Path) -> None:
    for doc in load_yaml_documents(path):
        if doc["apiVersion"].startswith("keda.sh/"):
            jsonschema.Draft202012Validator(KEDA_SCHEMA).validate(doc)
        else:
            # strict: a field Kubernetes does not know is an error, not silently dropped.
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_keda_schema_refuses_what_keda_would() -> None:
    validator = jsonschema.Draft202012Validator(KEDA_SCHEMA)
    good = SCALED_OBJECTS["router"]
    assert validator.is_valid(good)
    numbers = json.loads(json.dumps(good))
    numbers["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 50  # KEDA wants strings
    assert not validator.is_valid(numbers)
    typo = json.loads(json.dumps(good))
    typo["spec"]["maxReplicas"] = 6
    assert not validator.is_valid(typo)


def _pod_containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    pod = doc["spec"]["template"]["spec"]
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


def _workloads() -> dict[str, dict[str, Any]]:
    return {**DEPLOYMENTS, **{f"job/{k}": v for k, v in _of_kind("Job").items()}}


def test_every_service_and_provider_adapter_has_a_deployment() -> None:
    adapters = {f"adapter-{s.value.lower()}" for s in Service}
    assert set(DEPLOYMENTS) == {"referral-intake", "router"} | adapters
    services = _of_kind("Service")
    for name, deployment in DEPLOYMENTS.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        service = services[name]
        assert service["spec"]["selector"].items() <= labels.items()
        ports = {
            p["name"]
            for c in deployment["spec"]["template"]["spec"]["containers"]
            for p in c["ports"]
        }
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
        main = deployment["spec"]["template"]["spec"]["containers"][0]
        if name.startswith("adapter-"):
            env = {e["name"]: e.get("value") for e in main["env"]}
            assert name == f"adapter-{env['SERVICE'].lower()}"


def _container_env(container: dict[str, Any]) -> dict[str, str | None]:
    """The settings a container gets: hub-config, then its own (a Secret's as None)."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == "hub-config"
        env.update(CONFIG)
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value")
    return env


def _secret_variables(container: dict[str, Any]) -> set[str]:
    return {e["name"] for e in container.get("env", []) if "valueFrom" in e}


def _hub_containers() -> Iterator[tuple[str, dict[str, Any], type[ServiceSettings]]]:
    """The services' containers, each with the settings class it builds (the `migrate` init
    containers read MigrationSettings only: see _migrations)."""
    for name, deployment in DEPLOYMENTS.items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            parsed = service_module(container["args"])
            assert parsed is not None, f"{name}/{container['name']}"
            yield f"{name}/{container['name']}", container, SETTINGS[parsed[0]]


def _migrations() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Each Deployment's `migrate` init container, and the service container it prepares."""
    for name, deployment in DEPLOYMENTS.items():
        pod = deployment["spec"]["template"]["spec"]
        (migrate,) = pod["initContainers"]
        (main,) = pod["containers"]
        yield name, migrate, main


def test_every_variable_is_a_setting_and_every_required_one_is_set() -> None:
    for where, container, cls in _hub_containers():
        env = _container_env(container)
        unknown = set(env) - setting_names(cls)
        assert not unknown, f"{where} sets {sorted(unknown)}, which {cls.__name__} does not read"
        missing = required_settings(cls) - set(env)
        assert not missing, f"{where} leaves {sorted(missing)} unset"
        assert "STAFF_JWT_PUBLIC_KEY" in env or "STAFF_JWT_JWKS_URL" in env, where


def test_the_settings_accept_the_configuration_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With Secrets holding what `make compose-secrets` makes, each container's settings
    validate in production mode: no development default slipped in."""
    generated = {name.upper(): value for name, value in compose_secrets.generate().items()}
    generated["DATABASE_URL"] = generated["DATABASE_URL_INTAKE"]  # any service role's URL
    for where, container, cls in _hub_containers():
        env = _container_env(container)
        suffix = "_" + (env.get("SERVICE") or "").upper()
        values = {
            name: value if value is not None else generated.get(name) or generated[name + suffix]
            for name, value in env.items()
        }
        settings = settings_from(cls, values, monkeypatch)
        assert settings.hub_environment == "production", where
        assert settings.kafka_idempotence, where


def test_secret_references_match_the_example_secrets() -> None:
    examples = {doc["metadata"]["name"]: doc for doc in load_yaml_documents(EXAMPLE_SECRETS)}
    for doc in examples.values():
        for value in doc["stringData"].values():
            assert "REPLACE_ME" in value, (
                "an example secret holds something other than a placeholder"
            )
    # Every container's references, the `migrate` init containers' too.
    for name, deployment in DEPLOYMENTS.items():
        for container in _pod_containers(deployment):
            where = f"{name}/{container['name']}"
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                # One example stands for every adapter's Secret.
                example = "adapter-idva" if ref["name"].startswith("adapter-") else ref["name"]
                assert ref["key"] in examples[example]["stringData"], where
                assert ref["key"] == entry["name"], where
                if ref["name"].startswith("adapter-"):
                    assert where.startswith(ref["name"] + "/"), f"{where} reads {ref['name']}"


def test_migrations_run_before_each_service_on_its_database_and_schema() -> None:
    for name, migrate, main in _migrations():
        assert migrate["args"] == [*main["args"], "migrate"], name
        assert migrate["image"] == main["image"], name
        # It migrates the schema the service uses (the same SERVICE and DB_SCHEMA), as the
        # owner, and grants to the role named in the service's own database Secret.
        entries = {e["name"]: e for e in migrate.get("env", [])}
        service = {e["name"]: e for e in main.get("env", [])}
        for variable in ("SERVICE", "DB_SCHEMA"):
            assert entries.get(variable) == service.get(variable), f"{name}: {variable} differs"
        own = service["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]
        assert own == f"hub-database-{name}", name
        examples = {d["metadata"]["name"]: d for d in load_yaml_documents(EXAMPLE_SECRETS)}
        role = entries["DATABASE_APP_ROLE"]["value"]
        assert examples[own]["stringData"]["DATABASE_URL"].startswith(f"postgresql://{role}:")


def test_a_migration_sets_only_what_migrate_reads() -> None:
    for name, migrate, main in _migrations():
        env = _container_env(migrate)
        unknown = set(env) - setting_names(MigrationSettings)
        assert not unknown, f"{name}/migrate sets {sorted(unknown)}, which migrate does not read"
        missing = required_settings(MigrationSettings) - set(env)
        assert not missing, f"{name}/migrate leaves {sorted(missing)} unset"
        if service_module(main["args"]) == ("services.provider_adapter", []):
            # The adapter's schema is its provider service's.
            assert env.get("SERVICE") == _container_env(main)["SERVICE"], name
            assert env.get("SERVICE") in {s.value for s in Service}, name


def test_a_migration_holds_no_secret_but_the_owners_database_url() -> None:
    for name, migrate, _ in _migrations():
        secrets = _secret_variables(migrate)
        assert secrets == {"DATABASE_MIGRATION_URL"}, f"{name}/migrate is given {sorted(secrets)}"


def test_probes_resources_and_security() -> None:
    for name, workload in _workloads().items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == IMAGE_USER, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        for container in _pod_containers(workload):
            where = f"{name}/{container['name']}"
            image, _, tag = container["image"].rpartition(":")
            assert image == HUB_IMAGE, where
            assert tag not in ("", "latest"), where
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), where
    for name, deployment in DEPLOYMENTS.items():
        main = deployment["spec"]["template"]["spec"]["containers"][0]
        port = {p["name"]: p["containerPort"] for p in main["ports"]}
        assert port["http"] == int(CONFIG["HTTP_PORT"])
        assert main["startupProbe"]["httpGet"]["path"] == "/readyz", name
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        # Not /readyz: see the comment in the manifests (a shared outage would empty the
        # Service; the APIs keep answering through a broker outage).
        assert main["readinessProbe"]["httpGet"]["path"] == "/healthz", name
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert main[probe]["httpGet"]["port"] == "http", name
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > 15, name


def test_configuration_is_for_production_and_the_topic_job_makes_the_topics() -> None:
    assert CONFIG["HUB_ENVIRONMENT"] == "production"
    assert CONFIG["KAFKA_IDEMPOTENCE"] == "true"
    (job,) = _of_kind("Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    parsed = service_module(container["args"])
    assert parsed is not None
    assert parsed[0] == "deploy.container.topics"
    namespace = next(iter(_of_kind("Namespace").values()))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def _recorded_groups(
    module: ModuleType, *args: object, monkeypatch: pytest.MonkeyPatch
) -> set[tuple[str, str]]:
    """The (consumer group, topic) pairs a service's ``register`` subscribes, read from the
    code itself by standing in for ``subscribe``."""
    groups: set[tuple[str, str]] = set()

    def record(broker: object, *, topic: str, group_id: str, **_: object) -> None:
        groups.add((group_id, topic))

    monkeypatch.setattr(module, "subscribe", record)
    module.register(None, *args)
    return groups


def consumer_groups(name: str, monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str]]:
    deployment = DEPLOYMENTS[name]
    main = deployment["spec"]["template"]["spec"]["containers"][0]
    module = main["args"][2]
    if module == "services.router":
        return _recorded_groups(router_consumers, None, None, monkeypatch=monkeypatch)
    if module == "services.referral_intake":
        return _recorded_groups(intake_consumers, None, None, monkeypatch=monkeypatch)
    service = Service(str(_container_env(main)["SERVICE"]))
    adapter = SimpleNamespace(service=service)
    consumer: property = vars(Adapter)["consumer"]
    assert consumer.fget is not None
    adapter.consumer = consumer.fget(adapter)
    return _recorded_groups(adapter_consumers, adapter, None, monkeypatch=monkeypatch)


def test_keda_scales_the_router_and_every_adapter_on_their_consumer_groups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert set(SCALED_OBJECTS) == set(DEPLOYMENTS) - {"referral-intake"}
    for name, scaled in SCALED_OBJECTS.items():
        spec = scaled["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        assert "replicas" not in DEPLOYMENTS[name]["spec"], f"{name}: the HPA owns replicas"
        # More consumers than partitions would sit idle.
        assert spec["maxReplicaCount"] == topics.PARTITIONS
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        triggers = spec["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        watched = {(t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in triggers}
        assert watched == consumer_groups(name, monkeypatch), name
        for trigger in triggers:
            metadata = trigger["metadata"]
            assert metadata["bootstrapServers"] == CONFIG["KAFKA_BOOTSTRAP_SERVERS"]
            assert metadata.get("allowIdleConsumers", "false") == "false"
            assert metadata["offsetResetPolicy"] == "earliest"
            assert metadata["topic"] in topics.main_topics()
