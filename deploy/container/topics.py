"""``python -m deploy.container.topics``: make sure the cluster has every hub topic, then exit.

The compose ``kafka-init`` job and the Kubernetes ``kafka-topics`` Job run it before any
service starts. It creates every topic of ``schemas.topics.all_topics()`` that is missing (the
main topics, their retry topics and their dead-letter topics) with ``PARTITIONS`` partitions,
then checks that every topic has exactly that many: a topic made by hand with another count
would send a referral's events to other partitions than the ones its earlier events went to,
so that is an error to fix by hand, not something to carry on with.

The broker may still be starting: connection failures are retried until ``--wait`` runs out.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time

from aiokafka.errors import KafkaError

from schemas.topics import PARTITIONS, all_topics
from services.plumbing.topics_admin import ensure_topics, misfits, partition_counts

log = logging.getLogger("deploy.topics")


async def prepare(bootstrap_servers: str, replication_factor: int, wait_seconds: float) -> int:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            created = await ensure_topics(bootstrap_servers, replication_factor)
            counts = await partition_counts(bootstrap_servers)
            break
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
        help="broker list (default: KAFKA_BOOTSTRAP_SERVERS)",
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=1,
        help="copies of each partition: 1 on one broker, 3 on a production cluster",
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
    return asyncio.run(prepare(args.bootstrap_servers, args.replication_factor, args.wait))


if __name__ == "__main__":
    sys.exit(main())
