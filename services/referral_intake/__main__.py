"""``python -m services.referral_intake``: run this service alone, or ``... migrate`` to apply its
migrations and exit. Settings come from the environment (see the README); a missing or wrong
one is named in one sentence (services/plumbing/cli.py)."""

import sys
from pathlib import Path

from services.plumbing import cli


def main() -> None:
    if sys.argv[1:] == ["migrate"]:
        from services.plumbing.migrations import migrate_command
        from services.referral_intake.settings import IntakeSettings

        default = IntakeSettings.model_fields["db_schema"].default
        migrate_command(Path(__file__).parent / "migrations", lambda s: s.db_schema or default)
        return

    from services.referral_intake.bootstrap import build

    build().main(sys.argv[1:])


cli.run(main)
