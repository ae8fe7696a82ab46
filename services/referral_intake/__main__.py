"""``python -m services.referral_intake``: run this service alone, or ``... migrate`` to apply its
migrations and exit. Settings come from the environment (see the README)."""

import sys

from services.referral_intake.bootstrap import build

build().main(sys.argv[1:])
