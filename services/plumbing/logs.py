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


COORDINATOR_WAIT_SECONDS = 30.0


class _Expected(logging.Filter):
    """Keeps out of the warnings what is expected of every start and stop, so that a warning
    in the log is always worth reading:

    - FastStream's "Auto create topics is disabled. Make sure the topics exist." at each
      subscriber's start (dropped): the hub disables it on purpose (a topic made by a
      client's question would have the broker's default shape); the topic job makes every
      topic with its partitions and configuration (``schemas/topics.py``) first.
    - FastStream's "callback for Task-N is being executed..." for every consumer task at
      stop (dropped): its task supervisor saying that a task ended, which at stop every one
      does.
    - aiokafka's "Group Coordinator Request failed: ... GroupCoordinatorNotAvailableError"
      and "Marking the coordinator dead", which it logs as errors several times a second
      while a broker that has just started elects its group coordinator, and retries by
      itself: one line every 30 seconds at most, at INFO. Consumers that never get their
      partitions show as lag on ``/metrics`` and in the HubConsumerLag alert.
    - uvicorn's ``color_message`` (its message again, with terminal colours): removed."""

    def __init__(self) -> None:
        super().__init__()
        self._coordinator_said_at = float("-inf")

    def filter(self, record: logging.LogRecord) -> bool:
        if "color_message" in record.__dict__:
            del record.__dict__["color_message"]
        if record.name.startswith("faststream"):
            message = record.getMessage()
            return not (
                message.startswith("Auto create topics is disabled")
                or (message.startswith("callback for ") and message.endswith("being executed..."))
            )
        if record.name.startswith("aiokafka") and _coordinator_wait(record.getMessage()):
            if record.created - self._coordinator_said_at < COORDINATOR_WAIT_SECONDS:
                return False
            self._coordinator_said_at = record.created
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "waiting for the broker's group coordinator", None
        return True


def _coordinator_wait(message: str) -> bool:
    return "GroupCoordinatorNotAvailable" in message or message.startswith(
        "Marking the coordinator dead"
    )


REPEAT_WINDOW_SECONDS = 10.0


class _Repeats(logging.Filter):
    """While the broker is away every consumer and producer of a process retries on its own,
    and aiokafka logs each failed connection, metadata request, fetch and heartbeat as a
    warning or an error: measured, about 330 lines a second from three routers during a
    20-second broker restart, each line costing CPU the restarting broker needed. Of each
    aiokafka message (its template, e.g. "Unable connect to node with id %s: %s") one line
    goes out every ``REPEAT_WINDOW_SECONDS``, carrying in ``repeated`` how many like it were
    held back since the last; the first after a quiet spell goes out at once."""

    def __init__(self, window: float = REPEAT_WINDOW_SECONDS) -> None:
        super().__init__()
        self._window = window
        self._said: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka") or record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        said_at, held = self._said.get(key, (float("-inf"), 0))
        if record.created - said_at < self._window:
            self._said[key] = (said_at, held + 1)
            return False
        self._said[key] = (record.created, 0)
        if held:
            record.repeated = held
        return True


def configure(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    """Every line the process writes goes through one handler on stdout: the hub's own
    loggers, FastStream's, aiokafka's, uvicorn's and Python's warnings (``py.warnings``), and
    an exception nobody caught. With ``json_lines`` (always, outside the local profile) each
    line is one JSON object; nothing is coloured."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_Context())
    handler.addFilter(_Expected())
    handler.addFilter(_Repeats())
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
