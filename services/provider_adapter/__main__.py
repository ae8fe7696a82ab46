"""``python -m services.provider_adapter``: run this service alone, or ``... migrate`` to apply its
migrations and exit. Settings come from the environment (see the README); a missing or wrong
one is named in one sentence (services/plumbing/cli.py)."""

import sys
from pathlib import Path

from services.plumbing import cli


def main() -> int | None:
    if sys.argv[1:] == ["migrate"]:
        from schemas.codes import Service
        from services.plumbing.migrations import MigrationSettings, migrate_command
        from services.provider_adapter.settings import schema_for

        def schema(settings: MigrationSettings) -> str:
            if settings.service is None:
                raise cli.CommandError("SERVICE is needed: the adapter of which provider service?")
            return settings.db_schema or schema_for(Service(settings.service))

        migrate_command(Path(__file__).parent / "migrations", schema)
        return 0

    from services.provider_adapter.bootstrap import build, invite_administrator

    if sys.argv[1:2] == ["invite-administrator"]:
        # python -m services.provider_adapter invite-administrator USERNAME "Full Name"
        return invite_administrator(sys.argv[2:])

    build().main(sys.argv[1:])
    return 0


cli.run(main)
