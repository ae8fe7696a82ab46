"""``python -m services.router``: run the router alone; ``... migrate`` applies its
migrations and exits; ``... simulate --candidate V --from D --to D`` runs a what-if
simulation. Settings come from the environment (see the README)."""

import sys

if sys.argv[1:2] == ["simulate"]:
    from services.router.entrypoints.cli import main

    sys.exit(main(sys.argv[2:]))

from services.router.bootstrap import build

build().main(sys.argv[1:])
