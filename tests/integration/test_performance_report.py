"""The commissioner's report against real PostgreSQL, on referrals driven through intake's
own handlers (submission, decisions, route status reports), with every expected figure
worked out by hand below. Fixed clock: the report is made on 10 January 2027.

Q3 2026-27 is 1 October to 31 December 2026 (London days). Referrals:

- R1  IDVA core, high-risk DA, Worcestershire, police, 34. Received 5 Oct 09:00. Viewed
      09:30, accepted 11:00 (2 h), contacted 6 Oct 09:00 (24 h; due in 48 h), completed
      20 Nov: risk reduced, abuse ceased, cope improved, needs not met, engaged.
- R2  ISVA adult, Herefordshire, self-referral, 19. Received 10 Oct 10:00. Viewed 10:30,
      rejected for capacity 14:00 (4 h) before its contact deadline; re-routed to VAL
      re_referral at 14:05 (high priority, the ISVA's Code deadline). VAL viewed 11 Oct
      08:00, accepted 08:05 (18 h), no answer 10:00, contacted 12 Oct 10:00. No outcome yet.
- R3  VAL core, Shropshire, police, 15. Received 30 Sep 23:30 UTC, which is 00:30 on
      1 October in London: Q3, not Q2. Never viewed or acknowledged: its contact and Code
      deadlines passed while it was open (both missed); waiting at the end of Q3.
- R4  VAL core, Worcestershire, police, 34. Received 30 Sep 22:30 UTC (23:30 BST): Q2.
      Accepted 1 Oct, contacted 2 Oct, completed 5 Jan 2027 (needs met, cope no change):
      still in VAL's caseload at the end of Q3.
- R5  VAL core twice, Worcestershire, partner agency, 52. Received 2 Nov 10:00. VAL
      rejected the first route (ineligible); a supervisor added VAL again on 3 Nov 09:00:
      viewed 09:30, accepted 10:00 (1 h), failed 20 Nov with no contact and no measures (its
      contact deadline, 10 Nov, was missed while it was open). VAL counts it once, as its
      latest route stands: accepted, not rejected.
- R6  IDVA hidva, high-risk DA, Telford and Wrekin, hospital, 40. Received 20 Dec 10:00.
      Its "viewed" report overtook the decision (another topic). Viewed 10:30, accepted
      14:00 (4 h), contacted 23 Dec 12:00 (74 h: misses 48 h and 72 h). Open at the end.
- R7  no service (no routes), Worcestershire, 15 Nov.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from reports.html import render
from schemas import events
from schemas.envelope import CloudEvent
from services.referral_intake.adapters import report_config
from services.referral_intake.domain.performance import AGE_BANDS, HEADLINE, age_band
from services.referral_intake.domain.periods import Period
from services.referral_intake.domain.referral import ReferralRequest
from services.referral_intake.handlers import erasure, reports, submission
from tests.support import report_figures
from tests.support.consuming import applied_at_intake
from tests.support.intake import migrated_pool, router_decided
from tests.support.referrals import referral
from tests.support.report_api import report_api
from tests.support.services import TEST_VAULT

NOW = datetime(2027, 1, 10, tzinfo=UTC)
Q2 = Period(date(2026, 7, 1), date(2026, 9, 30))
Q3 = Period(date(2026, 10, 1), date(2026, 12, 31))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Seeder:
    """Drives intake's handlers as the bus would."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.ids: dict[str, uuid.UUID] = {}
        self.routes: dict[str, events.Route] = {}

    async def referral(self, name: str, received: str, **changes: Any) -> uuid.UUID:
        submitted = await submission.submit_referral(
            self.pool,
            ReferralRequest.model_validate(referral(**changes)),
            submitted_by="test",
            idempotency_key=None,
            identity_key=b"k" * 32,
            vault=TEST_VAULT,
        )
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE referrals SET received_at = $2 WHERE referral_id = $1",
                submitted.referral_id,
                at(received),
            )
        self.ids[name] = submitted.referral_id
        return submitted.referral_id

    async def decide(
        self,
        name: str,
        routes: list[tuple[str, events.Route]],
        *,
        trigger: str = "received",
        da_risk: str | None = None,
        status: str = "routed",
    ) -> None:
        for key, route in routes:
            self.routes[key] = route
        decided_at = routes[0][1].requested_at if routes else NOW - timedelta(days=60)
        event = router_decided(
            self.ids[name],
            decided_at=decided_at,
            status=status,
            reason="no_identified_need" if status == "no_service" else None,
            da_risk=da_risk,
            routes=[r for _, r in routes],
            trigger=trigger,
        )
        await applied_at_intake(self.pool, event)

    async def step(
        self, name: str, route: str, step: str, status: str, when: str, **extra: Any
    ) -> None:
        r = self.routes[route]
        event: CloudEvent[Any] = CloudEvent(
            source=f"provider_adapter.{r.service.value}",
            type=events.ROUTE_STATUS,
            subject=str(self.ids[name]),
            data=events.RouteStatusChanged(
                route_id=r.route_id,
                referral_id=self.ids[name],
                service=r.service,
                step=step,
                status=status,
                at=at(when),
                **extra,
            ),
        )
        await applied_at_intake(self.pool, event)

    async def contact(self, name: str, route: str, when: str, result: str = "contacted") -> None:
        status = "in_progress" if result == "contacted" else "accepted"
        attempt = events.ContactAttempt(at=at(when), channel="phone", result=result)
        await self.step(name, route, "contact_attempt", status, when, contact_attempt=attempt)

    async def outcome(
        self, name: str, route: str, status: str, when: str, measures: dict[str, Any]
    ) -> None:
        await self.step(
            name,
            route,
            "outcome",
            status,
            when,
            outcome=events.Outcome(status=status, measures=measures),
        )


def route(
    service: str,
    sub_service: str,
    requested: str,
    *,
    priority: str = "standard",
    contact_hours: float = 48,
    code: str | None = None,
) -> events.Route:
    requested_at = at(requested)
    return events.Route(
        route_id=uuid.uuid4(),
        service=service,
        sub_service=sub_service,
        priority=priority,
        rule_ids=["R-TEST"],
        reason="test",
        consent_basis="explicit_consent",
        requested_at=requested_at,
        acknowledge_by=requested_at + timedelta(hours=4),
        contact_due_by=requested_at + timedelta(hours=contact_hours),
        code_deadline=at(code) if code else requested_at + timedelta(hours=48),
    )


async def seed(pool: asyncpg.Pool) -> Seeder:
    s = Seeder(pool)
    # R1: IDVA core, the whole way to a positive outcome.
    await s.referral(
        "R1",
        "2026-10-05T09:00:00",
        local_authority="worcestershire",
        source="police_officer",
        subject__age=34,
    )
    await s.decide(
        "R1",
        [("R1", route("IDVA", "core", "2026-10-05T09:00:00", priority="urgent"))],
        da_risk="high",
    )
    await s.step("R1", "R1", "viewed", "received", "2026-10-05T09:30:00")
    await s.step("R1", "R1", "acknowledged", "accepted", "2026-10-05T11:00:00")
    await s.contact("R1", "R1", "2026-10-06T09:00:00")
    await s.outcome(
        "R1",
        "R1",
        "completed",
        "2026-11-20T12:00:00",
        {
            "risk_reduced": True,
            "abuse_ceased_or_reduced": True,
            "cope_and_recover": "improved",
            "needs_met": False,
            "engaged": True,
        },
    )
    # R2: ISVA rejects for capacity; the router re-refers to VAL; no outcome yet.
    await s.referral(
        "R2",
        "2026-10-10T10:00:00",
        local_authority="herefordshire",
        source="self_referral",
        subject__age=19,
    )
    await s.decide(
        "R2",
        [("R2-ISVA", route("ISVA", "adult", "2026-10-10T10:00:00", priority="high"))],
    )
    await s.step("R2", "R2-ISVA", "viewed", "received", "2026-10-10T10:30:00")
    await s.step(
        "R2",
        "R2-ISVA",
        "acknowledged",
        "rejected",
        "2026-10-10T14:00:00",
        rejection_reason="capacity",
    )
    await s.decide(
        "R2",
        [
            (
                "R2-VAL",
                route(
                    "VAL",
                    "re_referral",
                    "2026-10-10T14:05:00",
                    priority="high",
                    contact_hours=96,
                    code="2026-10-12T10:00:00",
                ),
            )
        ],
        trigger="route_rejected",
    )
    await s.step("R2", "R2-VAL", "viewed", "received", "2026-10-11T08:00:00")
    await s.step("R2", "R2-VAL", "acknowledged", "accepted", "2026-10-11T08:05:00")
    await s.contact("R2", "R2-VAL", "2026-10-11T10:00:00", result="no_answer")
    await s.contact("R2", "R2-VAL", "2026-10-12T10:00:00")
    # R3: received at 00:30 London time on 1 October; nobody picks it up.
    await s.referral(
        "R3",
        "2026-09-30T23:30:00",
        local_authority="shropshire",
        source="police_officer",
        subject__age=15,
    )
    await s.decide(
        "R3", [("R3", route("VAL", "core", "2026-09-30T23:31:00", contact_hours=7 * 24))]
    )
    # R4: received at 23:30 London time on 30 September (Q2); still open at the end of Q3.
    await s.referral(
        "R4",
        "2026-09-30T22:30:00",
        local_authority="worcestershire",
        source="police_officer",
        subject__age=34,
    )
    await s.decide("R4", [("R4", route("VAL", "core", "2026-09-30T22:31:00"))])
    await s.step("R4", "R4", "viewed", "received", "2026-10-01T09:00:00")
    await s.step("R4", "R4", "acknowledged", "accepted", "2026-10-01T10:00:00")
    await s.contact("R4", "R4", "2026-10-02T10:00:00")
    await s.outcome(
        "R4",
        "R4",
        "completed",
        "2027-01-05T10:00:00",
        {"needs_met": True, "cope_and_recover": "no_change"},
    )
    # R5: VAL rejects, a supervisor adds VAL again: counted once, as the latest route.
    await s.referral(
        "R5",
        "2026-11-02T10:00:00",
        local_authority="worcestershire",
        source="partner_agency",
        subject__age=52,
    )
    await s.decide("R5", [("R5-1", route("VAL", "core", "2026-11-02T10:00:00"))])
    await s.step(
        "R5",
        "R5-1",
        "acknowledged",
        "rejected",
        "2026-11-02T12:00:00",
        rejection_reason="ineligible",
    )
    await s.decide(
        "R5",
        [
            (
                "R5-2",
                route(
                    "VAL",
                    "core",
                    "2026-11-03T09:00:00",
                    contact_hours=7 * 24,
                    code="2026-11-04T10:00:00",
                ),
            )
        ],
        trigger="override_add",
    )
    await s.step("R5", "R5-2", "viewed", "received", "2026-11-03T09:30:00")
    await s.step("R5", "R5-2", "acknowledged", "accepted", "2026-11-03T10:00:00")
    await s.outcome("R5", "R5-2", "failed", "2026-11-20T10:00:00", {})
    # R6: the provider's "viewed" overtakes the decision; contact at 74 hours.
    await s.referral(
        "R6",
        "2026-12-20T10:00:00",
        local_authority="telford_and_wrekin",
        source="hospital",
        subject__age=40,
    )
    s.routes["R6"] = route("IDVA", "hidva", "2026-12-20T10:00:00", priority="urgent")
    await s.step("R6", "R6", "viewed", "received", "2026-12-20T10:30:00")
    await s.decide("R6", [("R6", s.routes["R6"])], da_risk="high")
    await s.step("R6", "R6", "acknowledged", "accepted", "2026-12-20T14:00:00")
    await s.contact("R6", "R6", "2026-12-23T12:00:00")
    # R7: no service at all.
    await s.referral("R7", "2026-11-15T10:00:00", subject__age=60)
    await s.decide("R7", [], status="no_service")
    return s


@pytest.fixture(scope="module")
async def pool(module_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(module_database_url) as pool:
        yield pool


@pytest.fixture(scope="module")
async def seeded(pool: asyncpg.Pool) -> Seeder:
    return await seed(pool)


@pytest.fixture(scope="module")
async def q3(pool: asyncpg.Pool, seeded: Seeder) -> dict[str, Any]:
    return await reports.performance(pool, Q3, now=NOW)


@pytest.fixture(scope="module")
async def api(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The report's router on its own, over the test's pool: no broker needed."""
    async with report_api(pool) as client:
        yield client


def headline(figures: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(figures[name] for name in HEADLINE)


async def test_headline_figures_per_service_as_worked_out_by_hand(q3: dict[str, Any]) -> None:
    assert (q3["from"], q3["to"], q3["period"]) == ("2026-10-01", "2026-12-31", "2026-27Q3")
    services = q3["services"]
    assert list(services) == ["VAL", "IDVA", "ISVA", "CLIMB", "DIVERT"]
    #                                      ref acc rej eng com  pos   median cont   code
    assert headline(services["IDVA"]) == (2, 2, 0, 2, 1, 1.0, 3.0, 0.5, 1.0)
    assert headline(services["ISVA"]) == (1, 0, 1, 0, 0, None, 4.0, None, 1.0)
    assert headline(services["VAL"]) == (3, 2, 0, 1, 0, None, 9.5, 0.3333, 0.6667)
    assert headline(services["CLIMB"]) == (0, 0, 0, 0, 0, None, None, None, None)
    assert headline(q3["totals"]) == (6, 4, 1, 3, 1, 1.0, 4.0, 0.4, 0.8333)


async def test_a_rejected_and_rerouted_referral_counts_once_per_service(
    q3: dict[str, Any],
) -> None:
    isva, val = q3["services"]["ISVA"], q3["services"]["VAL"]
    assert isva["rejected_by_reason"]["capacity"] == 1
    assert sum(isva["rejected_by_reason"].values()) == 1
    assert val["sub_services"]["re_referral"]["referrals"] == 1  # R2 at VAL
    # R5 went to VAL twice: once, as its latest route (accepted), stands.
    assert val["sub_services"]["core"]["referrals"] == 2  # R3, R5
    assert val["sub_services"]["core"]["accepted"] == 1
    assert val["rejected_by_reason"]["ineligible"] == 0


async def test_timeliness_outcomes_caseload_and_breakdowns(q3: dict[str, Any]) -> None:
    idva, val = q3["services"]["IDVA"], q3["services"]["VAL"]
    assert idva["high_risk_da_referrals"] == 2
    assert idva["high_risk_da_contacted_within_48h_rate"] == 0.5
    assert idva["high_risk_da_contacted_within_72h_rate"] == 0.5
    assert idva["sub_services"]["core"]["median_hours_to_acknowledge"] == 2.0
    assert idva["sub_services"]["hidva"]["median_hours_to_acknowledge"] == 4.0
    assert idva["outcome_measures"] == {
        "risk_reduced": {"reported": 1, "positive": 1, "rate": 1.0},
        "abuse_ceased_or_reduced": {"reported": 1, "positive": 1, "rate": 1.0},
        "cope_and_recover": {"reported": 1, "positive": 1, "rate": 1.0},
        "safety_plan_in_place": {"reported": 0, "positive": 0, "rate": None},
        "needs_met": {"reported": 1, "positive": 0, "rate": 0.0},
    }
    # R5 failed without measures: it ended with an outcome, but says nothing positive or not.
    assert (val["ended_with_outcome"], val["outcomes_with_measures"]) == (1, 0)
    # At the end of Q3: IDVA holds R6; VAL holds R2 and R4 (a Q2 referral) and R3 waits.
    assert (idva["open_caseload_at_end"], idva["waiting_list_at_end"]) == (1, 0)
    assert (val["open_caseload_at_end"], val["waiting_list_at_end"]) == (2, 1)
    assert val["sub_services"]["core"]["open_caseload_at_end"] == 1  # R4
    assert val["sub_services"]["core"]["waiting_list_at_end"] == 1  # R3
    assert (q3["totals"]["open_caseload_at_end"], q3["totals"]["waiting_list_at_end"]) == (3, 1)
    assert val["by_local_authority"] == {
        "herefordshire": 1,
        "shropshire": 1,
        "telford_and_wrekin": 0,
        "worcestershire": 1,
        "outside_area": 0,
    }
    assert idva["by_source"]["hospital"] == 1
    assert idva["by_source"]["police_officer"] == 1
    assert val["by_age_band"]["10-17"] == 1
    assert list(val["by_age_band"]) == list(AGE_BANDS)
    assert val["by_priority"] == {"urgent": 0, "high": 1, "standard": 2}
    assert q3["totals"]["by_priority"] == {"urgent": 2, "high": 2, "standard": 2}
    assert q3["totals"]["intake"] == {
        "received": 6,
        "routed": 5,
        "awaiting_consent": 0,
        "no_service": 1,
        "not_yet_decided": 0,
    }


async def test_quarter_boundary_change_and_targets(pool: asyncpg.Pool, q3: dict[str, Any]) -> None:
    q2 = await reports.performance(pool, Q2, now=NOW)
    assert q2["services"]["VAL"]["referrals"] == 1  # R4 only; R3 is October in London
    assert q2["services"]["VAL"]["positive_outcome_rate"] == 1.0  # needs met
    assert q2["services"]["VAL"]["outcome_measures"]["cope_and_recover"] == {
        "reported": 1,
        "positive": 0,
        "rate": 0.0,
    }
    assert q2["totals"]["referrals"] == 1
    val = q3["services"]["VAL"]
    assert q3["previous_period"] == {
        "from": "2026-07-01",
        "to": "2026-09-30",
        "period": "2026-27Q2",
    }
    assert (val["referrals_previous_period"], val["referrals_change_rate"]) == (1, 2.0)
    assert q3["services"]["IDVA"]["referrals_change_rate"] is None  # nothing before
    assert q3["services"]["ISVA"]["targets"]["referrals"] == {
        "per_year": 1660.0,
        "target": 415.0,
        "actual": 1,
        "variance": -414.0,
        "variance_rate": -0.9976,
    }
    assert q3["services"]["IDVA"]["targets"]["high_risk_da_contacted_within_48h_rate"] == {
        "target": 0.96,
        "actual": 0.5,
        "variance": -0.46,
    }


async def test_a_local_authority_gets_its_own_report(pool: asyncpg.Pool, seeded: Seeder) -> None:
    hereford = await reports.performance(pool, Q3, local_authority="herefordshire", now=NOW)
    assert hereford["local_authority"] == "herefordshire"
    assert hereford["services"]["ISVA"]["referrals"] == 1
    assert hereford["services"]["VAL"]["referrals"] == 1
    assert hereford["totals"]["referrals"] == 2
    assert hereford["totals"]["intake"]["received"] == 1


async def test_erasing_personal_data_leaves_the_report_as_it_was(
    pool: asyncpg.Pool, seeded: Seeder, q3: dict[str, Any]
) -> None:
    await erasure.erase(
        pool, TEST_VAULT, seeded.ids["R1"], reason="data_subject_request", actor="supervisor"
    )
    assert await reports.performance(pool, Q3, now=NOW) == q3


async def test_the_projection_holds_coded_facts_only(pool: asyncpg.Pool, seeded: Seeder) -> None:
    async with pool.acquire() as conn:
        rows = [dict(r) for r in await conn.fetch("SELECT * FROM report_facts")]
        bands = await conn.fetch(
            "SELECT a, report_age_band(a) AS band FROM generate_series(0, 130) a"
        )
    text = repr(rows)
    for personal in ("Test Person", "07700", "example.org", "Test Street"):
        assert personal not in text
    assert {r["band"] for r in bands} == set(AGE_BANDS)
    assert all(age_band(r["a"]) == r["band"] for r in bands)


async def test_the_migration_backfills_what_the_handlers_maintain(
    pool: asyncpg.Pool, seeded: Seeder
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        maintained = [dict(r) for r in await conn.fetch("SELECT * FROM report_facts ORDER BY 1, 2")]
        await conn.execute("DELETE FROM report_facts")
        await conn.execute("SELECT report_refresh(array_agg(DISTINCT referral_id)) FROM routes")
        rebuilt = [dict(r) for r in await conn.fetch("SELECT * FROM report_facts ORDER BY 1, 2")]
    assert rebuilt == maintained
    assert len(maintained) == 7  # R1, R2 (ISVA and VAL), R3, R4, R5 (once), R6


async def test_json_and_csv_agree(api: httpx.AsyncClient, seeded: Seeder) -> None:
    as_json = await api.get("/v1/reports/performance", params={"period": "2026-27Q3"})
    as_csv = await api.get(
        "/v1/reports/performance", params={"period": "2026-27Q3"}, headers={"Accept": "text/csv"}
    )
    assert as_json.status_code == 200, as_json.text
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "performance-2026-27Q3.csv" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    report = as_json.json()
    assert {(r["period"], r["from"], r["to"]) for r in rows} == {
        ("2026-27Q3", "2026-10-01", "2026-12-31")
    }
    from_csv = {
        (r["service"], r["sub_service"], r["figure"]): (float(r["value"]) if r["value"] else None)
        for r in rows
    }
    assert from_csv == report_figures.figures(report)
    assert from_csv[("ISVA", "", "rejected_by_reason.capacity")] == 1
    assert from_csv[("all", "", "referrals")] == report["totals"]["referrals"]
    assert from_csv[("VAL", "re_referral", "referrals")] == 1
    # The same figures from a date range; ?format=csv for links that cannot set Accept.
    ranged = await api.get(
        "/v1/reports/performance",
        params={"from": "2026-10-01", "to": "2026-12-31", "format": "csv"},
    )
    assert ranged.text == as_csv.text


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"period": "2026-27Q5"}, ["period"]),
        ({"period": "2026-28Q1"}, ["period"]),
        ({"period": "2026-27Q3", "from": "2026-10-01"}, ["period"]),
        ({"from": "2026-10-01"}, ["to"]),
        ({"from": "2026-13-01", "to": "yesterday"}, ["from", "to"]),
        ({"from": "2026-12-31", "to": "2026-10-01"}, ["to"]),
        ({"from": "2000-01-01", "to": "2026-10-01"}, ["to"]),
        ({"period": "2026-27Q3", "local_authority": "atlantis"}, ["local_authority"]),
    ],
)
async def test_bad_parameters_are_named(
    api: httpx.AsyncClient, params: dict[str, str], fields: list[str]
) -> None:
    response = await api.get("/v1/reports/performance", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == fields


async def test_every_outcome_measure_has_a_bit(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        catalogued = {r["name"] for r in await conn.fetch("SELECT name FROM report_measures")}
    every = {m for names in report_config.measures_by_service().values() for m in names}
    assert every <= catalogued


async def test_the_html_report_of_the_seeded_quarter(q3: dict[str, Any]) -> None:
    page = render(q3, generated_at=NOW)
    assert page.count("<svg") == page.count("<figure>") >= 10
    assert "<script" not in page
    assert "Victim services performance, 2026-27 Q3" in page
    assert "Sexual violence advisers (ISVA)" in page
    assert "Test Person" not in page
