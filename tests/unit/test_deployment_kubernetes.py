"""deploy/k8s: every manifest validates against its schema (Kubernetes' own, bundled with
kubernetes-validate, or deploy/k8s/keda/scaledobject.schema.json for KEDA), and agrees with
the code: settings, consumer groups, partition count, the image's user."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from deploy import compose_secrets
from deploy.container.topics import PASSWORD_FILE_PREFIX
from schemas import topics
from schemas.bus_access import ADMIN, BY_NAME, BY_USERNAME, PRINCIPALS
from schemas.codes import Service
from services.plumbing.kafka import Subscription
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
KEDA_AUTH_SCHEMA: dict[str, Any] = json.loads(
    (K8S_DIR / "keda" / "auth" / "triggerauthentication.schema.json").read_text(encoding="utf-8")
)
SECRETS_DIR = "/run/secrets"
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
        if doc["kind"] == "TriggerAuthentication":
            jsonschema.Draft202012Validator(KEDA_AUTH_SCHEMA).validate(doc)
        elif doc["apiVersion"].startswith("keda.sh/"):
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
    """The settings a container gets from its environment: hub-config, then its own."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == "hub-config"
        env.update(CONFIG)
    for entry in container.get("env", []):
        assert "valueFrom" not in entry, f"{entry['name']}: a secret as a variable, not a file"
        env[entry["name"]] = entry.get("value")
    return env


def _secret_files(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The files a container finds under /run/secrets: path -> (Secret, key)."""
    mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
    files: dict[str, tuple[str, str]] = {}
    for volume in pod.get("volumes", []):
        mount = mounts.get(volume["name"])
        if mount is None or mount["mountPath"] != SECRETS_DIR:
            continue
        assert mount.get("readOnly") is True, volume["name"]
        for source in volume["projected"]["sources"]:
            secret = source["secret"]
            for item in secret["items"]:
                files[f"{SECRETS_DIR}/{item['path']}"] = (secret["name"], item["key"])
    return files


def _secret_settings(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The settings the secret files are (a file named like a setting, without a dot; a
    file with one, kafka_ca.pem, is one a setting names by its path)."""
    return {
        path.rsplit("/", 1)[1].upper(): ref
        for path, ref in _secret_files(pod, container).items()
        if "." not in path.rsplit("/", 1)[1]
    }


def _hub_containers() -> Iterator[
    tuple[str, dict[str, Any], type[ServiceSettings], dict[str, tuple[str, str]]]
]:
    """The services' containers, each with the settings class it builds and the settings its
    secret files are (the `migrate` init containers read MigrationSettings only)."""
    for name, deployment in DEPLOYMENTS.items():
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            parsed = service_module(container["args"])
            assert parsed is not None, f"{name}/{container['name']}"
            yield (
                f"{name}/{container['name']}",
                container,
                SETTINGS[parsed[0]],
                _secret_settings(pod, container),
            )


def _migrations() -> Iterator[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Each Deployment's `migrate` init container, the service container it prepares, and
    their pod."""
    for name, deployment in DEPLOYMENTS.items():
        pod = deployment["spec"]["template"]["spec"]
        (migrate,) = pod["initContainers"]
        (main,) = pod["containers"]
        yield name, migrate, main, pod


def test_every_variable_is_a_setting_and_every_required_one_is_set() -> None:
    for where, container, cls, secret_settings in _hub_containers():
        env = {**_container_env(container), **dict.fromkeys(secret_settings)}
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
    generated = {
        name.upper(): value
        for name, value in compose_secrets.generate().items()
        if isinstance(value, str)
    }
    generated["DATABASE_URL"] = generated["DATABASE_URL_INTAKE"]  # any service role's URL
    for where, container, cls, secret_settings in _hub_containers():
        env = _container_env(container)
        suffix = "_" + (env.get("SERVICE") or "").upper()
        username = str(env["KAFKA_SASL_USERNAME"])
        values: dict[str, str] = {k: str(v) for k, v in env.items()}
        for name in secret_settings:
            if name == "KAFKA_SASL_PASSWORD":
                values[name] = generated[f"{PASSWORD_FILE_PREFIX}{username}".upper()]
            else:
                values[name] = generated.get(name) or generated[name + suffix]
        settings = settings_from(cls, values, monkeypatch)
        assert settings.hub_environment == "production", where


def test_secret_references_match_the_example_secrets() -> None:
    examples = {doc["metadata"]["name"]: doc for doc in load_yaml_documents(EXAMPLE_SECRETS)}
    for doc in examples.values():
        for value in doc["stringData"].values():
            assert "REPLACE_ME" in value, (
                "an example secret holds something other than a placeholder"
            )
    for name, workload in _workloads().items():
        pod = workload["spec"]["template"]["spec"]
        for container in _pod_containers(workload):
            where = f"{name}/{container['name']}"
            for path, (secret, key) in _secret_files(pod, container).items():
                # One example stands for every adapter's Secret.
                example = "adapter-idva" if secret.startswith("adapter-") else secret
                assert key in examples[example]["stringData"], f"{where}: {secret}/{key}"
                if "." not in path.rsplit("/", 1)[1] and not path.rsplit("/", 1)[1].startswith(
                    PASSWORD_FILE_PREFIX
                ):
                    assert path == f"{SECRETS_DIR}/{key.lower()}", where
                if secret.startswith("adapter-"):
                    assert where.startswith(secret + "/"), f"{where} reads {secret}"


def test_migrations_run_before_each_service_on_its_database_and_schema() -> None:
    for name, migrate, main, pod in _migrations():
        assert migrate["args"] == [*main["args"], "migrate"], name
        assert migrate["image"] == main["image"], name
        # It migrates the schema the service uses (the same SERVICE and DB_SCHEMA), as the
        # owner, and grants to the role named in the service's own database Secret.
        entries = {e["name"]: e for e in migrate.get("env", [])}
        service = {e["name"]: e for e in main.get("env", [])}
        files = _secret_settings(pod, migrate)
        service_files = _secret_settings(pod, main)
        for variable in ("SERVICE", "DB_SCHEMA"):
            assert entries.get(variable) == service.get(variable), f"{name}: {variable} differs"
            assert files.get(variable) == service_files.get(variable), f"{name}: {variable}"
        # The service's database URL is a file from its own Secret (not the owner's).
        own = service_files["DATABASE_URL"][0]
        assert own == f"hub-database-{name}", name
        examples = {d["metadata"]["name"]: d for d in load_yaml_documents(EXAMPLE_SECRETS)}
        role = entries["DATABASE_APP_ROLE"]["value"]
        assert examples[own]["stringData"]["DATABASE_URL"].startswith(f"postgresql://{role}:")


def test_a_migration_sets_only_what_migrate_reads() -> None:
    for name, migrate, main, pod in _migrations():
        env = {**_container_env(migrate), **dict.fromkeys(_secret_settings(pod, migrate))}
        unknown = set(env) - setting_names(MigrationSettings)
        assert not unknown, f"{name}/migrate sets {sorted(unknown)}, which migrate does not read"
        missing = required_settings(MigrationSettings) - set(env)
        assert not missing, f"{name}/migrate leaves {sorted(missing)} unset"
        if service_module(main["args"]) == ("services.provider_adapter", []):
            # The adapter's schema is its provider service's.
            assert env.get("SERVICE") == _container_env(main)["SERVICE"], name
            assert env.get("SERVICE") in {s.value for s in Service}, name


def test_a_migration_holds_no_secret_but_the_owners_database_url() -> None:
    for name, migrate, _, pod in _migrations():
        files = _secret_files(pod, migrate)
        assert files == {
            f"{SECRETS_DIR}/database_migration_url": (
                "hub-database-migration",
                "DATABASE_MIGRATION_URL",
            )
        }, name


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
    (job,) = _of_kind("Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    parsed = service_module(container["args"])
    assert parsed is not None
    assert parsed[0] == "deploy.container.topics"
    namespace = next(iter(_of_kind("Namespace").values()))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def _groups(subscriptions: list[Subscription]) -> set[tuple[str, str]]:
    return {(s.group_id, s.topic) for s in subscriptions}


def consumer_groups(name: str) -> set[tuple[str, str]]:
    """The (consumer group, topic) pairs the Deployment's service subscribes, read from the
    table its ``register`` subscribes."""
    deployment = DEPLOYMENTS[name]
    main = deployment["spec"]["template"]["spec"]["containers"][0]
    module = main["args"][2]
    if module == "services.router":
        router: Any = SimpleNamespace(pool=None)
        return _groups(router_consumers.subscriptions(router))
    if module == "services.referral_intake":
        pool: Any = None
        return _groups(intake_consumers.subscriptions(pool))
    service = Service(str(_container_env(main)["SERVICE"]))
    adapter: Any = SimpleNamespace(service=service, pool=None)
    consumer: property = vars(Adapter)["consumer"]
    assert consumer.fget is not None
    adapter.consumer = consumer.fget(adapter)
    return _groups(adapter_consumers.subscriptions(adapter))


def test_keda_scales_the_router_and_every_adapter_on_their_consumer_groups() -> None:
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
        assert watched == consumer_groups(name), name
        for trigger in triggers:
            metadata = trigger["metadata"]
            assert metadata["bootstrapServers"] == CONFIG["KAFKA_BOOTSTRAP_SERVERS"]
            assert metadata.get("allowIdleConsumers", "false") == "false"
            assert metadata["offsetResetPolicy"] == "earliest"
            assert metadata["topic"] in topics.main_topics()


# ---- the bus: principals, the topic job, KEDA ----------------------------------------------


def test_every_deployment_is_its_own_kafka_principal_over_tls() -> None:
    """Each Deployment authenticates as the principal schemas/bus_access.py gives its
    process, with the password of its own Secret, and trusts the cluster's CA."""
    assert CONFIG["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    for name, deployment in DEPLOYMENTS.items():
        pod = deployment["spec"]["template"]["spec"]
        (main,) = pod["containers"]
        env = _container_env(main)
        principal = BY_USERNAME[str(env["KAFKA_SASL_USERNAME"])]
        assert principal.username == name
        assert principal.service_process
        files = _secret_files(pod, main)
        assert files[f"{SECRETS_DIR}/kafka_sasl_password"] == (name, "KAFKA_SASL_PASSWORD")
        assert files[str(CONFIG["KAFKA_SSL_CAFILE"])] == ("kafka-ca", "ca.crt")
        # Its groups are the ones the table grants it.
        assert {g for g, _ in consumer_groups(name)} <= principal.groups


def test_the_topic_job_sets_every_principals_password_as_the_super_user() -> None:
    (job,) = _of_kind("Job").values()
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert args[args.index("--users-dir") + 1] == SECRETS_DIR
    env = _container_env(container)
    assert env["KAFKA_SASL_USERNAME"] == ADMIN
    files = _secret_files(pod, container)
    assert files[f"{SECRETS_DIR}/kafka_sasl_password"] == ("kafka-admin", "KAFKA_SASL_PASSWORD")
    users = {path: ref for path, ref in files.items() if ref[0] == "kafka-users"}
    assert users == {
        f"{SECRETS_DIR}/{PASSWORD_FILE_PREFIX}{p.username}": ("kafka-users", p.username)
        for p in PRINCIPALS
    }


def test_keda_reads_lag_as_its_own_principal_and_only_what_the_table_lets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (auth,) = _of_kind("TriggerAuthentication").values()
    parameters = {
        ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]
    }
    assert set(parameters) == {"username", "password", "ca"}
    keda = BY_NAME["keda"]
    for name, scaled in SCALED_OBJECTS.items():
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"], name
            metadata = trigger["metadata"]
            assert (metadata["sasl"], metadata["tls"]) == ("scram_sha512", "enable"), name
            assert metadata["consumerGroup"] in keda.describes_groups, name
            assert metadata["topic"] in keda.describes_topics, name
    watched = {
        t["metadata"]["consumerGroup"]
        for s in SCALED_OBJECTS.values()
        for t in s["spec"]["triggers"]
    }
    assert watched == set(keda.describes_groups)


# ---- the network and disruptions -------------------------------------------------------------


POLICIES = _of_kind("NetworkPolicy")


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector:
        return True
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def _rules(labels: dict[str, str], direction: str) -> list[dict[str, Any]]:
    key = "ingress" if direction == "Ingress" else "egress"
    return [
        rule
        for policy in POLICIES.values()
        if direction in policy["spec"]["policyTypes"]
        and _selects(policy["spec"]["podSelector"], labels)
        for rule in policy["spec"].get(key, [])
    ]


def _peers(rule: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    peers: list[dict[str, Any]] = rule.get("from" if direction == "Ingress" else "to", [])
    return peers


def _allows(labels: dict[str, str], direction: str, port: int, peer: str) -> bool:
    """Whether a rule lets ``labels`` pods connect (Egress) or be connected (Ingress) on
    ``port`` with ``peer``: ``ns:<namespace>``, ``pod:<app name>`` or ``internet``."""
    for rule in _rules(labels, direction):
        if not any(p.get("port") == port for p in rule.get("ports", [])):
            continue
        for entry in _peers(rule, direction):
            if (
                peer.startswith("ns:")
                and entry.get("namespaceSelector", {})
                .get("matchLabels", {})
                .get("kubernetes.io/metadata.name")
                == peer[3:]
            ):
                return True
            if (
                peer.startswith("pod:")
                and "podSelector" in entry
                and "namespaceSelector" not in entry
            ) and _selects(entry["podSelector"], {"app.kubernetes.io/name": peer[4:]}):
                return True
            if peer == "internet" and entry.get("ipBlock", {}).get("cidr") == "0.0.0.0/0":
                return True
    return False


def test_the_namespace_denies_everything_not_allowed() -> None:
    deny = POLICIES["default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny


def test_each_workload_may_make_only_the_connections_it_needs() -> None:
    adapters = [name for name in DEPLOYMENTS if name.startswith("adapter-")]
    for name, deployment in DEPLOYMENTS.items():
        labels = _pod_labels(deployment)
        # All: the bus (TLS listener), the database, the collector, DNS; scraped by Prometheus.
        assert _allows(labels, "Egress", 9093, "ns:kafka"), name
        assert _allows(labels, "Egress", 5432, "internet"), name
        assert _allows(labels, "Egress", 4318, "ns:observability"), name
        assert _allows(labels, "Egress", 53, "ns:kube-system"), name
        assert _allows(labels, "Ingress", 8080, "ns:monitoring"), name
        # Prometheus scrapes the operations port (HTTP_OPS_PORT), where /metrics now is.
        assert _allows(labels, "Ingress", int(CONFIG["HTTP_OPS_PORT"]), "ns:monitoring"), name
        from_ingress = _allows(labels, "Ingress", 8080, "ns:ingress-nginx")
        assert from_ingress == (name == "referral-intake" or name in adapters), name
        to_intake = _allows(labels, "Egress", 8080, "pod:referral-intake")
        assert to_intake == (name in adapters), name
        webhooks = _allows(labels, "Egress", 443, "internet")
        # Providers' webhooks from the adapters, the triage UI's from intake.
        assert webhooks == (name in adapters or name == "referral-intake"), name
    intake = _pod_labels(DEPLOYMENTS["referral-intake"])
    for adapter in adapters:
        assert _allows(intake, "Ingress", 8080, f"pod:{adapter}"), adapter
    assert not _allows(intake, "Ingress", 8080, "pod:router")
    router = _pod_labels(DEPLOYMENTS["router"])
    assert _allows(router, "Ingress", 8080, "pod:referral-intake")
    assert not _allows(router, "Ingress", 8080, "ns:ingress-nginx")
    assert _allows(intake, "Egress", 8080, "pod:router")
    (job,) = _of_kind("Job").values()
    job_labels = _pod_labels(job)
    assert _allows(job_labels, "Egress", 9093, "ns:kafka")
    assert not _allows(job_labels, "Egress", 5432, "internet")
    assert not _rules(job_labels, "Ingress")
    for rule in _rules(_pod_labels(DEPLOYMENTS[adapters[0]]), "Egress"):
        for peer in _peers(rule, "Egress"):
            if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" and 443 in {
                p["port"] for p in rule["ports"]
            }:
                assert "10.0.0.0/8" in peer["ipBlock"]["except"]


def test_every_deployment_has_a_disruption_budget() -> None:
    budgets = _of_kind("PodDisruptionBudget")
    assert set(budgets) == set(DEPLOYMENTS)
    for name, budget in budgets.items():
        spec = budget["spec"]
        assert _selects(spec["selector"], _pod_labels(DEPLOYMENTS[name])), name
        replicas = DEPLOYMENTS[name]["spec"].get("replicas")
        if replicas and replicas > 1:
            assert spec.get("minAvailable") == replicas - 1, name
        else:
            # One pod (KEDA may scale to one): allow it to move, one at a time.
            assert spec.get("maxUnavailable") == 1, name
