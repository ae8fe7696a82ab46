"""``make run``: bring the whole hub up on this machine, supervise it, take it down.

Start order: PostgreSQL, Apache Kafka, topics (the topic job's own code), migrations,
credentials, services; then write
``.dev/stack.json`` (contract: "Local stack discovery"). A service process that dies is
started again with backoff and the file updated. Ctrl-C stops services first (they finish
in-flight work and commit offsets), then the broker, then the database, and removes the
file.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx

from deploy import database_roles
from deploy.container import topics as topic_job
from deploy.localstack import kafka, portals
from deploy.localstack import ports as portlib
from deploy.localstack.credentials import (
    AUDIENCE,
    ISSUER,
    Credentials,
    generate,
    persistent_secrets,
)
from deploy.localstack.kafka import KafkaBroker
from deploy.localstack.postgres import EmbeddedPostgres
from deploy.localstack.processes import spawn, stop
from schemas.bus_access import ADMIN, BY_NAME, PRINCIPALS
from schemas.codes import Service
from schemas.topics import PARTITIONS, all_topics
from services.plumbing.kafka_access import SASL_MECHANISM, KafkaAccess
from services.plumbing.migrations import ensure_database
from services.plumbing.settings import SECRETS_DIR_VARIABLE, KafkaSettings
from services.provider_adapter.settings import AdapterSettings
from services.referral_intake.settings import IntakeSettings
from services.router.settings import RouterSettings

_SETTING_NAMES = frozenset(
    {SECRETS_DIR_VARIABLE}
    | {
        name.upper()
        for cls in (IntakeSettings, RouterSettings, AdapterSettings)
        for name in cls.model_fields
    }
)
"""What a service reads from its environment: what ``.dev/env/<process>.env`` holds."""

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATABASE = "hub"
DEFAULT_PORTS = {
    "referral_intake": 8080,
    # 8081 upwards, one per provider service in the enum's order (VAL 8081 .. DIVERT 8085).
    **{f"provider_adapter.{s.value}": 8081 + n for n, s in enumerate(Service)},
    "router": 8090,
    "kafka": 9092,
}
READY_TIMEOUT_SECONDS = 120.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0

Say = Callable[[str], None]


class AlreadyRunning(Exception):
    pass


@dataclass
class Child:
    name: str
    module: str
    env: dict[str, str]
    port: int
    log_path: Path
    schema: str = ""
    service: str = ""
    """The service this process is a replica of (``router`` for ``router#2``): its Kafka
    principal, database role and consumer groups are the service's. Empty: ``name``."""
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None

    def start(self) -> None:
        self.process = spawn(
            [sys.executable, "-m", self.module],
            env=self.env,
            log_path=self.log_path,
            cwd=PROJECT_ROOT,
        )
        self.started_at = time.monotonic()
        self.restart_at = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def service_name(self) -> str:
        return self.service or self.name

    @property
    def is_replica(self) -> bool:
        """A second or later replica: the first applies the migrations, and owns the
        service's address in ``stack.json``."""
        return self.service_name != self.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Options:
    state_dir: Path
    free_ports: bool = False
    ephemeral: bool = False
    database_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    routers: int = 1
    """Router processes: one consumer group, the partitions split between them."""
    adapter_replicas: int = 1
    """Processes per provider adapter, each serving the provider API on its own port."""


def replica_name(service: str, number: int) -> str:
    """The process name of a service's ``number``th replica (from 1): the first keeps the
    service's own name (``router``), the others add ``#n`` (``router#2``)."""
    return service if number == 1 else f"{service}#{number}"


@dataclass
class Stack:
    options: Options
    say: Say = print
    children: list[Child] = field(default_factory=list)
    postgres: EmbeddedPostgres | None = None
    broker: KafkaBroker | None = None
    credentials: Credentials | None = None
    _secrets: dict[str, str] = field(default_factory=dict)
    database_url: str = ""
    """The schemas' owner (``.dev/stack.json``'s ``database_url``)."""
    role_urls: dict[str, str] | None = None
    """Each schema's service role, when the local stack made the roles (embedded database)."""
    bootstrap_servers: str = ""
    kafka_admin: KafkaAccess | None = None
    kafka_passwords: dict[str, str] = field(default_factory=dict)
    """Each principal's password by username: made afresh on every start (a rotation)."""
    _stopping: bool = False
    _lock_file: IO[str] | None = None

    # ---- paths -----------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.options.state_dir

    @property
    def stack_file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    # ---- the whole run -----------------------------------------------------------------
    def run(self) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._take_lock()
        except AlreadyRunning as exc:
            self.say(str(exc))
            return 1
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            self.stack_file.unlink(missing_ok=True)  # left by a run that was killed outright
            self._start_infrastructure()
            self._prepare()
            self._start_services()
            if self._stopping:
                return 0
            self._write_stack_file()
            self._print_summary()
            self._supervise()
            return 0
        except StartupFailed as exc:
            self.say(f"\nCould not start the hub: {exc}")
            return 1
        finally:
            self._shutdown()

    def _on_signal(self, signum: int, _frame: object) -> None:
        if not self._stopping:
            self.say(
                "\nStopping the hub (Ctrl-C again does not hurry it; give it a few seconds)..."
            )
        self._stopping = True

    # ---- lock -------------------------------------------------------------------------------
    def _take_lock(self) -> None:
        path = self.state_dir / "stack.lock"
        handle = open(path, "a+")  # noqa: SIM115 - held for the life of the stack
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"The hub is already running here (supervisor pid {holder}); its URLs, tokens and "
                f"keys are in {self._display(self.stack_file)}.\n"
                f"Stop it with Ctrl-C in its terminal, or: kill {holder}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def _display(self, path: Path) -> str:
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    # ---- infrastructure --------------------------------------------------------------
    def _port(self, name: str) -> int:
        wanted = DEFAULT_PORTS[name]
        if not self.options.free_ports and portlib.is_free(wanted):
            return wanted
        chosen = portlib.free_port()
        if not self.options.free_ports:
            self.say(f"  port {wanted} is busy; {name} uses {chosen} instead")
        return chosen

    def _start_infrastructure(self) -> None:
        if not self.options.kafka_bootstrap_servers:
            try:  # before anything starts: say at once what the machine lacks
                kafka.java()
            except kafka.Missing as exc:
                raise StartupFailed(str(exc)) from exc
        if self.options.database_url:
            self.database_url = self.options.database_url
            self.say(f"Using PostgreSQL at {_redact(self.database_url)} (DATABASE_URL)")
        else:
            port = portlib.free_port()
            self.say(f"Starting PostgreSQL (embedded) on 127.0.0.1:{port} ...")
            secrets_ = persistent_secrets(self.state_dir / "secrets.json")
            self.postgres = EmbeddedPostgres(
                self.state_dir / "pgdata",
                port,
                self.logs_dir / "postgres.log",
                password=secrets_["postgres_password"],
                durable=not self.options.ephemeral,
            )
            try:
                self.postgres.start()
            except RuntimeError as exc:
                raise StartupFailed(str(exc)) from exc
            # Least privilege (issue 25): the schemas belong to an owner that is no
            # superuser; each service logs in as its own role, with its own password.
            passwords = {role: secrets_[f"db_password.{role}"] for role in database_roles.roles()}
            asyncio.run(database_roles.provision(self.postgres.url(), DATABASE, passwords))
            database = self.postgres.url(DATABASE)
            self.database_url = database_roles.with_role(
                database, database_roles.OWNER, passwords[database_roles.OWNER]
            )
            self.role_urls = {
                schema: database_roles.with_role(
                    database,
                    database_roles.app_role(schema),
                    passwords[database_roles.app_role(schema)],
                )
                for schema in database_roles.SCHEMAS
            }
        asyncio.run(ensure_database(self.database_url))

        if self.options.kafka_bootstrap_servers:
            self.bootstrap_servers = self.options.kafka_bootstrap_servers
            # Its principal, if it wants one, from the KAFKA_* settings (as a service reads
            # them): the topic job and every service use it.
            self.kafka_admin = KafkaAccess.of(KafkaSettings())
            self.say(f"Using Kafka at {self.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS)")
        else:
            port = self._port("kafka")
            home = self.state_dir / "kafka"
            self.say(
                f"Starting Apache Kafka {kafka.kafka_version()} (KRaft, one node, log in "
                f"{self._display(home)}/) on 127.0.0.1:{port} ..."
            )
            admin_password = persistent_secrets(self.state_dir / "secrets.json")[
                "kafka_admin_password"
            ]
            security = kafka.Security(admin_password, tls_port=portlib.free_port())
            self.broker = KafkaBroker(home, port, self.logs_dir / "kafka.log", security=security)
            try:
                self.broker.start(say=self.say)
            except (RuntimeError, kafka.Missing) as exc:
                raise StartupFailed(str(exc)) from exc
            self.say(f"  Kafka ready in {self.broker.started_in_seconds} s")
            self.bootstrap_servers = self.broker.bootstrap_servers
            self.kafka_admin = KafkaAccess(self.bootstrap_servers).as_user(ADMIN, admin_password)
            self.kafka_passwords = {p.username: secrets.token_urlsafe(24) for p in PRINCIPALS}

    def _provision_bus(self) -> None:
        """What the topic job does in production: every topic, with its partitions and
        configuration (existing ones are left alone: a restarted broker keeps its log); on
        the embedded broker also a SCRAM user per principal and the ACLs of
        ``schemas/bus_access.py``."""
        assert self.kafka_admin is not None
        job = topic_job.prepare(
            self.kafka_admin,
            1,
            60,
            self.kafka_passwords or None,
            manage_acls=self.broker is not None,
        )
        if asyncio.run(job) != 0:
            raise StartupFailed(
                "the topic job failed (a hub topic without its partitions, or the broker "
                "refused a user or an ACL); its log says which"
            )

    def _prepare(self) -> None:
        portals.ensure_assets(PROJECT_ROOT, self.say)
        self._provision_bus()
        self.say(
            f"Topics ready ({len(all_topics())}, {PARTITIONS} partitions each)"
            + (
                f"; {len(self.kafka_passwords)} principals with their ACLs"
                if self.kafka_passwords
                else ""
            )
        )
        self.credentials = generate()
        self.children = self._plan_children()
        self._write_env_files()
        self.say("Applying database migrations ...")
        migrating = [child for child in self.children if not child.is_replica]
        migrations = [
            subprocess.Popen(
                [sys.executable, "-m", child.module, "migrate"],
                env=self._migration_env(child),
                cwd=PROJECT_ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for child in migrating
        ]
        for child, process in zip(migrating, migrations, strict=True):
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                raise StartupFailed(
                    f"migrations for {child.name} failed:\n"
                    + output.decode(errors="replace")[-2000:]
                )
        portals.ensure_administrators(self.database_url, self._secrets)

    def _migration_env(self, child: Child) -> dict[str, str]:
        """A migration runs as the schemas' owner and gives the service's own role its
        privileges; it holds no password of the service's role."""
        env = {k: v for k, v in child.env.items() if k != "DATABASE_URL"}
        env["DATABASE_MIGRATION_URL"] = self.database_url
        if self.role_urls is not None:
            env["DATABASE_APP_ROLE"] = database_roles.app_role(child.schema)
        return env

    def _plan_children(self) -> list[Child]:
        assert self.credentials is not None
        creds = self.credentials
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "KAFKA_"))}
        base.update(
            {
                "DATABASE_URL": self.database_url,
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
                **(self._external_kafka_principal() if not self.broker else {}),
                "STAFF_JWT_PUBLIC_KEY": creds.public_key_pem,
                # A killed consumer's partitions move to another within seconds.
                "KAFKA_SESSION_TIMEOUT_MS": os.environ.get("KAFKA_SESSION_TIMEOUT_MS", "6000"),
                "KAFKA_HEARTBEAT_INTERVAL_MS": os.environ.get(
                    "KAFKA_HEARTBEAT_INTERVAL_MS", "1000"
                ),
                "STAFF_JWT_ISSUER": ISSUER,
                "STAFF_JWT_AUDIENCE": AUDIENCE,
                "HTTP_HOST": "127.0.0.1",
                "PYTHONUNBUFFERED": "1",
                # The local stack's own issuer and its loopback broker without TLS are
                # development settings: say so, or the services refuse to start.
                "HUB_ENVIRONMENT": os.environ.get("HUB_ENVIRONMENT", "local"),
            }
        )
        secrets_ = self._secrets = persistent_secrets(self.state_dir / "secrets.json")
        intake_port = self._port("referral_intake")
        router_port = self._port("router")
        children = [
            Child(
                "referral_intake",
                "services.referral_intake",
                {
                    **base,
                    "HTTP_PORT": str(intake_port),
                    "ROUTER_URL": f"http://127.0.0.1:{router_port}",
                    "IDENTITY_HASH_KEY": secrets_["identity_hash_key"],
                    "VAULT_KEYS": json.dumps({"local-1": secrets_["vault_key"]}),
                    "VAULT_KEY_ID": "local-1",
                    # The triage UI's webhook (the demo's, the tests') on loopback over http:
                    # a development setting, as the providers' below.
                    "WEBHOOK_INSECURE_HOSTS": "127.0.0.1,localhost,*.localhost",
                    "OUTBOUND_ALLOW_LOOPBACK": "true",
                },
                intake_port,
                self.logs_dir / "referral_intake.log",
                schema="intake",
            ),
            Child(
                "router",
                "services.router",
                {**base, "HTTP_PORT": str(router_port)},
                router_port,
                self.logs_dir / "router.log",
                schema="router",
            ),
        ]
        for service in Service:
            name = f"provider_adapter.{service.value}"
            port = self._port(name)
            env = {
                **base,
                "HTTP_PORT": str(port),
                "SERVICE": service.value,
                "INTAKE_URL": f"http://127.0.0.1:{intake_port}",
                "INTAKE_SERVICE_TOKEN": creds.service_tokens[service],
                "PROVIDER_KEY_SHA256": creds.provider_key_hash(service),
                # Providers on this machine (the demo's, the tests') receive webhooks over
                # http, on loopback: a development setting (production refuses both).
                "WEBHOOK_INSECURE_HOSTS": "127.0.0.1,localhost,*.localhost",
                "OUTBOUND_ALLOW_LOOPBACK": "true",
                **portals.adapter_env(secrets_),
            }
            children.append(
                Child(
                    name,
                    "services.provider_adapter",
                    env,
                    port,
                    self.logs_dir / f"{name}.log",
                    schema=f"adapter_{service.value.lower()}",
                )
            )
        children = self._with_replicas(children)
        # Loopback receivers are allowed here, but never on a port of the hub's own: every
        # service knows every other's address (the database and broker are in their settings).
        own = ",".join(f"127.0.0.1:{child.port}" for child in children)
        for child in children:
            child.env["HUB_ENDPOINTS"] = own
            if self.role_urls is not None:
                child.env["DATABASE_URL"] = self.role_urls[child.schema]
        if self.kafka_passwords:
            for child in children:
                self._give_principal(child)
        spans_dir = os.environ.get("TELEMETRY_SPANS_DIR")
        if spans_dir:  # every process writes its finished spans, for reading without a collector
            for child in children:
                child.env["TELEMETRY_SPANS_FILE"] = str(Path(spans_dir) / f"{child.name}.jsonl")
        return children

    def _with_replicas(self, children: list[Child]) -> list[Child]:
        """Each service followed by its further replicas (``Options.routers``,
        ``Options.adapter_replicas``): the same settings on a port of its own, a log of its
        own, and the same consumer groups, so that Kafka splits the partitions between them
        (as more pods of one Deployment would)."""
        planned: list[Child] = []
        for child in children:
            planned.append(child)
            if child.name == "router":
                count = self.options.routers
            elif child.name.startswith("provider_adapter."):
                count = self.options.adapter_replicas
            else:
                count = 1
            for number in range(2, count + 1):
                name = replica_name(child.name, number)
                port = portlib.free_port()
                planned.append(
                    Child(
                        name,
                        child.module,
                        {**child.env, "HTTP_PORT": str(port)},
                        port,
                        self.logs_dir / f"{name}.log",
                        schema=child.schema,
                        service=child.name,
                    )
                )
        return planned

    def _external_kafka_principal(self) -> dict[str, str]:
        """For a broker of someone else's: the one principal the environment names."""
        names = ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")
        found = {
            name: os.environ[name] for name in (*names, "KAFKA_SSL_CAFILE") if name in os.environ
        }
        return found

    def _give_principal(self, child: Child) -> None:
        """The child's own Kafka principal; its password as a secret file, read by the
        settings (``HUB_SECRETS_DIR``) as in a container."""
        username = BY_NAME[child.service_name].username
        directory = self.state_dir / "secrets" / child.name
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        secret = directory / "kafka_sasl_password"
        secret.unlink(missing_ok=True)
        secret.touch(mode=0o600)
        secret.write_text(self.kafka_passwords[username])
        child.env.update(
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_USERNAME": username,
                "HUB_SECRETS_DIR": str(directory),
            }
        )

    # ---- services ------------------------------------------------------------------------
    def _start_services(self) -> None:
        self.say(
            f"Starting {len(self.children)} service processes "
            f"(logs in {self._display(self.logs_dir)}/) ..."
        )
        for child in self.children:
            child.start()
        pending = {child.name: child for child in self.children}
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        with httpx.Client(timeout=2.0) as client:
            while pending and not self._stopping:
                for name, child in list(pending.items()):
                    assert child.process is not None
                    if child.process.poll() is not None:
                        raise StartupFailed(
                            f"{name} exited with code {child.process.returncode} while starting; "
                            f"last lines of {self._display(child.log_path)}:\n"
                            + _tail(child.log_path)
                        )
                    try:
                        ready = client.get(f"{child.url}/readyz").status_code == 200
                    except httpx.HTTPError:
                        ready = False
                    if ready:
                        self.say(f"  ready: {name:<24} {child.url}")
                        del pending[name]
                if time.monotonic() > deadline:
                    raise StartupFailed(
                        f"not ready after {READY_TIMEOUT_SECONDS:.0f}s: {', '.join(pending)}; "
                        f"see {self._display(self.logs_dir)}/"
                    )
                time.sleep(0.2)

    def _restart_infrastructure(self) -> bool:
        """The broker or the database died: start it again where it was, on its log or data
        directory. The services reconnect by themselves. Should the broker's log have gone,
        it is formatted afresh and its topics made again, and intake's reconciliation
        re-drives what was in flight."""
        changed = False
        if self.broker and self.broker.process and self.broker.process.poll() is not None:
            self.say(f"{_now()} the broker exited; starting it again on its log")
            self.broker.start(say=self.say)
            self._provision_bus()
            changed = True
        if self.postgres and self.postgres.process and self.postgres.process.poll() is not None:
            self.say(f"{_now()} PostgreSQL exited; starting it again")
            self.postgres.start()
            changed = True
        return changed

    def _supervise(self) -> None:
        while not self._stopping:
            now = time.monotonic()
            try:
                changed = self._restart_infrastructure()
            except (RuntimeError, StartupFailed) as exc:
                self.say(f"{_now()} could not restart: {exc}; trying again")
                changed = False
            for child in self.children:
                assert child.process is not None
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        child.start()
                        self.say(f"{_now()} restarted {child.name} (pid {child.pid})")
                        changed = True
                    continue
                code = child.process.poll()
                if code is None:
                    continue
                child.failures = (
                    1 if now - child.started_at > STABLE_AFTER_SECONDS else child.failures + 1
                )
                delay = min(2 ** (child.failures - 1), MAX_BACKOFF_SECONDS)
                child.restart_at = now + delay
                self.say(
                    f"{_now()} {child.name} exited with code {code}; restarting in {delay:.0f}s "
                    f"(see {self._display(child.log_path)})"
                )
            if changed:
                self._write_stack_file()
            time.sleep(0.2)

    # ---- discovery file ------------------------------------------------------------------
    def stack_description(self) -> dict[str, Any]:
        assert self.credentials is not None
        by_name = {c.name: c for c in self.children}
        description: dict[str, Any] = {
            "intake_url": by_name["referral_intake"].url,
            "provider_api_urls": {
                s.value: by_name[f"provider_adapter.{s.value}"].url for s in Service
            },
            "router_url": by_name["router"].url,
            "kafka_bootstrap_servers": self.bootstrap_servers,
            # The owner's: a developer inspects every schema, and make simulate, the dead
            # letters tool and psql work with it. Services log in as their own roles.
            "database_url": self.database_url,
            "database_roles": {
                child.name: database_roles.app_role(child.schema) for child in self.children
            }
            if self.role_urls is not None
            else {},
            "staff_tokens": dict(self.credentials.staff_tokens),
            "provider_keys": {s.value: k for s, k in self.credentials.provider_keys.items()},
            "provider_portal_urls": {
                s.value: by_name[f"provider_adapter.{s.value}"].url + portals.PATH for s in Service
            },
            "portal_administrators": {
                s.value: portals.administrator(self._secrets) for s in Service
            },
            "processes": {c.name: c.pid for c in self.children},
            "infrastructure": {
                "postgres": self.postgres.process.pid
                if self.postgres and self.postgres.process
                else None,
                "kafka": self.broker.process.pid if self.broker and self.broker.process else None,
                "supervisor": os.getpid(),
            },
            "logs_dir": str(self.logs_dir),
            # Scale-out (make run ROUTERS=3 ADAPTER_REPLICAS=2): each service's processes,
            # the first (the service's own name) first, and each process's own address.
            "replicas": {
                c.name: [r.name for r in self.children if r.service_name == c.name]
                for c in self.children
                if not c.is_replica
            },
            "process_urls": {c.name: c.url for c in self.children},
        }
        if self.kafka_passwords:
            description["kafka_security"] = self._kafka_security()
        return description

    def _kafka_security(self) -> dict[str, Any]:
        """docs/contract.md ``kafka_security``: one principal per process in ``processes``;
        ``tools`` adds the dead-letter tool's and the super user's, ``ssl_*`` the broker's
        SASL_SSL listener and the CA it is signed by."""

        def entry(username: str) -> dict[str, str]:
            return {"username": username, "password": self.kafka_passwords[username]}

        assert self.broker is not None
        assert self.kafka_admin is not None
        assert self.kafka_admin.password is not None
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": SASL_MECHANISM,
            "principals": {c.name: entry(BY_NAME[c.service_name].username) for c in self.children},
            "tools": {
                "dead_letters": entry(BY_NAME["dead_letters"].username),
                "admin": {"username": ADMIN, "password": self.kafka_admin.password},
            },
            "ssl_bootstrap_servers": self.broker.tls_bootstrap_servers,
            "ssl_cafile": str(self.broker.ca_file),
        }

    def _write_env_files(self) -> None:
        """``.dev/env/<process>.env``: the settings this stack gives each service process,
        as shell assignments (owner-only: they hold its database password and tokens), so
        that the README's "Running one service alone" can start one more by hand."""
        directory = self.state_dir / "env"
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        for child in self.children:
            settings = {k: v for k, v in sorted(child.env.items()) if k in _SETTING_NAMES}
            target = directory / f"{child.name}.env"
            target.unlink(missing_ok=True)
            target.touch(mode=0o600)
            target.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in settings.items()))

    def _write_stack_file(self) -> None:
        temporary = self.stack_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.stack_description(), indent=2))
        temporary.chmod(0o600)  # it holds tokens and keys
        temporary.replace(self.stack_file)

    def _print_summary(self) -> None:
        d = self.stack_description()
        lines = [
            "",
            "The referral hub is running.",
            f"  intake API (staff)   {d['intake_url']}      API docs: {d['intake_url']}/docs",
        ]
        lines += [f"  provider API {s:<7} {url}" for s, url in d["provider_api_urls"].items()]
        lines += portals.summary(d["provider_portal_urls"], d["portal_administrators"]["IDVA"])
        lines += [
            f"  router               {d['router_url']}/readyz",
            *self._replica_summary(),
            f"  Kafka                {d['kafka_bootstrap_servers']}",
            f"  PostgreSQL           {_redact(d['database_url'])}",
            f"  tokens and keys      {self._display(self.stack_file)}",
            f"  logs                 {self._display(self.logs_dir)}/",
            "Press Ctrl-C to stop.",
            "",
        ]
        self.say("\n".join(lines))

    def _replica_summary(self) -> list[str]:
        return [
            f"  {service:<20} {len(names)} processes sharing its consumer groups"
            for service, names in self.stack_description()["replicas"].items()
            if len(names) > 1
        ]

    # ---- shutdown -----------------------------------------------------------------------
    def _shutdown(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        for child in running:
            assert child.process is not None
            stop(child.process, timeout=20)
        if running:
            self.say(f"  stopped {len(running)} service processes")
        if self.broker is not None:
            self.broker.stop()
            self.say("  stopped the broker")
        if self.postgres is not None:
            self.postgres.stop()
            self.say("  stopped PostgreSQL")
            if self.options.ephemeral:
                import shutil

                shutil.rmtree(self.state_dir / "pgdata", ignore_errors=True)
        self.stack_file.unlink(missing_ok=True)
        if self._lock_file is not None:
            self._lock_file.close()
        self.say("The hub has stopped.")


class StartupFailed(Exception):
    pass


def kafka_admin_access(info: dict[str, Any]) -> KafkaAccess:
    """A running stack's broker as its super user, from its ``stack.json``: for the tests
    and the bench, which read every topic back."""
    access = KafkaAccess(info["kafka_bootstrap_servers"])
    security = info.get("kafka_security")
    if security:
        admin = security["tools"]["admin"]
        access = access.as_user(admin["username"], admin["password"])
    return access


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S")


def _redact(url: str) -> str:
    """A database URL without its password, for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"
