"""``python -m services.router``: run the router alone; ``... migrate`` applies its
migrations and exits; ``... simulate --candidate V --from D --to D`` runs a what-if
simulation. Settings come from the environment (see the README); a missing or wrong one is
named in one sentence (services/plumbing/cli.py)."""

import sys
from pathlib import Path

from services.plumbing import cli


def main() -> int | None:
    if sys.argv[1:] == ["migrate"]:
        from services.plumbing.migrations import migrate_command
        from services.router.settings import RouterSettings

        default = RouterSettings.model_fields["db_schema"].default
        migrate_command(Path(__file__).parent / "migrations", lambda s: s.db_schema or default)
        return 0

    if sys.argv[1:2] == ["simulate"]:
        from services.router.entrypoints.cli import main as simulate

        return simulate(sys.argv[2:])

    from services.router.bootstrap import build

    build().main(sys.argv[1:])
    return 0


cli.run(main)
