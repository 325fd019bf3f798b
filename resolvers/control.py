"""The gateway's control database: onward consents (R-25)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from authz.model import OnwardConsent

__all__ = ["ConsentRecord", "ConsentStore"]


@dataclass(frozen=True)
class ConsentRecord:
    consent: OnwardConsent
    granted_by: str
    granted_at: dt.datetime
    withdrawn_at: dt.datetime | None


def _record(row: asyncpg.Record) -> ConsentRecord:
    return ConsentRecord(
        OnwardConsent(row["id"], row["origin_item"], row["holder"], row["recipient"], row["until"]),
        row["granted_by"],
        row["granted_at"],
        row["withdrawn_at"],
    )


class ConsentStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def grant(self, origin_item: str, holder: str, recipient: str | None, until: dt.date | None, granted_by: str) -> ConsentRecord:
        row = await self.pool.fetchrow(
            "INSERT INTO onward_consents (origin_item, holder, recipient, until, granted_by)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING *",
            origin_item,
            holder,
            recipient,
            until,
            granted_by,
        )
        return _record(row)

    async def get(self, consent_id: int) -> ConsentRecord | None:
        row = await self.pool.fetchrow("SELECT * FROM onward_consents WHERE id = $1", consent_id)
        return _record(row) if row else None

    async def withdraw(self, consent_id: int, withdrawn_by: str) -> ConsentRecord | None:
        row = await self.pool.fetchrow(
            "UPDATE onward_consents SET withdrawn_at = now(), withdrawn_by = $2"
            " WHERE id = $1 AND withdrawn_at IS NULL RETURNING *",
            consent_id,
            withdrawn_by,
        )
        return _record(row) if row else None

    async def active(self) -> tuple[tuple[OnwardConsent, ...], int]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM onward_consents WHERE withdrawn_at IS NULL ORDER BY id")
            revision = await conn.fetchval("SELECT coalesce(max(revision), 0) FROM onward_consents")
        return tuple(_record(r).consent for r in rows), int(revision)

    async def listing(self) -> list[ConsentRecord]:
        rows = await self.pool.fetch("SELECT * FROM onward_consents ORDER BY id")
        return [_record(r) for r in rows]
