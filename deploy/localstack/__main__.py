"""``python -m deploy.localstack``: the whole hub on this machine (what ``make run`` does)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from deploy.localstack.stack import PROJECT_ROOT, Options, Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.localstack", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=["run"])
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=PROJECT_ROOT / ".dev",
        help="where stack.json, logs and the embedded database live (default .dev/)",
    )
    parser.add_argument(
        "--free-ports",
        action="store_true",
        help="use free ports instead of the contract's defaults (8080-8085, 9092)",
    )
    parser.add_argument(
        "--ephemeral",
        action="store_true",
        help="a throwaway embedded database: faster, deleted on exit",
    )
    args = parser.parse_args(argv)
    stack = Stack(
        Options(
            state_dir=args.state_dir.resolve(),
            free_ports=args.free_ports,
            ephemeral=args.ephemeral,
            database_url=os.environ.get("DATABASE_URL") or None,
            kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
        ),
        say=lambda line: print(line, flush=True),
    )
    return stack.run()


if __name__ == "__main__":
    sys.exit(main())
