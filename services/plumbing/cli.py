"""How every command-line entry point answers a mistake: one sentence on stderr and a
non-zero exit, never a Python traceback (``make simulate``, ``make report``, ``make
dead-letters``, ``python -m services.<name> ...``, the services' own start).

A command raises ``CommandError`` for a mistake it recognises; settings that do not validate
(``pydantic.ValidationError``) are named field by field as environment variables; anything
else unexpected is still one line naming its kind (``HUB_TRACEBACK=1`` shows the traceback,
for whoever debugs the command itself)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

USAGE_ERROR = 2
"""The exit status of a mistake (argparse's, too)."""


class CommandError(Exception):
    """A mistake the person running the command can put right; ``str()`` is the sentence
    printed, and it must say what to do."""


def settings_sentence(exc: ValidationError) -> str:
    """One sentence naming every setting that is missing or wrong, as its environment
    variable (``ROUTER_URL is required (intake's address of the router ...)``)."""
    fields = _fields_of(exc.title)
    parts: list[str] = []
    for error in exc.errors():
        location = [str(p) for p in error["loc"]]
        name = location[0] if location else ""
        variable = name.upper() if name else ""
        if error["type"] == "missing":
            described = fields[name].description if name in fields else None
            parts.append(
                f"{variable} is required" + (f" ({described.rstrip('.')})" if described else "")
            )
        elif not name:
            # A check across settings (model_validator): its message is already a sentence.
            parts.append(str(error["msg"]).removeprefix("Value error, "))
        else:
            parts.append(f"{variable} is not valid: {error['msg']}")
    return "The settings cannot be used: " + "; ".join(parts) + "."


def _fields_of(title: str) -> dict[str, FieldInfo]:
    """The fields of the settings class named ``title`` (a ``ValidationError``'s title), so
    that a missing one is explained by its description."""
    pending: list[type[BaseModel]] = [BaseSettings]
    while pending:
        cls = pending.pop()
        if cls.__name__ == title:
            return dict(cls.model_fields)
        pending += cls.__subclasses__()
    return {}


def fail(sentence: str, status: int = USAGE_ERROR) -> NoReturn:
    """Print ``sentence`` on stderr and exit with ``status``."""
    print(sentence, file=sys.stderr)
    raise SystemExit(status)


def run(main: Callable[[], int | None]) -> NoReturn:
    """Run a command's ``main`` and exit with its status; a mistake is one sentence on
    stderr and exit status 2 (1 for an unexpected failure), never a traceback."""
    if os.environ.get("HUB_TRACEBACK"):
        raise SystemExit(main() or 0)
    try:
        status = main() or 0
    except CommandError as exc:
        fail(str(exc))
    except ValidationError as exc:
        fail(settings_sentence(exc))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except SystemExit:
        raise
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        fail(
            f"The command failed: {type(exc).__name__}"
            + (f": {first_line}" if first_line else "")
            + " (HUB_TRACEBACK=1 shows where).",
            status=1,
        )
    raise SystemExit(status)
