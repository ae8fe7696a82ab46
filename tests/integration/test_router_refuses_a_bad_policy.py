"""A policy that does not pass its checks stops the router at start, with a message that
names the file, the rule and the problem."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from services.router.adapters.policy_files import POLICY_DIR
from tests.support.commands import run_module


def test_router_will_not_start_on_a_policy_naming_an_unknown_service(tmp_path: Path) -> None:
    shutil.copytree(POLICY_DIR / "2026-11-01.1", tmp_path / "2026-11-01.1")
    graph_file = tmp_path / "2026-11-01.1" / "routing.jdm.json"
    graph = json.loads(graph_file.read_text())
    table = next(n for n in graph["nodes"] if n["id"] == "val-route")["content"]
    table["rules"][0]["service"] = '"HELPLINE"'
    graph_file.write_text(json.dumps(graph))

    env = {
        **os.environ,
        "POLICY_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x",
        "KAFKA_BOOTSTRAP_SERVERS": "broker.invalid:9092",  # never reached: the policy fails first
    }
    started = run_module("services.router", env=env)
    assert started.returncode == 2
    assert "the router will not start" in started.stderr
    assert str(graph_file) in started.stderr
    assert "rule R-VAL: unknown service 'HELPLINE'" in started.stderr
    assert "Traceback" not in started.stderr
