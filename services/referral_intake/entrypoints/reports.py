"""The commissioner's report over HTTP (contract: ``GET /v1/reports/performance``): JSON, or
CSV with ``Accept: text/csv``, the HTML document with ``Accept: text/html``, or a PDF for a
panel pack with ``Accept: application/pdf`` (or ``format=``); ``edition=published`` for the
edition fit to publish. Coded facts and counts only; never personal data."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Header, Query, Request, Response
from fastapi.responses import JSONResponse

from schemas.calendar import england_day
from schemas.codes import LocalAuthority
from services.plumbing.answers import typed_router
from services.plumbing.auth import Principal, allow
from services.plumbing.http import problem
from services.referral_intake.adapters.report_document import render
from services.referral_intake.adapters.report_pdf import pdf
from services.referral_intake.domain import periods
from services.referral_intake.domain.disclosure import DEFAULT_THRESHOLD
from services.referral_intake.domain.performance import to_csv
from services.referral_intake.entrypoints.answers import PerformanceReport
from services.referral_intake.entrypoints.authorization import ACCESS
from services.referral_intake.handlers import reports

router = typed_router()

MayReadReports = Annotated[Principal, allow(ACCESS, "GET /v1/reports/performance")]
CSV = "text/csv"
MEDIA = {"json": "application/json", "csv": CSV, "html": "text/html", "pdf": "application/pdf"}
Format = Literal["json", "csv", "html", "pdf"]
_DAY: dict[str, Any] = {"format": "date", "pattern": periods.DAY_PATTERN}
PeriodParameter = Annotated[
    str | None,
    Query(
        max_length=20,
        description="A financial year (2026-27) or quarter (2026-27Q3); not with from and to",
        json_schema_extra={"pattern": periods.period_pattern()},
    ),
]
FirstDay = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=20,
        description="First day, YYYY-MM-DD; with to, not with period (to at most "
        f"{periods.MAX_DAYS} days on, counting both)",
        json_schema_extra=_DAY,
    ),
]
LastDay = Annotated[
    str | None,
    Query(
        max_length=20,
        description="Last day, YYYY-MM-DD, not before from; with from, not with period",
        json_schema_extra=_DAY,
    ),
]


def _format(accept: str | None, format_: str | None) -> str:
    """``format`` if given; otherwise the first media type of ``Accept`` the report comes
    in (JSON when none does)."""
    if format_ is not None:
        return format_
    by_media = {media: name for name, media in MEDIA.items()}
    for part in (accept or "").split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in by_media:
            return by_media[media]
    return "json"


@router.get(
    "/v1/reports/performance",
    responses={
        200: {
            "model": PerformanceReport,
            "description": "The report: JSON, or as the Accept header (or format) asks",
            "content": {
                CSV: {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def performance_report(
    request: Request,
    _: MayReadReports,
    period: PeriodParameter = None,
    from_: FirstDay = None,
    to: LastDay = None,
    local_authority: LocalAuthority | None = None,
    edition: Annotated[
        Literal["internal", "published"],
        Query(
            description="internal (exact, the default) or published (small counts suppressed, "
            "with secondary suppression; fit for a public panel pack)"
        ),
    ] = "internal",
    format: Annotated[Format | None, Query(description="Instead of the Accept header")] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Referrals per service and sub-service received in the period, what became of them,
    timeliness, outcomes, breakdowns, the change on the previous period and the variance
    against targets. Without a period: the current financial quarter."""
    now = datetime.now(UTC)
    try:
        chosen = periods.parse_period(period, from_, to, today=england_day(now))
    except periods.PeriodError as exc:
        return problem(
            422,
            "Invalid request",
            "The period is not one the report can cover; nothing was read.",
            errors=exc.errors,
        )
    report = await reports.performance(
        request.app.state.pool,
        chosen,
        local_authority=local_authority.value if local_authority else None,
        now=now,
    )
    threshold = getattr(request.app.state, "report_threshold", DEFAULT_THRESHOLD)
    report = await reports.edition(report, edition, threshold=threshold)
    return await _answer(report, _format(accept, format), edition, now)


def _filename(report: dict[str, Any], chosen_format: str, edition: str) -> str:
    """``performance-<period or from_to>[-<local authority>][-published].<format>``."""
    name = report["period"] or f"{report['from']}_{report['to']}"
    if report.get("local_authority"):
        name += f"-{report['local_authority']}"
    if edition == "published":
        name += "-published"
    return f"performance-{name}.{chosen_format}"


async def _answer(
    report: dict[str, Any], chosen_format: str, edition: str, now: datetime
) -> Response:
    """The report in the format chosen: a file to save (CSV, PDF), a page (HTML) or JSON."""
    attachment = {
        "Content-Disposition": f'attachment; filename="{_filename(report, chosen_format, edition)}"'
    }
    if chosen_format == "csv":
        return Response(to_csv(report), media_type=f"{CSV}; charset=utf-8", headers=attachment)
    if chosen_format == "html":
        return Response(
            render(report, generated_at=now),
            media_type="text/html; charset=utf-8",
            # The document has no script and fetches nothing: only its own inline styles.
            headers={
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                "frame-ancestors 'none'"
            },
        )
    if chosen_format == "pdf":
        document = await asyncio.to_thread(pdf, report, generated_at=now)
        return Response(document, media_type="application/pdf", headers=attachment)
    return JSONResponse(report)
