"""OpenTelemetry, set up once per process: traces exported over OTLP (or to a JSON-lines
file, which the tests read), FastAPI and asyncpg instrumentation, and the trace context that
travels with outbox rows, so that one referral's work is one trace across processes.

What spans may hold: ids (the referral id is an opaque UUID), codes and counts. Never
personal data: asyncpg spans carry the SQL text with ``$n`` placeholders and no parameters;
validation errors never echo input (``hide_input_in_errors``).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

REFERRAL_ATTRIBUTE = "hub.referral_id"
current_referral: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_referral", default=None
)


class JsonLinesSpanExporter(SpanExporter):
    """Finished spans, one JSON object a line: for tests and for looking at traces with no
    collector running."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [
            json.dumps(
                {
                    "name": span.name,
                    "service": span.resource.attributes.get("service.name"),
                    "trace_id": format(span.context.trace_id, "032x") if span.context else None,
                    "span_id": format(span.context.span_id, "016x") if span.context else None,
                    "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
                    "kind": span.kind.name,
                    # Nanoseconds since the epoch: a referral's hops, timed (bench/trace.py).
                    "start_ns": span.start_time,
                    "end_ns": span.end_time,
                    "attributes": dict(span.attributes or {}),
                    "events": [
                        {"name": e.name, "attributes": dict(e.attributes or {})}
                        for e in span.events
                    ],
                    "status": span.status.status_code.name,
                },
                default=str,
            )
            for span in spans
        ]
        with self._lock, self._path.open("a") as out:
            out.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def setup(
    service_name: str, *, otlp_endpoint: str | None, spans_file: str | None
) -> TracerProvider:
    # With nowhere to send spans, record none: they would cost a good part of each request's
    # CPU (one per SQL statement, per publish, per request) for nothing. Trace context is
    # still created and carried (outbox rows, Kafka headers), so ids stay joined up.
    sampler = ALWAYS_ON if (otlp_endpoint or spans_file) else ALWAYS_OFF
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}), sampler=sampler
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces"))
        )
    if spans_file:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(Path(spans_file))))
    trace.set_tracer_provider(provider)
    if otlp_endpoint or spans_file:
        # Only where spans are recorded: the wrapper around every statement cost about 5 %
        # of intake's CPU under load to make spans that went nowhere (docs/performance.md).
        instrumentor = AsyncPGInstrumentor(capture_parameters=False)  # type: ignore[no-untyped-call]
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)
    return provider


def current_trace_headers() -> dict[str, str]:
    """The W3C ``traceparent`` (and ``tracestate``/``baggage``) of the active span, if any."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def tag_referral(referral_id: uuid.UUID | str) -> None:
    """Name the referral this work is about: on the current span and in log lines."""
    trace.get_current_span().set_attribute(REFERRAL_ATTRIBUTE, str(referral_id))
    current_referral.set(str(referral_id))


def trace_ids() -> dict[str, Any]:
    """The current trace and span ids, for log lines."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


@contextlib.contextmanager
def continue_trace(
    carrier: Mapping[str, str] | None, name: str, referral_id: uuid.UUID | str
) -> Iterator[trace.Span]:
    """A span in the trace stored in ``carrier`` (a work item's, say), so that a provider's
    later request joins the referral's one trace; linked to the span that is current now
    (the provider's HTTP request), so either can be found from the other."""
    current = trace.get_current_span().get_span_context()
    links = [trace.Link(current)] if current.is_valid else []
    parent = propagate.extract(dict(carrier or {}))
    tracer = trace.get_tracer("services.plumbing.telemetry")
    with tracer.start_as_current_span(name, context=parent, links=links) as span:
        tag_referral(referral_id)
        yield span
