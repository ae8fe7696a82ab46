"""Every list of provider services is made from ``schemas.codes.Service`` (issue 17), and
every table of per-service figures (the demo's, the bench's, the synthetic reports') has a
row for each: adding a service to the enum fails here, naming the tables to fill in, rather
than leaving it out of a demo, a bench run or a report without a word."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bench import report as bench_report
from bench import stack as bench_stack
from deploy.demo import __main__ as demo
from deploy.demo import providers as demo_providers
from deploy.localstack import stack as local_stack
from reports import synthetic
from schemas import codes
from schemas.codes import Service
from services.provider_adapter.entrypoints.portal import present
from services.referral_intake.adapters import report_document

EVERY_SERVICE = {s.value for s in Service}

TABLES: dict[str, Mapping[Any, Any]] = {
    "schemas.codes.SERVICE_NAMES": codes.SERVICE_NAMES,
    "portal present.SERVICE_NAMES": present.SERVICE_NAMES,
    "report_document.SERVICE_NAMES": report_document.SERVICE_NAMES,
    "bench.report.SERVICE_WEIGHTS": bench_report.SERVICE_WEIGHTS,
    "bench.report.SUB_SERVICES": bench_report.SUB_SERVICES,
    "bench.report.CONTACT_HOURS": bench_report.CONTACT_HOURS,
    "reports.synthetic.SUB_SERVICES": synthetic.SUB_SERVICES,
    "reports.synthetic.MEASURES": synthetic.MEASURES,
    "deploy.demo.providers.RATES": demo_providers.RATES,
}


@pytest.mark.parametrize("name", TABLES)
def test_every_table_of_services_has_a_row_for_each(name: str) -> None:
    assert set(TABLES[name]) == EVERY_SERVICE


def test_the_demo_and_the_bench_run_every_service() -> None:
    assert set(demo.SERVICES) == EVERY_SERVICE
    assert set(bench_stack.SERVICES) == EVERY_SERVICE
    assert {demo.WEBHOOK_SERVICE, demo.PORTAL_SERVICE} <= EVERY_SERVICE


def test_the_local_stack_gives_each_adapter_its_own_port() -> None:
    adapters = {
        name: port
        for name, port in local_stack.DEFAULT_PORTS.items()
        if name.startswith("provider_adapter.")
    }
    assert set(adapters) == {f"provider_adapter.{s}" for s in EVERY_SERVICE}
    assert len(set(local_stack.DEFAULT_PORTS.values())) == len(local_stack.DEFAULT_PORTS)
    # The ports people have in their notes and bookmarks stay where they were.
    assert adapters["provider_adapter.VAL"] == 8081
    assert adapters["provider_adapter.DIVERT"] == 8085
