"""Who read whose personal data (table ``disclosure_log``), and the names providers' people
gave (``provider_people``) that the log and the timeline show beside their coded actor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.plumbing.db import Connection
from services.referral_intake.adapters.typed_rows import fetch_all


@dataclass(frozen=True)
class Disclosure:
    """One read: when, by whom (coded ``accessor``, with their name when a person), for which
    service, which fields and why."""

    at: datetime
    accessor: str
    accessor_name: str | None
    service: str | None
    fields: tuple[str, ...]
    purpose: str


async def log_disclosure(
    conn: Connection,
    referral_id: uuid.UUID,
    *,
    accessor: str,
    service: str | None,
    fields: list[str],
    purpose: str,
    accessor_name: str | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO disclosure_log (referral_id, accessor, service, fields, purpose,
                                       accessor_name)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        referral_id,
        accessor,
        service,
        fields,
        purpose,
        accessor_name,
    )


async def disclosure_log(conn: Connection, referral_id: uuid.UUID) -> list[Disclosure]:
    """Every read of the referral's personal data, oldest first."""
    return await fetch_all(
        conn,
        Disclosure,
        """SELECT at, accessor, accessor_name, service, fields, purpose FROM disclosure_log
           WHERE referral_id = $1 ORDER BY at, id""",
        referral_id,
    )


async def name_person(conn: Connection, actor: str, service: str, display_name: str) -> None:
    await conn.execute(
        """INSERT INTO provider_people (actor, service, display_name) VALUES ($1, $2, $3)
           ON CONFLICT (actor) DO UPDATE SET display_name = $3, updated_at = now()
           WHERE provider_people.display_name IS DISTINCT FROM $3""",
        actor,
        service,
        display_name,
    )
