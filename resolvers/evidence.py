"""Data snapshots in the control database (R-23b): immutable once written."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

__all__ = ["SnapshotRecord", "SnapshotStore"]


@dataclass(frozen=True)
class SnapshotRecord:
    id: str
    agency: str
    client: str
    duty: str
    case_id: str | None
    request_id: str
    created_at: dt.datetime
    records: list[dict[str, Any]]
    signature: str


def _record(row: asyncpg.Record) -> SnapshotRecord:
    return SnapshotRecord(
        str(row["id"]), row["agency"], row["client"], row["duty"], row["case_id"], row["request_id"], row["created_at"], json.loads(row["records"]), row["signature"]
    )


class SnapshotStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def insert(self, record: SnapshotRecord) -> None:
        await self.pool.execute(
            "INSERT INTO snapshots (id, agency, client, duty, case_id, request_id, created_at, records, signature)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)",
            uuid.UUID(record.id),
            record.agency,
            record.client,
            record.duty,
            record.case_id,
            record.request_id,
            record.created_at,
            json.dumps(record.records, ensure_ascii=False, default=str),
            record.signature,
        )

    async def get(self, snapshot_id: str) -> SnapshotRecord | None:
        try:
            key = uuid.UUID(snapshot_id)
        except ValueError:
            return None
        row = await self.pool.fetchrow("SELECT * FROM snapshots WHERE id = $1", key)
        return _record(row) if row else None

    async def by_case(self, case_id: str, agency: str | None) -> list[SnapshotRecord]:
        rows = await self.pool.fetch(
            "SELECT * FROM snapshots WHERE case_id = $1 AND ($2::text IS NULL OR agency = $2) ORDER BY created_at, id", case_id, agency
        )
        return [_record(r) for r in rows]
