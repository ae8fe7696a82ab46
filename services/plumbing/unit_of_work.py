"""The unit of work a consumer's handler runs in (*Architecture Patterns with Python*, ch. 6):
the handler only says what an event changes and which events that causes.

For each consumed event (or each batch, in a batch consumer) ``UnitOfWork``:

1. opens one transaction;
2. records the event in the inbox (``inbox.first_time_or_redrive``). An event seen before is
   not handled again: what handling it produced is published again instead
   (``outbox.redrive``), so that a re-driven event heals a lost downstream one;
3. hands the handler a connection and the event (a batch handler: the batch's events seen
   for the first time), and writes the events it returns to the outbox, each with
   ``caused_by`` set to the consumed event's id;
4. commits, and then runs what the handler asked to run once committed (``after_commit``).

The consumer (``services.plumbing.kafka``) commits the offset only after that: a process
that dies in between reads the event again, and step 2 makes that harmless. If the handler
raises, nothing it did is kept: no inbox row, no outbox row.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import asyncpg

from schemas.envelope import CloudEvent
from schemas.events import Event
from services.plumbing import inbox, outbox
from services.plumbing.db import Connection
from services.plumbing.outbox import OutgoingEvent

if TYPE_CHECKING:  # the consumer imports this module
    from services.plumbing.kafka import Delivered


EventT = TypeVar("EventT", bound=CloudEvent[Any])
E = TypeVar("E", bound=Event)
Produced = Sequence[OutgoingEvent]
"""The events handling one consumed event causes, to be published through the outbox."""
Handle = Callable[[Connection, EventT], Awaitable[Produced]]
"""Given a connection (in the unit of work's transaction) and the event: change state, and
return the events to publish."""
HandleBatch = Callable[
    [Connection, "list[Delivered[EventT]]"], Awaitable[Mapping[uuid.UUID, Produced]]
]
"""``Handle`` for several events in order (each first seen now): the events each caused, by
the consumed event's id (an event that caused none may be left out)."""


@dataclass(frozen=True)
class Apply(Generic[EventT]):
    """How a consumer applies one event type in its unit of work: the model the record must
    validate as, the handler, and optionally the batch handler (used by a consumer with
    ``max_batch`` > 1; same idempotency and effects as ``handle``, one transaction).

    ``wanted``, when given, picks the events of the topic this consumer acts on: the others
    (another provider's escalation) are passed over without a transaction or an inbox row."""

    model: type[EventT]
    handle: Handle[EventT]
    handle_batch: HandleBatch[EventT] | None = None
    wanted: Callable[[EventT], bool] | None = None


def applying(
    kind: type[E],
    handle: Handle[CloudEvent[E]],
    handle_batch: HandleBatch[CloudEvent[E]] | None = None,
) -> dict[str, Apply[Any]]:
    """``subscribe``'s ``handlers`` for a consumer of one event class: its records validate
    as ``CloudEvent[kind]`` and are keyed by ``kind.TYPE``."""
    model: type[CloudEvent[E]] = CloudEvent[kind]  # type: ignore[valid-type]
    return {kind.TYPE: Apply(model, handle, handle_batch=handle_batch)}


_after_commit: contextvars.ContextVar[list[Callable[[], None]]] = contextvars.ContextVar(
    "unit_of_work_after_commit"
)


def after_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current unit of work has committed; never if it rolls
    back (a count of decisions made must not count one that was not kept). Raises
    ``RuntimeError`` outside a unit of work."""
    try:
        _after_commit.get().append(callback)
    except LookupError:
        raise RuntimeError("after_commit outside a unit of work") from None


@contextmanager
def _collecting_callbacks() -> Iterator[list[Callable[[], None]]]:
    callbacks: list[Callable[[], None]] = []
    token = _after_commit.set(callbacks)
    try:
        yield callbacks
    finally:
        _after_commit.reset(token)


def first_of_each(batch: Sequence[Delivered[EventT]]) -> list[Delivered[EventT]]:
    """``batch`` in order without repeats: an event id read twice in one batch (a producer's
    retry) is handled once."""
    seen: set[uuid.UUID] = set()
    distinct = []
    for delivered in batch:
        if delivered.event.id not in seen:
            seen.add(delivered.event.id)
            distinct.append(delivered)
    return distinct


def caused(
    handled: Sequence[Delivered[EventT]], produced: Mapping[uuid.UUID, Produced]
) -> list[tuple[OutgoingEvent, uuid.UUID | None]]:
    """What a batch handler returned, as outbox rows with their causes, in the batch's
    order. Raises ``ValueError`` for events said to be caused by an event it was not given
    (their ``caused_by`` would re-drive the wrong thing)."""
    ids = [d.event.id for d in handled]
    strangers = set(produced) - set(ids)
    if strangers:
        raise ValueError(f"events produced for {len(strangers)} event(s) not in the batch")
    return [(event, cause) for cause in ids for event in produced.get(cause, ())]


@dataclass(frozen=True)
class UnitOfWork:
    """One consumer's unit of work: the pool it opens transactions from, and its name in the
    inbox (kept stable: a renamed consumer would apply every event it is sent again)."""

    pool: asyncpg.Pool
    consumer: str

    async def apply(self, topic: str, event: EventT, handle: Handle[EventT]) -> None:
        """Apply ``event`` (read from ``topic``) with ``handle`` (see the module's
        description)."""
        with _collecting_callbacks() as callbacks:
            async with self.pool.acquire() as conn, conn.transaction():
                if not await inbox.first_time_or_redrive(conn, self.consumer, event.id, topic):
                    return
                produced = await handle(conn, event)
                await outbox.add(conn, list(produced), caused_by=event.id)
        for callback in callbacks:
            callback()

    async def apply_batch(
        self, topic: str, batch: Sequence[Delivered[EventT]], handle_batch: HandleBatch[EventT]
    ) -> None:
        """Apply ``batch`` in one transaction: the inbox rows of all its events, what the
        handler changes and every event it produces commit together or not at all."""
        distinct = first_of_each(batch)
        with _collecting_callbacks() as callbacks:
            async with self.pool.acquire() as conn, conn.transaction():
                new = await inbox.first_times_or_redrive(
                    conn, self.consumer, [(d.event.id, topic) for d in distinct]
                )
                fresh = [d for d in distinct if d.event.id in new]
                if fresh:
                    produced = await handle_batch(conn, fresh)
                    await outbox.add_each(conn, caused(fresh, produced))
        for callback in callbacks:
            callback()

    def bind(
        self, topic: str, spec: Apply[Any]
    ) -> tuple[
        Callable[[Any], Awaitable[None]], Callable[[list[Delivered[Any]]], Awaitable[None]] | None
    ]:
        """``spec``'s handlers as the consumer calls them (given only the event, or the
        batch), each applying what it is given in this unit of work."""
        wanted = spec.wanted
        handle_batch = spec.handle_batch

        async def one(event: Any) -> None:
            if wanted is None or wanted(event):
                await self.apply(topic, event, spec.handle)

        if handle_batch is None:
            return one, None

        async def many(batch: list[Delivered[Any]]) -> None:
            chosen = [d for d in batch if wanted is None or wanted(d.event)]
            if chosen:
                await self.apply_batch(topic, chosen, handle_batch)

        return one, many
