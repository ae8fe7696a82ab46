"""The README's shell examples, run as written against the hub ``make run`` starts (the
session's, on free ports: the examples read every address from ``.dev/stack.json``).

Each ```` ```sh ```` block in README.md carries a marker on the line before it:
``<!-- doctest: run -->`` (run it, as written), ``<!-- doctest: serve PORT -->`` (it starts
a service that runs until stopped: run it, wait for its ``/readyz`` on PORT, check every line
it wrote is one JSON object, stop it), ``<!-- doctest: dead-letters -->`` (run it once a dead
letter exists, its placeholder id replaced by that letter's), or ``<!-- doctest: skip ... -->``
with the reason. A block without a marker fails the test: a new example must say how it is
checked."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from deploy.localstack.ports import free_port
from schemas import topics
from tests.support.stack import PROJECT_ROOT, RunningStack
from tests.support.waiting import eventually_sync

README = PROJECT_ROOT / "README.md"
BLOCK = re.compile(r"(?:<!-- doctest: (?P<marker>[^>]*?) -->\n)?```sh\n(?P<code>.*?)```", re.S)
PLACEHOLDER_LETTER = f"{topics.dead_letter_for(topics.REFERRAL_STATUS)}:3:17"
BY_HAND = '"$INTAKE/v1/referrals"'
REPORTS = "/v1/reports/performance"


@dataclass(frozen=True)
class Example:
    marker: str
    code: str
    line: int


def examples() -> list[Example]:
    text = README.read_text()
    return [
        Example((m["marker"] or "").strip(), m["code"], text[: m.start("code")].count("\n"))
        for m in BLOCK.finditer(text)
    ]


def test_every_shell_example_says_how_it_is_checked() -> None:
    unmarked = [e.line for e in examples() if not e.marker]
    assert not unmarked, f"README.md sh blocks without a doctest marker, at lines {unmarked}"
    for example in examples():
        kind = _kind(example)
        assert kind in {"run", "serve", "dead-letters", "skip"}, example
        if kind == "skip":
            assert len(example.marker.split()) > 3, f"say why, line {example.line}"


@pytest.fixture(scope="module")
def workdir(hub: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout as a reader has it, whose ``.dev`` is the running hub's: every top-level
    entry of the project linked in, except ``.dev``."""
    root = tmp_path_factory.mktemp("readme")
    for entry in PROJECT_ROOT.iterdir():
        if entry.name != ".dev":
            (root / entry.name).symlink_to(entry)
    (root / ".dev").symlink_to(hub.state_dir)
    return root


def _bash(workdir: Path, code: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _run(workdir: Path, example: Example) -> str:
    done = _bash(workdir, example.code)
    assert done.returncode == 0, (
        f"README.md line {example.line} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def _kind(example: Example) -> str:
    """``run``, ``serve``, ``dead-letters`` or ``skip`` (``skip: why`` reads as ``skip``)."""
    return example.marker.split()[0].rstrip(":") if example.marker else ""


def _of(kind: str) -> list[Example]:
    return [e for e in examples() if _kind(e) == kind]


def test_trying_it_by_hand_makes_a_referral_and_a_second_run_is_the_same_one(
    workdir: Path,
) -> None:
    by_hand = next(e for e in _of("run") if BY_HAND in e.code)
    first, queue = _run(workdir, by_hand).strip().split("\n", 1)
    created = json.loads(first)
    assert "referral_id" in created, first
    assert "items" in json.loads(queue), queue
    again = json.loads(_run(workdir, by_hand).strip().split("\n", 1)[0])
    assert again["referral_id"] == created["referral_id"], again
    assert again["linked_to_existing"] is True, again


def test_the_report_examples_fetch_every_format(workdir: Path) -> None:
    reports = next(e for e in _of("run") if REPORTS in e.code)
    out = _run(workdir, reports)
    assert '"totals"' in out  # the JSON
    assert "period,from,to,service,sub_service,figure,value" in out  # the CSV
    assert (workdir / "panel-pack.pdf").read_bytes().startswith(b"%PDF")
    written = list((workdir / ".dev" / "reports").glob("performance-*-internal.html"))
    assert written, out
    assert list((workdir / ".dev" / "reports").glob("performance-*-published.pdf")), out


def test_every_run_example_is_covered_above() -> None:
    covered = (BY_HAND, REPORTS)
    for example in _of("run"):
        assert any(c in example.code for c in covered), (
            f"README.md line {example.line}: a new runnable example needs its test here"
        )


def _dead_letter(hub: RunningStack) -> str:
    """A message no consumer can read, on referral.status.v1: intake dead-letters it."""

    async def publish() -> None:
        producer = AIOKafkaProducer(**hub.kafka_admin().client_options())
        await producer.start()
        try:
            await producer.send_and_wait(topics.REFERRAL_STATUS, b"not an event", key=b"doctest")
        finally:
            await producer.stop()

    asyncio.run(publish())
    return topics.dead_letter_for(topics.REFERRAL_STATUS)


def test_the_dead_letter_examples_show_replay_and_discard_one(
    hub: RunningStack, workdir: Path
) -> None:
    (example,) = _of("dead-letters")
    dlt = _dead_letter(hub)

    def new_letter() -> str | None:
        listed = _bash(workdir, 'make dead-letters ARGS="list"').stdout
        found = re.findall(rf"^({re.escape(dlt)}:\d+:\d+)\s+new\b", listed, re.M)
        return found[-1] if found else None

    letter = eventually_sync(new_letter, timeout=60, interval=1, what="a dead letter")
    real = Example(example.marker, example.code.replace(PLACEHOLDER_LETTER, letter), example.line)
    out = _run(workdir, real)
    assert f"replayed {letter} to {topics.REFERRAL_STATUS}" in out, out
    assert f"discarded {letter}" in out, out


def test_running_one_service_alone_works_as_written(workdir: Path) -> None:
    (example,) = _of("serve")
    port = int(example.marker.split()[1])
    code = example.code
    # Written for a reader's free port 9182; should it be taken here, the same on another.
    if _listening(port):
        new = free_port()
        code, port = code.replace(f"HTTP_PORT={port}", f"HTTP_PORT={new}"), new
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", "exec 2>&1\n" + code],
        cwd=workdir,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        eventually_sync(
            lambda: _ready(port) or (process.poll() is not None and _exited(process)),
            timeout=90,
            interval=0.2,
            what="the adapter started by hand to be ready",
        )
        assert process.poll() is None, "the adapter stopped"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "the adapter wrote nothing"
    for line in lines:
        assert isinstance(json.loads(line), dict), line


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _exited(process: subprocess.Popen[str]) -> bool:
    output = process.stdout.read() if process.stdout else ""
    raise AssertionError(f"the adapter started by hand exited ({process.returncode}):\n{output}")
