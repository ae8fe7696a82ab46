"""Structured JSON log lines. What goes in ``extra`` must never be personal data: ids,
codes, counts and error class names only."""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from pythonjsonlogger.json import JsonFormatter

from services.plumbing import telemetry


class _Context(logging.Filter):
    """Adds the trace and span ids and the referral being worked on, when there are any."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in telemetry.trace_ids().items():
            setattr(record, name, value)
        referral = telemetry.current_referral.get()
        if referral:
            record.referral_id = referral
        return True


def configure(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    """Every line the process writes goes through one handler on stdout: the hub's own
    loggers, FastStream's, aiokafka's, uvicorn's and Python's warnings (``py.warnings``), and
    an exception nobody caught. With ``json_lines`` (always, outside the local profile) each
    line is one JSON object; nothing is coloured."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_Context())
    if json_lines:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that bring their own handlers and formatters (FastStream's coloured
    # "faststream" and "faststream.access" loggers, uvicorn's "uvicorn.error") would write a
    # second, plain line: theirs go, and their records reach the root's JSON handler.
    for name in ("faststream", "faststream.access", "uvicorn", "uvicorn.error", "uvicorn.access"):
        library = logging.getLogger(name)
        library.handlers[:] = []
        library.propagate = True
    # A Python warning is a log record (logger "py.warnings"), not a plain line on stderr.
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    # aiokafka reports every rebalance and reconnect at INFO; keep the signal, not the noise.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # One line per outgoing request is the spans' job, not the log's.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _log_uncaught(
    kind: type[BaseException], value: BaseException, trace: TracebackType | None
) -> None:
    """An exception that ends the process: one JSON line with its class and where it was
    raised (the frames, never the message, which may echo input)."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, trace)
        return
    logging.getLogger("uncaught").critical(
        "the process stopped on an exception nobody caught",
        extra={"error": kind.__name__, "where": traceback.format_tb(trace)[-5:]},
    )
