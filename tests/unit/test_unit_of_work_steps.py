"""The consumer's unit of work, its steps that need no database
(``services/plumbing/unit_of_work.py``): a batch read with an event twice handles it once,
what a batch handler returns becomes outbox rows caused by the right events, nothing runs
"after the commit" outside a unit of work, and ``subscribe`` binds every ``Apply`` to the
unit of work (tests/integration/test_unit_of_work.py has the transaction itself)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from schemas import events
from schemas.envelope import CloudEvent
from services.plumbing.db import Connection
from services.plumbing.events import by_event, outgoing
from services.plumbing.kafka import Delivered, On, in_unit_of_work
from services.plumbing.outbox import OutgoingEvent
from services.plumbing.unit_of_work import Apply, UnitOfWork, after_commit, caused, first_of_each

Event = CloudEvent[events.HeldRoute]


def _event(name: str = "core", event_id: uuid.UUID | None = None) -> Event:
    data = events.HeldRoute(
        service="VAL", sub_service=name, priority="standard", rule_ids=[], reason=""
    )
    event: Event = CloudEvent(source="test", type="test.v1", subject=str(uuid.uuid4()), data=data)
    return event.model_copy(update={"id": event_id}) if event_id else event


def _delivered(event: Event) -> Delivered[Event]:
    return Delivered(event, {}, "t")


def _produced(event: Event) -> OutgoingEvent:
    cancelled = events.WorkItemCancelled(
        route_id=uuid.uuid4(),
        referral_id=uuid.uuid4(),
        service="VAL",
        reason=event.data.sub_service,
    )
    return outgoing(cancelled, source="test", referral_id=cancelled.referral_id)


def test_an_event_read_twice_in_one_batch_is_handled_once_in_order() -> None:
    a, b = _event("a"), _event("b")
    again = _event("a again", event_id=a.id)
    batch = [_delivered(e) for e in (a, b, again)]
    assert [d.event.data.sub_service for d in first_of_each(batch)] == ["a", "b"]
    assert first_of_each([]) == []


def test_a_batch_handlers_events_are_caused_by_the_events_it_was_given_in_their_order() -> None:
    a, b, c = _event("a"), _event("b"), _event("c")
    handled = [_delivered(e) for e in (a, b, c)]
    first, second, third = _produced(a), _produced(a), _produced(c)
    rows = caused(handled, {c.id: [third], a.id: [first, second]})
    assert rows == [(first, a.id), (second, a.id), (third, c.id)]  # b caused nothing


def test_events_said_to_be_caused_by_an_event_outside_the_batch_are_refused() -> None:
    a = _event("a")
    with pytest.raises(ValueError, match="not in the batch"):
        caused([_delivered(a)], {uuid.uuid4(): [_produced(a)]})


def test_after_commit_is_refused_outside_a_unit_of_work() -> None:
    with pytest.raises(RuntimeError):
        after_commit(lambda: None)


async def _nothing(conn: Connection, event: Event) -> list[OutgoingEvent]:
    return []


async def _nothing_together(
    conn: Connection, batch: list[Delivered[Event]]
) -> dict[uuid.UUID, list[OutgoingEvent]]:
    return {}


class _Pool:
    """Stands for a pool the test never reaches: binding opens no connection."""


def test_subscribe_binds_each_apply_to_the_unit_of_work_once_and_keeps_ons() -> None:
    async def raw(event: Any) -> None:
        return None

    shared = Apply(Event, _nothing, _nothing_together)
    own = On(Event, raw)
    uow = UnitOfWork(_Pool(), "test")  # type: ignore[arg-type]
    table = in_unit_of_work({"a.v1": shared, "b.v1": shared, "c.v1": own}, "t", uow)
    assert table["c.v1"] is own
    # One On for both types: a batch of the two goes to the batch handler together.
    assert table["a.v1"] is table["b.v1"]
    assert table["a.v1"].model is Event
    assert table["a.v1"].handle_batch is not None
    assert in_unit_of_work({"x.v1": Apply(Event, _nothing)}, "t", uow)["x.v1"].handle_batch is None


def test_an_apply_without_a_unit_of_work_is_refused() -> None:
    with pytest.raises(TypeError, match="unit of work"):
        in_unit_of_work({"a.v1": Apply(Event, _nothing)}, "t", None)


def test_handlers_in_a_unit_of_work_are_filed_under_their_event_class_type() -> None:
    routed = Apply(CloudEvent[events.ReferralRouted], _nothing)  # type: ignore[arg-type]
    assert by_event({events.ReferralRouted: routed}) == {events.REFERRAL_ROUTED: routed}
    with pytest.raises(TypeError):
        by_event({events.WorkItem: routed})


async def test_events_a_consumer_does_not_want_are_passed_over_without_a_transaction() -> None:
    """``wanted`` says no: the bound handlers return at once (the pool stand-in has no
    ``acquire``, so any transaction would fail the test)."""
    uow = UnitOfWork(_Pool(), "test")  # type: ignore[arg-type]
    spec = Apply(Event, _nothing, _nothing_together, wanted=lambda e: e.data.sub_service == "own")
    one, many = uow.bind("t", spec)
    assert many is not None
    await one(_event("other"))
    await many([_delivered(_event("other")), _delivered(_event("another"))])
    with pytest.raises(AttributeError, match="acquire"):  # the one it wants reaches the pool
        await one(_event("own"))
