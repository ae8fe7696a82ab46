"""``python -m deploy.localstack``: the whole hub on this machine (what ``make run`` does)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from deploy.localstack.stack import PROJECT_ROOT, Options, Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.localstack", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=["run", "totp"],
        help="run: the hub; totp: the portal administrator's current sign-in code",
    )
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
    parser.add_argument(
        "--routers",
        type=_at_least_one,
        default=os.environ.get("ROUTERS") or 1,
        help="router processes, sharing the router's consumer groups (default 1; ROUTERS)",
    )
    parser.add_argument(
        "--adapter-replicas",
        type=_at_least_one,
        default=os.environ.get("ADAPTER_REPLICAS") or 1,
        help="processes per provider adapter (default 1; ADAPTER_REPLICAS)",
    )
    args = parser.parse_args(argv)
    if args.command == "totp":
        return _print_totp(args.state_dir.resolve())
    stack = Stack(
        Options(
            state_dir=args.state_dir.resolve(),
            free_ports=args.free_ports,
            ephemeral=args.ephemeral,
            database_url=os.environ.get("DATABASE_URL") or None,
            kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            routers=args.routers,
            adapter_replicas=args.adapter_replicas,
        ),
        say=lambda line: print(line, flush=True),
    )
    return stack.run()


def _at_least_one(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number of processes, not {value!r}") from None
    if not 1 <= number <= 16:
        raise argparse.ArgumentTypeError(f"between 1 and 16 processes, not {number}")
    return number


def _print_totp(state_dir: Path) -> int:
    """The code an authenticator app would show now for the portals' demo administrator."""
    import json

    import pyotp

    stack_file = state_dir / "stack.json"
    if not stack_file.exists():
        print("The hub is not running here (no stack.json): start it with make run.")
        return 1
    admin = next(iter(json.loads(stack_file.read_text())["portal_administrators"].values()))
    print(pyotp.TOTP(admin["totp_secret"]).now())
    return 0


if __name__ == "__main__":
    sys.exit(main())
