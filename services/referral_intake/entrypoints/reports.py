"""The commissioner's report over HTTP (contract: ``GET /v1/reports/performance``): JSON, or
CSV with ``Accept: text/csv``. Coded facts and counts only; never personal data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from schemas.calendar import england_day
from schemas.codes import LocalAuthority
from services.plumbing.auth import Principal, allow
from services.plumbing.http import problem
from services.referral_intake.domain.performance import to_csv
from services.referral_intake.domain.periods import PeriodError, parse_period
from services.referral_intake.entrypoints.authorization import ACCESS
from services.referral_intake.handlers import reports

router = APIRouter()

MayReadReports = Annotated[Principal, allow(ACCESS, "GET /v1/reports/performance")]
CSV = "text/csv"


def _wants_csv(accept: str | None, format_: str | None) -> bool:
    if format_ is not None:
        return format_ == "csv"
    media = [part.split(";", 1)[0].strip().lower() for part in (accept or "").split(",")]
    return CSV in media and "application/json" not in media[: media.index(CSV)]


@router.get("/v1/reports/performance")
async def performance_report(
    request: Request,
    _: MayReadReports,
    period: Annotated[
        str | None,
        Query(max_length=20, description="A financial year (2026-27) or quarter (2026-27Q3)"),
    ] = None,
    from_: Annotated[
        str | None, Query(alias="from", max_length=20, description="First day, YYYY-MM-DD")
    ] = None,
    to: Annotated[str | None, Query(max_length=20, description="Last day, YYYY-MM-DD")] = None,
    local_authority: LocalAuthority | None = None,
    format: Annotated[
        Literal["json", "csv"] | None, Query(description="Instead of the Accept header")
    ] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Referrals per service and sub-service received in the period, what became of them,
    timeliness, outcomes, breakdowns, the change on the previous period and the variance
    against targets. Without a period: the current financial quarter."""
    now = datetime.now(UTC)
    try:
        chosen = parse_period(period, from_, to, today=england_day(now))
    except PeriodError as exc:
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
    if _wants_csv(accept, format):
        name = report["period"] or f"{report['from']}_{report['to']}"
        return Response(
            to_csv(report),
            media_type=f"{CSV}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="performance-{name}.csv"'},
        )
    return JSONResponse(report)
