"""``python -m deploy.container.topics``: make the cluster what the hub needs, then exit.

The compose ``kafka-init`` job, the Kubernetes ``kafka-topics`` Job and the local stack run
it before any service starts, as the super user (``schemas.bus_access.ADMIN``):

- every topic of ``schemas.topics.all_topics()`` that is missing (the main topics, their
  retry topics and their dead-letter topics) is created with ``PARTITIONS`` partitions and
  its configuration (``topic_config``); then every topic must have exactly that many
  partitions: a topic made by hand with another count would send a referral's events to other
  partitions than the ones its earlier events went to, so that is an error to fix by hand;
- with ``--users-dir``, each file there named ``kafka_password_<username>`` (for a principal
  of ``schemas.bus_access``) holds its password, and the principal's SCRAM-SHA-512 credential
  is set to it (a rotation is a new file and another run);
- on an authenticated cluster, every principal's ACLs are made exactly what
  ``schemas.bus_access`` grants: missing ones created, ones it no longer grants deleted.

The broker may still be starting: connection failures are retried until ``--wait`` runs out.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from aiokafka.errors import KafkaError

from schemas.bus_access import BY_USERNAME
from schemas.topics import PARTITIONS, all_topics
from services.plumbing import bus_admin
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.settings import KafkaSettings
from services.plumbing.topics_admin import ensure_topics, misfits, partition_counts

log = logging.getLogger("deploy.topics")
PASSWORD_FILE_PREFIX = "kafka_password_"  # noqa: S105 - a file name


async def prepare(
    access: KafkaAccess,
    replication_factor: int,
    wait_seconds: float,
    passwords: dict[str, str] | None = None,
    *,
    manage_acls: bool = True,
) -> int:
    """Topics, then credentials (``passwords`` by username), then ACLs (on an authenticated
    cluster, unless ``manage_acls`` is false: someone else's). 0 when the cluster is as the
    hub needs it, 1 otherwise (the log says why)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            created = await ensure_topics(access, replication_factor)
            counts = await partition_counts(access)
            if manage_acls and access.security_protocol != "PLAINTEXT":
                changes = await bus_admin.provision_principals(access, passwords or {})
                log.info(
                    "ACLs: %d created, %d deleted; %d credentials set",
                    len(changes.created),
                    len(changes.deleted),
                    len(passwords or {}),
                )
            break
        except bus_admin.BusAdminError as exc:
            log.error("the broker refused: %s", exc)
            return 1
        except (KafkaError, OSError, RuntimeError) as exc:
            if time.monotonic() > deadline:
                log.error("the broker is not ready: %s", exc)
                return 1
            log.info("waiting for the broker (%s)", type(exc).__name__)
            await asyncio.sleep(2)
    log.info("%d topics created, %d in all", len(created), len(all_topics()))
    wrong = misfits(counts)
    for topic, count in sorted(wrong.items()):
        log.error("topic %s has %d partitions; the hub needs %d", topic, count, PARTITIONS)
    return 1 if wrong else 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.container.topics", description=__doc__)
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        help="broker list (default: KAFKA_BOOTSTRAP_SERVERS; the principal and CA come from "
        "the KAFKA_* settings, as environment variables or secret files)",
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=1,
        help="copies of each partition: 1 on one broker, 3 on a production cluster",
    )
    parser.add_argument(
        "--users-dir",
        type=Path,
        help="a directory of files kafka_password_<username>, one per principal of "
        "schemas/bus_access.py, each holding the password to set as its SCRAM credential",
    )
    parser.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait for the broker (default 120)"
    )
    args = parser.parse_args(argv)
    if not args.bootstrap_servers:
        parser.error("set --bootstrap-servers or KAFKA_BOOTSTRAP_SERVERS")
    if args.replication_factor < 1:
        parser.error("--replication-factor must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse(sys.argv[1:] if argv is None else argv)
    settings = KafkaSettings(kafka_bootstrap_servers=args.bootstrap_servers)
    passwords = read_passwords(args.users_dir) if args.users_dir else None
    return asyncio.run(
        prepare(KafkaAccess.of(settings), args.replication_factor, args.wait, passwords)
    )


def read_passwords(directory: Path) -> dict[str, str]:
    """The passwords in ``directory``, by username, from files named
    ``kafka_password_<username>``: only the table's principals' are read."""
    found = {}
    for username in BY_USERNAME:
        path = directory / f"{PASSWORD_FILE_PREFIX}{username}"
        if path.is_file():
            found[username] = path.read_text(encoding="utf-8").strip()
    return found


if __name__ == "__main__":
    sys.exit(main())
