"""Trace context that travels with outbox rows, so that one referral's work forms one trace
even though the relay publishes it later, outside the request that caused it."""

from __future__ import annotations

from opentelemetry import propagate


def current_trace_headers() -> dict[str, str]:
    """The W3C ``traceparent`` (and ``tracestate``/``baggage``) of the active span, if any."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier
