"""``python -m services.referral_intake``: run this service alone, or ``... migrate`` to apply its
migrations and exit. Settings come from the environment (see the README)."""

import sys
from pathlib import Path

if sys.argv[1:] == ["migrate"]:
    from services.plumbing.migrations import migrate_command
    from services.referral_intake.settings import IntakeSettings

    default = IntakeSettings.model_fields["db_schema"].default
    migrate_command(Path(__file__).parent / "migrations", lambda s: s.db_schema or default)
    sys.exit(0)

from services.referral_intake.bootstrap import build

build().main(sys.argv[1:])
