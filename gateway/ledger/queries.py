"""Reading the ledger: the operator's and providers' event listing, and a subject's disclosures."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from gateway.ledger.chain import SELECT_COLUMNS, LedgerRecord, record_from_row
from gateway.ledger.events import Outcome

__all__ = ["MAX_PAGE", "Disclosure", "EventPage", "disclosures", "events"]

MAX_PAGE = 1000
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SERVED_ANY = "EXISTS (SELECT 1 FROM jsonb_array_elements(items) AS i WHERE i->'served' <> '[]'::jsonb)"
_SERVED_BY = (
    "EXISTS (SELECT 1 FROM jsonb_array_elements(items) AS i"
    " WHERE i->>'provider' = {}::text AND i->'served' <> '[]'::jsonb)"
)

# events the subjects index holds (migration 0014) and the newer ones it does not hold yet,
# then the whole hash on each
_BY_SUBJECT = (
    "seq = ANY (ARRAY("
    "SELECT x.seq FROM ledger_subject_index x WHERE x.tags @> ledger_subject_tags(ARRAY[{0}::text])"
    " UNION ALL SELECT n.seq FROM disclosure_events n"
    " WHERE n.seq > (SELECT coalesce(max(i.seq), 0) FROM ledger_subject_index i) AND n.subjects @> ARRAY[{0}::text]"
    ")) AND subjects @> ARRAY[{0}::text]"
)

Queryable: TypeAlias = "asyncpg.Pool | asyncpg.Connection"


@dataclass(frozen=True)
class EventPage:
    """`next_cursor` is the `after_seq` of the next page; None on the last page."""

    records: tuple[LedgerRecord, ...]
    next_cursor: int | None


@dataclass(frozen=True)
class Disclosure:
    """Who obtained data about a subject: the event's agency and duty, when, and which items."""

    seq: int
    time: datetime
    agency: str
    client: str
    duty: str | None
    case_id: str | None
    on_behalf_of: tuple[str, ...]
    items: tuple[str, ...]
    source: str


class _Where:
    """Conditions from fixed templates; each value becomes a numbered parameter."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def add(self, template: str, value: Any) -> None:
        if value is None:
            return
        self.args.append(value)
        self.clauses.append(template.format(f"${len(self.args)}"))

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "true"


def _check_subject(subject_hash: str) -> None:
    if not _HEX64.fullmatch(subject_hash):
        raise ValueError("pass the subject's keyed hash (subject_hash), never the identifier")


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")


async def events(
    pool: Queryable,
    *,
    agency: str | None = None,
    duty: str | None = None,
    item: str | None = None,
    subject_hash: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    outcome: Outcome | None = None,
    provider: str | None = None,
    after_seq: int | None = None,
    limit: int = 50,
    newest_first: bool = False,
) -> EventPage:
    """Events matching every given filter, in seq order (`newest_first` reverses it).

    `since` is inclusive and `until` exclusive; `provider` matches events that queried the
    provider or named one of its items (a provider sees who read, or tried to read, its items).
    """
    _check_limit(limit)
    if subject_hash is not None:
        _check_subject(subject_hash)
    where = _Where()
    where.add("agency = {}", agency)
    where.add("duty = {}", duty)
    where.add("items @> jsonb_build_array(jsonb_build_object('item', {}::text))", item)
    where.add(_BY_SUBJECT, subject_hash)
    where.add("time >= {}", since)
    where.add("time < {}", until)
    where.add("outcome = {}", outcome)
    where.add(
        "(providers @> ARRAY[{0}::text] OR items @> jsonb_build_array(jsonb_build_object('provider', {0}::text)))",
        provider,
    )
    where.add("seq < {}" if newest_first else "seq > {}", after_seq)
    where.args.append(limit + 1)
    order = "DESC" if newest_first else "ASC"
    sql = (
        f"SELECT {SELECT_COLUMNS} FROM disclosure_events WHERE {where.sql()}"
        f" ORDER BY seq {order} LIMIT ${len(where.args)}"
    )
    rows = await pool.fetch(sql, *where.args)
    records = tuple(record_from_row(r) for r in rows[:limit])
    next_cursor = records[-1].seq if len(rows) > limit else None
    return EventPage(records, next_cursor)


async def disclosures(
    pool: Queryable,
    subject_hash: str,
    *,
    provider: str | None = None,
    after_seq: int | None = None,
    limit: int = MAX_PAGE,
) -> list[Disclosure]:
    """Events that served data about the subject, oldest first, with the items actually served.

    With `provider`, only that provider's items count (what a subject's provider may see).
    """
    _check_subject(subject_hash)
    _check_limit(limit)
    where = _Where()
    where.add(_BY_SUBJECT, subject_hash)
    where.clauses.append("outcome IN ('ok', 'partial')")
    if provider is None:
        where.clauses.append(_SERVED_ANY)
    else:
        where.add(_SERVED_BY, provider)
    where.add("seq > {}", after_seq)
    where.args.append(limit)
    sql = (
        f"SELECT {SELECT_COLUMNS} FROM disclosure_events WHERE {where.sql()}"
        f" ORDER BY seq LIMIT ${len(where.args)}"
    )
    found = []
    for row in await pool.fetch(sql, *where.args):
        record = record_from_row(row)
        event = record.event
        items = tuple(i.item for i in event.items if i.served and (provider is None or i.provider == provider))
        found.append(
            Disclosure(
                record.seq, event.time, event.agency, event.client, event.duty, event.case_id,
                event.on_behalf_of, items, event.source,
            )
        )
    return found
