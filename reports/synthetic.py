"""Performance reports built from made-up referrals, so that every figure in them agrees with
every other as the real report's do (the domain adds them up from one set of rows): for the
published edition's tests, which need many small counts in linked tables, and for the
README's pictures (``python -m reports.pictures``)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from schemas import equality
from schemas.codes import (
    STATUTORY_FLAGS,
    LocalAuthority,
    Priority,
    RejectionReason,
    Service,
    Source,
)
from services.referral_intake.domain.performance import (
    AGE_BANDS,
    Aggregates,
    Target,
    build_report,
)
from services.referral_intake.domain.periods import Period

Q3 = Period(date(2026, 10, 1), date(2026, 12, 31))
SUB_SERVICES = {
    "VAL": ("core", "re_referral"),
    "IDVA": ("core", "hidva", "ypidva"),
    "ISVA": ("adult", "child"),
    "CLIMB": ("core",),
    "DIVERT": ("core",),
}
MEASURES = {
    "VAL": ("needs_met", "better_informed"),
    "IDVA": ("risk_reduced", "needs_met"),
    "ISVA": ("cope_and_recover", "needs_met"),
    "CLIMB": ("risk_reduced",),
    "DIVERT": ("programme_completed",),
}


def referrals_report(seed: int, referrals: int = 60, *, skew: float = 1.0) -> dict[str, Any]:
    """A Q3 report of ``referrals`` made-up referrals (one route each), drawn with ``seed``.
    ``skew`` above 1 piles them into fewer services and categories (more small cells)."""
    rng = random.Random(seed)  # noqa: S311 - made-up figures, not secrets

    def pick(options: Any) -> Any:
        items = list(options)
        weights = [1 / (n + 1) ** skew for n in range(len(items))]
        return rng.choices(items, weights)[0]

    counts: Counter[tuple[Any, ...]] = Counter()
    measures: dict[tuple[Any, ...], Counter[str]] = {}
    dimensions: Counter[tuple[str, ...]] = Counter()
    caseload: Counter[tuple[str, str, str]] = Counter()
    minutes: Counter[tuple[str, str, int]] = Counter()
    previous: Counter[str] = Counter()
    intake: Counter[str] = Counter()
    answers: Counter[tuple[str, str, str]] = Counter()
    statutory: Counter[tuple[str, str]] = Counter()
    for _ in range(referrals):
        service = pick(s.value for s in Service)
        sub = pick(SUB_SERVICES[service])
        source = pick(s.value for s in Source)
        intake[pick(("routed", "routed", "closed", "awaiting_consent", "no_service"))] += 1
        for name in equality.characteristics():
            code = pick([*equality.categories(name), *equality.NOT_RECORDED][::-1])
            answers[(source, name, code)] += 1
        if rng.random() < 0.3:
            flag = pick(sorted(STATUTORY_FLAGS))
            statutory[(flag, pick(("actioned", "actioned", "outstanding", "withdrawn")))] += 1
        acknowledged = rng.random() < 0.9
        accepted = acknowledged and rng.random() < 0.8
        rejected = acknowledged and not accepted
        reason = pick(r.value for r in RejectionReason) if rejected else None
        contacted = accepted and rng.random() < 0.8
        ended = accepted and rng.random() < 0.6
        completed = ended and contacted and rng.random() < 0.8
        not_contactable = ended and not completed and not contacted
        with_measures = ended and rng.random() < 0.8
        chosen = {m: rng.random() < 0.7 for m in MEASURES[service]} if with_measures else {}
        row = {
            "referrals": 1,
            "accepted": int(accepted),
            "rejected": int(rejected),
            "acknowledged": int(acknowledged),
            "engaged": int(contacted),
            "completed": int(completed),
            "contacted": int(contacted),
            "ended_with_outcome": int(ended),
            "outcomes_with_measures": int(with_measures),
            "positive_outcomes": int(any(chosen.values())),
            "contact_met": int(contacted and rng.random() < 0.8),
            "contact_judged": int(contacted or rng.random() < 0.5),
            "code_met": int(acknowledged),
            "code_judged": 1,
            "high_risk_da": int(service == "IDVA" and rng.random() < 0.5),
            "not_contactable": int(not_contactable),
            "attempts_on_ended": rng.randint(1, 4) if ended else 0,
        }
        row["contact_met"] = min(row["contact_met"], row["contact_judged"])
        key = (service, sub, reason)
        for name, value in row.items():
            counts[(*key, name)] += value
        tally = measures.setdefault(key, Counter())
        for m, positive in chosen.items():
            tally[f"{m}.reported"] += 1
            tally[f"{m}.positive"] += int(positive)
        dimensions[
            (
                service,
                pick(a.value for a in LocalAuthority),
                source,
                pick(AGE_BANDS),
                pick(p.value for p in Priority),
            )
        ] += 1
        if accepted and not ended:
            caseload[(service, sub, "open_caseload")] += 1
        if not contacted and not ended:
            caseload[(service, sub, "waiting_list")] += 1
        if acknowledged:
            minutes[(service, sub, rng.randint(10, 3000))] += 1
        if rng.random() < 0.9:
            previous[service] += 1
    keys = {k[:3] for k in counts}
    count_rows = []
    for key in keys:
        count_row: dict[str, Any] = {
            "service": key[0],
            "sub_service": key[1],
            "rejection_reason": key[2],
        }
        count_row.update({k[3]: v for k, v in counts.items() if k[:3] == key})
        tally = measures.get(key, Counter())
        count_row["measures"] = {
            m: (tally[f"{m}.reported"], tally[f"{m}.positive"]) for m in MEASURES[key[0]]
        }
        count_rows.append(count_row)
    data = Aggregates(
        counts=count_rows,
        acknowledgements=[
            {"service": s, "sub_service": u, "minutes": m, "routes": n}
            for (s, u, m), n in minutes.items()
        ],
        dimensions=[
            {
                "service": s,
                "local_authority": a,
                "source": src,
                "age_band": b,
                "priority": p,
                "referrals": n,
            }
            for (s, a, src, b, p), n in dimensions.items()
        ],
        caseload=[
            {
                "service": s,
                "sub_service": u,
                "open_caseload": caseload[(s, u, "open_caseload")],
                "waiting_list": caseload[(s, u, "waiting_list")],
            }
            for s, u in {(s, u) for s, u, _ in caseload}
        ],
        previous=[{"service": s, "referrals": n} for s, n in previous.items()],
        intake=[{"status": s, "referrals": n} for s, n in intake.items()],
        equality=[
            {"source": s, "characteristic": c, "category": k, "referrals": n}
            for (s, c, k), n in answers.items()
        ],
        equality_months=(date(2026, 10, 1), date(2026, 12, 1)),
        statutory=[
            {
                "flag": flag,
                "raised": sum(n for (f, _), n in statutory.items() if f == flag),
                "actioned": statutory[(flag, "actioned")],
                "outstanding": statutory[(flag, "outstanding")],
                "withdrawn": statutory[(flag, "withdrawn")],
                "median_hours_to_action": 5.0 if statutory[(flag, "actioned")] else None,
            }
            for flag in {f for f, _ in statutory}
        ],
    )
    return build_report(
        period=Q3,
        previous=Q3.previous(),
        as_of=datetime(2027, 1, 10, tzinfo=UTC),
        caseload_at=datetime(2027, 1, 1, tzinfo=UTC),
        data=data,
        targets=[Target("ISVA", "referrals", date(2022, 10, 1), per_year=1660)],
        measures_by_service=MEASURES,
    )
