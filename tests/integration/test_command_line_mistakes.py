"""Command-line tools and services answer a mistake with one sentence and a non-zero exit
status, never a traceback (issue 15; ``services/plumbing/cli.py``). Each command is run as a
reader runs it, in a separate process, from a folder without a running hub."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.localstack.credentials import AUDIENCE, ISSUER
from tests.support.services import CREDENTIALS
from tests.support.stack import PROJECT_ROOT

# A database nobody listens on: the commands must fail on their own mistake before, or say
# in one sentence that it cannot be reached.
NOWHERE = "postgresql://nobody:secret@127.0.0.1:1/none"


def _env(**settings: str) -> dict[str, str]:
    """Only what a reader's shell has (PATH, HOME ...), none of the hub's settings, plus
    ``settings``; the project importable from any folder."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "JAVA_HOME"}
    }
    return {**kept, "PYTHONPATH": str(PROJECT_ROOT), **settings}


def _run(args: list[str], cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_env(**settings), capture_output=True, text=True, timeout=120
    )


def _simulate(candidate: str, cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """``python -m services.router simulate --candidate <candidate>``."""
    return _run(
        [sys.executable, "-m", "services.router", "simulate", "--candidate", candidate],
        cwd,
        **settings,
    )


def _one_sentence(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """The command failed, saying so in one line on stderr that holds ``words``."""
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


SERVICE = {
    "HUB_ENVIRONMENT": "test",
    "DATABASE_URL": NOWHERE,
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "STAFF_JWT_PUBLIC_KEY": CREDENTIALS.public_key_pem,
    "STAFF_JWT_ISSUER": ISSUER,
    "STAFF_JWT_AUDIENCE": AUDIENCE,
    "IDENTITY_HASH_KEY": "test-identity-key-0123456789abcdef0123",
    "VAULT_KEYS": '{"t": "dGVzdCB2YXVsdCBrZXksIG5ldmVyIGEgcmVhbCBvbmU="}',
    "VAULT_KEY_ID": "t",
}


def test_intake_without_the_routers_address_names_the_setting(tmp_path: Path) -> None:
    done = _run([sys.executable, "-m", "services.referral_intake"], tmp_path, **SERVICE)
    _one_sentence(done, "ROUTER_URL is required", "router")


def test_an_adapter_without_intakes_address_names_the_setting(tmp_path: Path) -> None:
    done = _run(
        [sys.executable, "-m", "services.provider_adapter"],
        tmp_path,
        **SERVICE,
        SERVICE="IDVA",
        INTAKE_SERVICE_TOKEN="t",
        PORTAL_SECRET_KEY="0" * 64,
    )
    _one_sentence(done, "INTAKE_URL is required")


def test_a_service_without_the_brokers_address_names_the_setting(tmp_path: Path) -> None:
    settings = {k: v for k, v in SERVICE.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    done = _run([sys.executable, "-m", "services.router"], tmp_path, **settings)
    _one_sentence(done, "KAFKA_BOOTSTRAP_SERVERS is required")


def test_development_settings_without_the_local_profile_are_one_sentence(tmp_path: Path) -> None:
    settings = {k: v for k, v in SERVICE.items() if k != "HUB_ENVIRONMENT"}
    done = _run([sys.executable, "-m", "services.router"], tmp_path, **settings)
    _one_sentence(done, "development settings outside the local profile", "STAFF_JWT_ISSUER")


def test_simulate_with_a_mistyped_candidate_names_the_versions(tmp_path: Path) -> None:
    done = _simulate("2027-04-01.9", tmp_path, DATABASE_URL=NOWHERE)
    line = _one_sentence(done, "There is no policy version '2027-04-01.9'", "2026-12-01.1")
    assert done.returncode == 2, line


def test_simulate_without_a_hub_says_to_start_one(tmp_path: Path) -> None:
    done = _simulate("2027-04-01.1", tmp_path)
    _one_sentence(done, "make run", "DATABASE_URL")


def test_simulate_against_an_unreachable_database_is_one_sentence(tmp_path: Path) -> None:
    done = _simulate("2027-04-01.1", tmp_path, DATABASE_URL=NOWHERE)
    line = _one_sentence(done, "Cannot reach the router's database")
    assert "secret" not in line  # the password in the URL is never repeated


def test_report_without_a_hub_says_to_start_one(tmp_path: Path) -> None:
    done = _run([sys.executable, "-m", "reports"], tmp_path)
    _one_sentence(done, "make run")


def test_dead_letters_without_settings_is_one_sentence(tmp_path: Path) -> None:
    done = _run(
        [sys.executable, "-m", "services.plumbing.deadletters", "list"],
        tmp_path,
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
    )
    _one_sentence(done, "DATABASE_URL is required")


@pytest.mark.parametrize(
    ("target", "variables", "words"),
    [
        ("casebook", ["VERSION=2099-01-01.1"], ["There is no policy version 2099-01-01.1"]),
        ("simulate", ["CANDIDATE=2099-01-01.1"], ["There is no policy version '2099-01-01.1'"]),
    ],
)
def test_make_targets_answer_a_mistyped_version_in_one_sentence(
    tmp_path: Path, target: str, variables: list[str], words: list[str]
) -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "-s", target, *variables],
        cwd=PROJECT_ROOT,
        env=_env(DATABASE_URL=NOWHERE),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    said = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    # The command's sentence, then make's own note that the recipe failed.
    assert any(all(w in line for w in words) for line in said), said
    assert all(line.startswith("make: ***") for line in said if not all(w in line for w in words))
