"""Structured JSON log lines. What goes in ``extra`` must never be personal data: ids,
codes, counts and error class names only."""

from __future__ import annotations

import logging
import sys

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
    # aiokafka reports every rebalance and reconnect at INFO; keep the signal, not the noise.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # One line per outgoing request is the spans' job, not the log's.
    logging.getLogger("httpx").setLevel(logging.WARNING)
