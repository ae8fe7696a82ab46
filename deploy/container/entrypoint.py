"""The image's entrypoint: secrets from files into the environment, then the command.

The services read their settings from the environment (pydantic-settings). Secrets should not
travel as plain environment variables in a compose file, so docker-compose mounts each one as
a file under ``/run/secrets`` instead, and this entrypoint reads them just before the service
starts: a file named ``identity_hash_key`` becomes ``IDENTITY_HASH_KEY``. A variable that is
already set wins, so Kubernetes (which passes Secrets as environment variables) and a plain
``docker run -e`` work unchanged.

Only files named like a settings field (lower case letters, digits and underscores) are read;
anything else in the directory (``*.pem``, dot files) is left alone. Trailing line breaks are
dropped, so ``echo secret > file`` works; a PEM key keeps its inner lines.

    python -m deploy.container.entrypoint python -m services.router
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

SECRETS_DIR_VARIABLE = "HUB_SECRETS_DIR"
DEFAULT_SECRETS_DIR = "/run/secrets"
_SECRET_NAME = re.compile(r"[a-z][a-z0-9_]*")


def secrets_from(directory: Path) -> dict[str, str]:
    """The secrets in ``directory``, by the environment variable each one sets."""
    if not directory.is_dir():
        return {}
    found: dict[str, str] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and _SECRET_NAME.fullmatch(path.name):
            found[path.name.upper()] = path.read_text(encoding="utf-8").rstrip("\r\n")
    return found


def environment(current: Mapping[str, str], secrets: Mapping[str, str]) -> dict[str, str]:
    """``current`` with every secret added that it does not already set (to a non-empty value,
    as the settings ignore empty variables)."""
    merged = dict(current)
    for name, value in secrets.items():
        if not merged.get(name):
            merged[name] = value
    return merged


def main(argv: list[str]) -> NoReturn:
    if not argv:
        raise SystemExit("usage: python -m deploy.container.entrypoint COMMAND [ARGUMENT ...]")
    directory = Path(os.environ.get(SECRETS_DIR_VARIABLE) or DEFAULT_SECRETS_DIR)
    env = environment(os.environ, secrets_from(directory))
    # exec, not a child process: the service becomes PID 1 and receives SIGTERM itself.
    os.execvpe(argv[0], argv, env)  # noqa: S606 - the command is the container's own


if __name__ == "__main__":
    main(sys.argv[1:])
