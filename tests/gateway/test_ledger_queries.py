"""Reading the ledger: filtered, paginated events and a subject's disclosures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gateway.ledger import DeniedField, DisclosureEvent, ItemDisclosure, LedgerWriter, disclosures, events, subject_hash
from tests.gateway.test_ledger_helpers import KEY, T0, LedgerDatabase, ledger_db, make_event, writer_factory

__all__ = ["ledger_db", "writer_factory"]

RESIDENT = "440106199001010019"
COMPANY = "91440101MA59XXXX1X"
TAX = ItemDisclosure("tax.filings", "tax", served=("income",))
HOUSEHOLD = ItemDisclosure("public-security.household", "public-security", served=("name",))
DENIED = ItemDisclosure("health.records", "health", denied=(DeniedField("diagnosis", "NO_DUTY"),))


def scenario() -> list[DisclosureEvent]:
    person, company = subject_hash(KEY, RESIDENT), subject_hash(KEY, COMPANY)
    return [
        make_event(1, agency="civil", duty="marriage", items=(HOUSEHOLD,), subjects=(person,), outcome="ok"),
        make_event(2, agency="tax", duty="audit", items=(TAX, HOUSEHOLD), subjects=(person, company), outcome="ok"),
        make_event(3, agency="civil", duty="marriage", items=(DENIED,), subjects=(person,), outcome="refused",
                   providers=()),
        make_event(4, agency="market", duty="licensing", items=(TAX,), subjects=(company,), outcome="partial",
                   providers=("tax",)),
        make_event(5, agency="civil", duty="pension", items=(HOUSEHOLD,), subjects=(person,), outcome="error"),
    ]


async def seeded(writer_factory: Any) -> LedgerWriter:
    writer: LedgerWriter = await writer_factory()
    for event in scenario():
        await writer.append(event)
    return writer


async def seqs(db: LedgerDatabase, **filters: Any) -> list[int]:
    return [r.seq for r in (await events(db.pool, **filters)).records]


async def test_event_filters(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    await seeded(writer_factory)
    person = subject_hash(KEY, RESIDENT)
    assert await seqs(ledger_db) == [1, 2, 3, 4, 5]
    assert await seqs(ledger_db, agency="civil") == [1, 3, 5]
    assert await seqs(ledger_db, agency="civil", duty="marriage") == [1, 3]
    assert await seqs(ledger_db, item="tax.filings") == [2, 4]
    assert await seqs(ledger_db, subject_hash=person) == [1, 2, 3, 5]
    assert await seqs(ledger_db, outcome="refused") == [3]
    assert await seqs(ledger_db, provider="health") == [3]
    assert await seqs(ledger_db, provider="tax") == [2, 4]
    assert await seqs(ledger_db, since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=4)) == [2, 3]
    assert await seqs(ledger_db, agency="nobody") == []
    assert await seqs(ledger_db, agency="civil'; DROP TABLE disclosure_events; --") == []
    page = await events(ledger_db.pool, agency="tax")
    assert page.records[0].event == scenario()[1] and page.next_cursor is None


async def test_pages_cover_every_event_once(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    writer = await writer_factory()
    for n in range(23):
        await writer.append(make_event(n))
    for newest_first in (False, True):
        seen: list[int] = []
        cursor = None
        while True:
            page = await events(ledger_db.pool, after_seq=cursor, limit=5, newest_first=newest_first)
            seen += [r.seq for r in page.records]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == (sorted(range(1, 24), reverse=newest_first))
    with pytest.raises(ValueError):
        await events(ledger_db.pool, limit=0)


async def test_disclosures_of_a_subject(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    await seeded(writer_factory)
    person = subject_hash(KEY, RESIDENT)
    found = await disclosures(ledger_db.pool, person)
    # refused and failed operations disclosed nothing
    assert [(d.seq, d.agency, d.duty, d.items) for d in found] == [
        (1, "civil", "marriage", ("public-security.household",)),
        (2, "tax", "audit", ("tax.filings", "public-security.household")),
    ]
    assert found[0].time == T0 + timedelta(seconds=1, microseconds=7)
    by_tax = await disclosures(ledger_db.pool, person, provider="tax")
    assert [(d.seq, d.items) for d in by_tax] == [(2, ("tax.filings",))]
    company = await disclosures(ledger_db.pool, subject_hash(KEY, COMPANY))
    assert [(d.agency, d.duty) for d in company] == [("tax", "audit"), ("market", "licensing")]
    assert await disclosures(ledger_db.pool, subject_hash(KEY, "110101199003074578")) == []
    with pytest.raises(ValueError, match="never the identifier"):
        await disclosures(ledger_db.pool, RESIDENT)
