"""Apache Kafka for the local stack and the tests: the broker production runs, one node in
KRaft mode (broker and controller in one JVM), its log on disk, so that a restart keeps
topics, records, committed offsets, SCRAM users and ACLs as a real broker does.

The jars come from Maven Central through Maven (``kafka/pom.xml`` names the version, the one
place the repository does), are checked against ``kafka/jars.sha256`` and cached in
``.kafka/`` (like ``.venv``): only the first start downloads anything. What the machine needs
is Java 17 or later; Maven is used from ``PATH`` when there is one, otherwise a pinned Maven
distribution is fetched from Maven Central (its SHA-512 checked) into ``.kafka/``.

With ``security``, the broker authenticates every client (SASL/SCRAM-SHA-512), authorizes
each request with the StandardAuthorizer (no ACL, no access), and can offer a second listener
with TLS (SASL_SSL) under a certificate of a locally made CA. The admin principal is the
broker's own (inter-broker and controller traffic) and the one super user.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.localstack import tls
from deploy.localstack.ports import accepts_connections, free_port
from deploy.localstack.processes import spawn, stop
from schemas.bus_access import ADMIN
from schemas.topics import MESSAGE_MAX_BYTES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "kafka"
POM = HERE / "pom.xml"
JARS_LOCK = HERE / "jars.sha256"
CACHE_DIR = Path(os.environ.get("HUB_KAFKA_CACHE", PROJECT_ROOT / ".kafka"))

MAVEN_VERSION = "3.9.11"
MAVEN_URL = (
    "https://repo.maven.apache.org/maven2/org/apache/maven/apache-maven/"
    f"{MAVEN_VERSION}/apache-maven-{MAVEN_VERSION}-bin.tar.gz"
)
MAVEN_SHA512 = (
    "bcfe4fe305c962ace56ac7b5fc7a08b87d5abd8b7e89027ab251069faebee516"  # first half
    "b0ded8961445d6d91ec1985dfe30f8153268843c89aa392733d1a3ec956c9978"
)
"""The SHA-512 Maven Central publishes beside the archive (``.sha512``), pinned here."""

MIN_JAVA = 17
JVM_OPTIONS = (
    # A laptop's broker: a small heap, the serial collector (no GC threads to feed on two
    # cores) and the client compiler only, which starts in about half the time; the broker
    # moves a few thousand small records a second here, well within what C1 code does.
    "-Xms64m",
    "-Xmx320m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:MaxMetaspaceSize=128m",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


class Missing(RuntimeError):
    """Something the broker needs is not on this machine; the message says what to install."""


def kafka_version() -> str:
    """The Kafka version the repository runs everywhere (``kafka/pom.xml``)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    found = ET.parse(POM).getroot().find("m:properties/m:kafka.version", ns)  # noqa: S314 - our file
    if found is None or not found.text:
        raise RuntimeError(f"{POM} names no kafka.version")
    return found.text.strip()


# ---- Java and Maven ----------------------------------------------------------------------


def java() -> str:
    """The ``java`` to run the broker with (``JAVA_HOME`` first, then ``PATH``), checked to
    be version 17 or later. Raises ``Missing`` otherwise."""
    home = os.environ.get("JAVA_HOME")
    candidate = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        raise Missing(
            f"Java {MIN_JAVA} or later is needed to run Apache Kafka, and there is no `java` "
            "on PATH (nor in JAVA_HOME). Install a JDK or JRE, e.g. "
            f"`apt-get install openjdk-{MIN_JAVA}-jre-headless`, then run `make run` again."
        )
    result = subprocess.run(
        [candidate, "-version"], capture_output=True, text=True, check=False, timeout=30
    )
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0_392"
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise Missing(
            f"Java {MIN_JAVA} or later is needed to run Apache Kafka {kafka_version()}; "
            f"{candidate} is {match.group(0) if match else 'of an unknown version'}. "
            "Install a newer one or point JAVA_HOME at it."
        )
    return candidate


def _maven(say: Callable[[str], None]) -> list[str]:
    """A Maven command: the one on ``PATH``, or a pinned distribution fetched once."""
    found = shutil.which("mvn")
    if found:
        return [found]
    home = CACHE_DIR / f"apache-maven-{MAVEN_VERSION}"
    launcher = home / "bin" / "mvn"
    if not launcher.exists():
        say(f"  fetching Maven {MAVEN_VERSION} from Maven Central (once) ...")
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
            archive = Path(tmp) / "maven.tar.gz"
            with urllib.request.urlopen(MAVEN_URL, timeout=120) as response:  # noqa: S310
                archive.write_bytes(response.read())
            digest = hashlib.sha512(archive.read_bytes()).hexdigest()
            if digest != MAVEN_SHA512:
                raise Missing(f"the Maven download's SHA-512 is {digest}, not the pinned one")
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
            Path(tmp, home.name).replace(home)
    return [str(launcher)]


# ---- the jars ----------------------------------------------------------------------------


def _locked() -> dict[str, str]:
    """``jars.sha256``: file name -> SHA-256, as ``sha256sum`` writes it."""
    entries = {}
    for line in JARS_LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split()
            entries[name.lstrip("*")] = digest
    return entries


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _resolve(destination: Path, say: Callable[[str], None]) -> None:
    """Maven copies the broker's jars and every runtime dependency into ``destination``;
    ``--strict-checksums`` refuses a download whose checksum does not match the
    repository's."""
    command = [
        *_maven(say),
        "--batch-mode",
        "--quiet",
        "--strict-checksums",
        "--file",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={destination}",
    ]
    _run(command, "Maven could not fetch Apache Kafka's jars from Maven Central", Missing, 900)


def _run(command: list[str], failure: str, error: type[Exception], timeout: float) -> None:
    """Run a tool to the end; on failure raise ``error`` with its last words."""
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)
    if result.returncode != 0:
        raise error(f"{failure}:\n" + (result.stdout + result.stderr)[-3000:])


def jars(say: Callable[[str], None] = print) -> list[Path]:
    """The broker's classpath: every jar ``jars.sha256`` names, each checked, from the cache
    (``.kafka/kafka-<version>/``), fetched through Maven the first time."""
    locked = _locked()
    target = CACHE_DIR / f"kafka-{kafka_version()}"
    stamp = target / ".verified"
    lock_digest = _sha256(JARS_LOCK)
    if stamp.exists() and stamp.read_text() == lock_digest:
        return sorted(target / name for name in locked)
    say(f"  fetching Apache Kafka {kafka_version()} through Maven (once; about 45 MB) ...")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        fetched = Path(tmp) / "jars"
        _resolve(fetched, say)
        problems = verify(fetched, locked)
        if problems:
            raise Missing(
                "the jars Maven fetched differ from kafka/jars.sha256: "
                + "; ".join(problems)
                + " (after a deliberate version change: python -m deploy.localstack.kafka lock)"
            )
        if target.exists():
            shutil.rmtree(target)
        fetched.replace(target)
    stamp.write_text(lock_digest)
    return sorted(target / name for name in locked)


def verify(directory: Path, locked: dict[str, str]) -> list[str]:
    """What is wrong with ``directory`` against the lock: missing, extra or changed jars."""
    present = {p.name for p in directory.glob("*.jar")}
    problems = [f"{name} is missing" for name in sorted(set(locked) - present)]
    problems += [f"{name} is not in the lock" for name in sorted(present - set(locked))]
    problems += [
        f"{name} has SHA-256 {_sha256(directory / name)}"
        for name in sorted(present & set(locked))
        if _sha256(directory / name) != locked[name]
    ]
    return problems


def write_lock() -> None:
    """``python -m deploy.localstack.kafka lock``: resolve afresh and pin what came."""
    with tempfile.TemporaryDirectory() as tmp:
        _resolve(Path(tmp), print)
        lines = [f"{_sha256(p)}  {p.name}" for p in sorted(Path(tmp).glob("*.jar"))]
    header = f"# Apache Kafka {kafka_version()} and its runtime dependencies (kafka/pom.xml)"
    JARS_LOCK.write_text("\n".join([header, *lines]) + "\n")
    print(f"wrote {len(lines)} jars to {JARS_LOCK}")


# ---- the broker --------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    """A SASL_SSL listener for clients: where it binds and what it advertises, and the
    broker's PKCS#12 key store (its password is the secret file ``kafka_keystore_password``)."""

    bind: str
    port: int
    advertised_host: str
    keystore: str


ADMIN_PASSWORD_FILE = "kafka_admin_password"  # noqa: S105 - a file name
KEYSTORE_PASSWORD_FILE = "kafka_keystore_password"  # noqa: S105 - a file name


def broker_properties(
    *,
    data_dir: str,
    broker_port: int,
    controller_port: int,
    secrets_dir: str | None,
    tls: Tls | None = None,
    advertise_broker_listener: bool = True,
) -> dict[str, str]:
    """The configuration of a one-node KRaft cluster (broker and controller), the same for
    the local stack, the tests and docker-compose.yml (``deploy/kafka/server.properties`` is
    generated from it; a test keeps it so).

    ``BROKER`` on 127.0.0.1 carries inter-broker traffic (and the local stack's clients);
    ``CONTROLLER`` on 127.0.0.1 the KRaft quorum; ``TLS``, if given, the clients over
    SASL_SSL. With ``secrets_dir``, every listener authenticates (SCRAM-SHA-512; PLAIN on the
    controller listener, where SCRAM cannot work: its credentials live in the metadata the
    controller serves), the StandardAuthorizer allows only what an ACL grants, and the one
    super user is ``ADMIN``. Passwords are read from files in ``secrets_dir`` by Kafka's
    DirectoryConfigProvider, so that the file holds no secret."""
    from schemas.topics import PARTITIONS

    secure = secrets_dir is not None
    sasl_or_plain = "SASL_PLAINTEXT" if secure else "PLAINTEXT"
    listeners = [f"BROKER://127.0.0.1:{broker_port}", f"CONTROLLER://127.0.0.1:{controller_port}"]
    protocols = [f"BROKER:{sasl_or_plain}", f"CONTROLLER:{sasl_or_plain}"]
    advertised = [f"BROKER://127.0.0.1:{broker_port}"] if advertise_broker_listener else []
    if tls is not None:
        listeners.append(f"TLS://{tls.bind}:{tls.port}")
        protocols.append("TLS:SASL_SSL" if secure else "TLS:SSL")
        advertised.append(f"TLS://{tls.advertised_host}:{tls.port}")
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": ",".join(listeners),
        "advertised.listeners": ",".join(advertised),
        "listener.security.protocol.map": ",".join(protocols),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "BROKER",
        "log.dirs": data_dir,
        # Topics are made by the topic job (deploy/container/topics.py) with the hub's
        # partition count and configuration; a typo in a topic name must fail.
        "auto.create.topics.enable": "false",
        "num.partitions": str(PARTITIONS),
        # The largest record batch: the hub's one setting, from which the producers' limit
        # and the largest event an outbox takes are derived (schemas/topics.py).
        "message.max.bytes": str(MESSAGE_MAX_BYTES),
        # One node: one copy of everything.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        # A consumer group starts at once instead of waiting for more members, and the tests
        # may notice a killed consumer within two seconds (the default floor is six).
        "group.initial.rebalance.delay.ms": "0",
        "group.min.session.timeout.ms": "1000",
        # Sized for one small machine: fewer threads and internal partitions, and a log
        # cleaner buffer that fits a small heap (the default is 128 MB).
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.num.partitions": "6",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
        # Keep the events a week (schemas/topics.py sets each topic's own retention too).
        "log.retention.hours": "168",
    }
    if secrets_dir is not None:
        password = "${dir:%s:%s}" % (secrets_dir, ADMIN_PASSWORD_FILE)  # noqa: UP031
        scram = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN}" password="{password}";'
        )
        props.update(
            {
                "config.providers": "dir",
                "config.providers.dir.class": (
                    "org.apache.kafka.common.config.provider.DirectoryConfigProvider"
                ),
                "config.providers.dir.param.allowed.paths": secrets_dir,
                "sasl.enabled.mechanisms": "SCRAM-SHA-512",
                "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
                "listener.name.broker.scram-sha-512.sasl.jaas.config": scram,
                "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
                "sasl.mechanism.controller.protocol": "PLAIN",
                "listener.name.controller.plain.sasl.jaas.config": (
                    "org.apache.kafka.common.security.plain.PlainLoginModule required "
                    f'username="{ADMIN}" password="{password}" user_{ADMIN}="{password}";'
                ),
                "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                "super.users": f"User:{ADMIN}",
                "allow.everyone.if.no.acl.found": "false",
            }
        )
        if tls is not None:
            keystore_password = "${dir:%s:%s}" % (secrets_dir, KEYSTORE_PASSWORD_FILE)  # noqa: UP031
            props.update(
                {
                    "listener.name.tls.scram-sha-512.sasl.jaas.config": scram,
                    "listener.name.tls.ssl.keystore.type": "PKCS12",
                    "listener.name.tls.ssl.keystore.location": tls.keystore,
                    "listener.name.tls.ssl.keystore.password": keystore_password,
                    "listener.name.tls.ssl.key.password": keystore_password,
                }
            )
    return props


def render_properties(properties: dict[str, str]) -> str:
    return "".join(f"{k}={_escape(v)}\n" for k, v in properties.items())


COMPOSE_PROPERTIES = PROJECT_ROOT / "deploy" / "kafka" / "server.properties"


def compose_properties() -> dict[str, str]:
    """docker-compose.yml's broker: clients on :9092 over SASL_SSL as ``kafka``, the log on
    the ``kafkadata`` volume, the secrets of ``make compose-secrets`` under /run/secrets."""
    return broker_properties(
        data_dir="/var/lib/kafka/data",
        broker_port=9091,
        controller_port=9093,
        secrets_dir="/run/secrets",
        tls=Tls("0.0.0.0", 9092, "kafka", "/run/secrets/kafka_keystore.p12"),
    )


def compose_file_text() -> str:
    return (
        "# Made by `python -m deploy.localstack.kafka compose` from broker_properties in\n"
        "# deploy/localstack/kafka.py, the definition the local stack runs; do not edit.\n"
        + render_properties(compose_properties())
    )


@dataclass(frozen=True)
class Security:
    """SASL/SCRAM-SHA-512 with the StandardAuthorizer; ``admin_password`` is the broker's own
    principal's (``ADMIN``), the one super user. With ``tls_port``, a SASL_SSL listener there
    under a certificate of a CA made for this broker (``ca_file``, PEM, for the clients)."""

    admin_password: str
    tls_port: int | None = None


LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
# Per-request authorizer decisions and state-change chatter: noise for a laptop's broker.
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class KafkaBroker:
    """One Apache Kafka node (broker and KRaft controller) with its log under ``home``."""

    def __init__(
        self,
        home: Path,
        port: int,
        log_path: Path,
        *,
        security: Security | None = None,
        overrides: dict[str, str] | None = None,
        controller_port: int | None = None,
    ) -> None:
        """``controller_port``: where its KRaft controller listens; a node of a cluster needs
        a fixed one (the others name it in ``controller.quorum.voters``), a single node takes
        a free port on each start."""
        self.home = home
        self.controller_port = controller_port
        self.port = port
        self.log_path = log_path
        self.security = security
        self.overrides = overrides or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in_seconds: float | None = None
        self._log_offset = 0

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def tls_bootstrap_servers(self) -> str | None:
        port = self.security.tls_port if self.security else None
        return f"127.0.0.1:{port}" if port else None

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def ca_file(self) -> Path:
        """The CA the TLS listener's certificate chains to (PEM)."""
        return self.home / "tls" / "ca.pem"

    def _write_secrets(self) -> Tls | None:
        """The admin password, and for TLS a CA, the broker's key store and its password,
        made once and kept with the log (0600, in a 0700 directory)."""
        assert self.security is not None
        self.secrets_dir.mkdir(parents=True, exist_ok=True)
        self.secrets_dir.chmod(0o700)
        _write_secret(self.secrets_dir / ADMIN_PASSWORD_FILE, self.security.admin_password)
        if not self.security.tls_port:
            return None
        keystore = self.home / "tls" / "broker.p12"
        password_file = self.secrets_dir / KEYSTORE_PASSWORD_FILE
        if not keystore.exists() or not self.ca_file.exists() or not password_file.exists():
            keystore.parent.mkdir(parents=True, exist_ok=True)
            # Named for this broker's home (an X.509 name is at most 64 characters).
            home_id = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
            ca = tls.authority(f"referral-hub local CA {home_id}")
            password = secrets.token_urlsafe(24)
            keystore.write_bytes(tls.server_keystore(ca, ["127.0.0.1", "localhost"], password))
            keystore.chmod(0o600)
            _write_secret(password_file, password)
            self.ca_file.write_bytes(ca.certificate_pem)
        return Tls("127.0.0.1", self.security.tls_port, "127.0.0.1", str(keystore))

    def properties(self, controller_port: int) -> dict[str, str]:
        tls_listener = self._write_secrets() if self.security else None
        props = broker_properties(
            data_dir=str(self.data_dir),
            broker_port=self.port,
            controller_port=controller_port,
            secrets_dir=str(self.secrets_dir) if self.security else None,
            tls=tls_listener,
        )
        props.update(self.overrides)
        return props

    def _cluster_id(self) -> str:
        path = self.home / "cluster.id"
        if not path.exists():
            raw = "-"
            # As Kafka's own Uuid.randomUuid: an id starting with "-" would be read by the
            # storage tool as an option (one start in 64 failed so).
            while raw.startswith("-"):
                raw = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            path.write_text(raw)
        return path.read_text().strip()

    def start(self, timeout: float = 120.0, say: Callable[[str], None] = print) -> None:
        """Format the log directory if it is new, start the JVM, and return once the broker
        answers clients. Raises ``Missing`` without Java 17, ``RuntimeError`` if the broker
        does not come up (its log says why)."""
        began = time.monotonic()
        java_bin = java()
        classpath = os.pathsep.join(str(p) for p in jars(say))
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        logging_config = self.home / "log4j2.properties"
        logging_config.write_text(LOG4J2)
        properties = self.properties(self.controller_port or free_port())
        config.write_text(render_properties(properties))
        jvm = [java_bin, *JVM_OPTIONS, f"-Dlog4j2.configurationFile={logging_config}"]
        if not (self.data_dir / "meta.properties").exists():
            self._format(jvm, classpath, config)
        # The log is appended to across restarts: look for "started" in this run's part only.
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = spawn(
            [*jvm, "-cp", classpath, "kafka.Kafka", str(config)], log_path=self.log_path
        )
        deadline = time.monotonic() + timeout
        while not (accepts_connections(self.port) and self._answers()):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Kafka exited with code {self.process.returncode}; see {self.log_path}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"Kafka did not start within {timeout:.0f}s; see {self.log_path}"
                )
            time.sleep(0.1)
        self.started_in_seconds = round(time.monotonic() - began, 1)

    def _format(self, jvm: list[str], classpath: str, config: Path) -> None:
        command = [
            *jvm,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--config",
            str(config),
            # One argument, so that an id starting with "-" (1 in 64) is not read as an option.
            f"--cluster-id={self._cluster_id()}",
            "--ignore-formatted",
        ]
        if self.security is not None:
            # The admin's SCRAM credential is written into the first metadata, so that the
            # broker can authenticate itself (and the topic job) before anyone could make it.
            command += [
                "--add-scram",
                f"SCRAM-SHA-512=[name={ADMIN},password={self.security.admin_password}]",
            ]
        _run(command, "formatting Kafka's log directory failed", RuntimeError, 120)

    def _answers(self) -> bool:
        """The broker has finished starting (its log says so once it serves clients)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                return b"Kafka Server started" in log.read()
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, timeout=30)
            self.process = None


def _write_secret(path: Path, value: str) -> None:
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_text(value)


def _escape(value: str) -> str:
    """A value as a Java properties file reads it back."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def main(argv: list[str]) -> int:
    if argv == ["lock"]:
        write_lock()
        return 0
    if argv == ["version"]:
        print(kafka_version())
        return 0
    if argv == ["compose"]:
        COMPOSE_PROPERTIES.write_text(compose_file_text())
        print(f"wrote {COMPOSE_PROPERTIES}")
        return 0
    if argv == ["jars"]:
        print(os.pathsep.join(str(p) for p in jars()))
        return 0
    print("usage: python -m deploy.localstack.kafka lock|version|jars|compose", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
