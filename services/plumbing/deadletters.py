"""``python -m services.plumbing.deadletters``: list, show, replay and discard dead letters.

Every ``<topic>.dlt`` holds the original bytes of a message no consumer could handle, with
``error.*`` headers: where it came from (topic, partition, offset), which consumer gave up,
the error and the number of attempts. Replaying publishes the original bytes, key and
headers to the original topic: the event keeps its id, so a consumer that did apply it
meanwhile ignores it. What was replayed or discarded is recorded in the ``ops`` schema, so
that ``list`` shows what still needs a decision.

Settings: ``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL`` and the tool's own Kafka principal
(``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD``,
``KAFKA_SSL_CAFILE``; as environment variables or secret files, as for the services); without
``KAFKA_BOOTSTRAP_SERVERS``, those of the local stack in ``.dev/stack.json``. Its principal
may read the dead-letter topics and write the main ones (``schemas/bus_access.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas import topics
from schemas.topics import dead_letter_topics
from services.plumbing import cli, kafka_records
from services.plumbing.kafka_access import KafkaAccess
from services.plumbing.kafka_reading import read_from_beginning
from services.plumbing.settings import KafkaSettings

# A dead letter written by another client may carry a header name that is not UTF-8.
kafka_records.tolerate_header_names_that_are_not_utf8()

ACTIONS = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.dead_letter_actions (
    letter_id text PRIMARY KEY,
    action    text NOT NULL,
    note      text,
    at        timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class Letter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def id(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        return dict(self.headers).get(name, b"").decode(errors="replace")


async def read_letters(access: KafkaAccess, topics: list[str]) -> list[Letter]:
    letters = [
        Letter(r.topic, r.partition, r.offset, r.key, r.value or b"", tuple(r.headers))
        for r in await read_from_beginning(access, topics)
    ]
    return sorted(letters, key=lambda letter: letter.header("error.at"))


async def _actions(conn: asyncpg.Connection) -> dict[str, str]:
    await conn.execute(ACTIONS)
    return {
        r["letter_id"]: r["action"]
        for r in await conn.fetch("SELECT letter_id, action FROM ops.dead_letter_actions")
    }


def _summary(letter: Letter, action: str | None) -> str:
    return (
        f"{letter.id}  {action or 'new':<9} {letter.header('error.at')[:19]}  "
        f"from {letter.header('error.topic')} "
        f"by {letter.header('error.consumer')}: {letter.header('error.type')} "
        f"({letter.header('error.message')}), {letter.header('error.attempts')} attempt(s)"
    )


async def _replay(producer: AIOKafkaProducer, letter: Letter) -> None:
    headers = [(k, v) for k, v in letter.headers if not k.startswith(("error.", "retry."))]
    headers.append(("replayed_from", letter.id.encode()))
    await producer.send_and_wait(
        letter.header("error.topic"), letter.value, key=letter.key, headers=headers
    )


async def run(args: argparse.Namespace, access: KafkaAccess, database_url: str) -> int:
    topics = [args.topic] if getattr(args, "topic", None) else dead_letter_topics()
    letters = await read_letters(access, topics)
    conn = await asyncpg.connect(database_url)
    try:
        actions = await _actions(conn)
        if args.command == "list":
            shown = [lt for lt in letters if args.all or lt.id not in actions]
            for letter in shown:
                print(_summary(letter, actions.get(letter.id)))
            print(f"{len(shown)} dead letter(s){'' if args.all else ' awaiting a decision'}")
            return 0
        chosen = (
            [lt for lt in letters if lt.id in args.ids]
            if args.ids
            else [lt for lt in letters if lt.id not in actions]
            if getattr(args, "all_new", False)
            else []
        )
        if not chosen:
            print("No such dead letter.", file=sys.stderr)
            return 1
        if args.command == "show":
            for letter in chosen:
                print(_summary(letter, actions.get(letter.id)))
                print(
                    json.dumps(
                        {
                            "headers": {k: v.decode(errors="replace") for k, v in letter.headers},
                            "value": letter.value.decode(errors="replace"),
                        },
                        indent=2,
                    )
                )
            return 0
        if args.command == "replay":
            producer = AIOKafkaProducer(
                acks="all", enable_idempotence=True, **access.client_options()
            )
            await producer.start()
            try:
                for letter in chosen:
                    await _replay(producer, letter)
                    await _record(conn, letter.id, "replayed", args.note)
                    print(f"replayed {letter.id} to {letter.header('error.topic')}")
            finally:
                await producer.stop()
            return 0
        for letter in chosen:
            await _record(conn, letter.id, "discarded", args.note)
            print(f"discarded {letter.id}")
        return 0
    finally:
        await conn.close()


async def _record(conn: asyncpg.Connection, letter_id: str, action: str, note: str | None) -> None:
    await conn.execute(
        """INSERT INTO ops.dead_letter_actions (letter_id, action, note, at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (letter_id) DO UPDATE SET action = $2, note = $3, at = $4""",
        letter_id,
        action,
        note,
        datetime.now(UTC),
    )


class ToolSettings(KafkaSettings):
    database_url: str


LOCAL_PRINCIPAL = "dead_letters"
"""The tool's entry under ``kafka_security.tools`` in the local stack's ``stack.json``."""


def _defaults() -> tuple[KafkaAccess, str] | None:
    """From the settings, or else from the running local stack; None if neither says."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        settings = ToolSettings()  # from the environment and secret files
        return KafkaAccess.of(settings), settings.database_url
    # The stack of the checkout the command runs in (make runs it there), as make report and
    # make simulate read it.
    stack = Path(".dev") / "stack.json"
    if not stack.exists():
        return None
    info: dict[str, Any] = json.loads(stack.read_text())
    access = KafkaAccess(info["kafka_bootstrap_servers"])
    security = info.get("kafka_security")
    if security:
        principal = security["tools"][LOCAL_PRINCIPAL]
        access = access.as_user(principal["username"], principal["password"])
    return access, os.environ.get("DATABASE_URL") or info["database_url"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.plumbing.deadletters",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser(
        "list", help="dead letters awaiting a decision (--all: every one)"
    )
    listing.add_argument("--all", action="store_true")
    listing.add_argument(
        "--topic",
        help=f"one dead-letter topic, e.g. {topics.dead_letter_for(topics.REFERRAL_STATUS)}",
    )
    for name, text in (
        ("show", "headers and value"),
        ("replay", "publish again to the original topic"),
        ("discard", "mark as dealt with, without replaying"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("ids", nargs="*", help="topic:partition:offset, as list prints it")
        command.add_argument("--topic")
        if name != "show":
            command.add_argument(
                "--all-new", action="store_true", help="every letter awaiting a decision"
            )
            command.add_argument("--note", help="why (kept with the decision)")
    args = parser.parse_args(argv)
    found = _defaults()
    if found is None:
        parser.error("set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL (or start the local stack)")
    access, database_url = found
    try:
        return asyncio.run(run(args, access, database_url))
    except (OSError, asyncpg.PostgresError) as exc:
        raise cli.CommandError(
            f"Cannot reach the database ({type(exc).__name__}): is the hub running (make "
            "run), or is DATABASE_URL right?"
        ) from None
    except KafkaError as exc:
        print(
            f"Cannot use Kafka at {access.bootstrap_servers} as "
            f"{access.username or 'an unauthenticated client'}: {type(exc).__name__}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    cli.run(main)
