"""Fixtures and factories shared by the ledger tests (no tests here)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from joserfc.jwk import ECKey

from gateway.database import DatabaseServer
from gateway.ledger import DeniedField, DisclosureEvent, ItemDisclosure, LedgerWriter, operation_hash, subject_hash
from gateway.migrate import migrate

__all__ = [
    "KEY", "T0", "LedgerDatabase", "behind_the_trigger", "ledger_db", "make_event", "new_signing_key", "writer_factory",
]

KEY = b"ledger-test-key-" + b"0" * 16
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)


@dataclass(frozen=True)
class LedgerDatabase:
    name: str
    dsn: str
    pool: asyncpg.Pool
    server: DatabaseServer


@pytest.fixture
async def ledger_db(pg_server: DatabaseServer, run_prefix: str) -> AsyncIterator[LedgerDatabase]:
    """A fresh, migrated database per test: tamper tests leave their chain broken."""
    name = f"{run_prefix}ledger_{secrets.token_hex(3)}"
    await pg_server.create_database(name)
    dsn = pg_server.dsn(name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=8)
    try:
        yield LedgerDatabase(name, dsn, pool, pg_server)
    finally:
        await pool.close()
        await pg_server.drop_database(name)


@pytest.fixture
async def writer_factory(ledger_db: LedgerDatabase) -> AsyncIterator[Callable[..., Any]]:
    """Started writers on the test database (or another pool); all closed at the end."""
    started: list[LedgerWriter] = []

    async def make(pool: asyncpg.Pool | None = None, **options: Any) -> LedgerWriter:
        writer = LedgerWriter(pool or ledger_db.pool, hmac_key=KEY, **options)
        await writer.start()
        started.append(writer)
        return writer

    yield make
    for writer in started:
        await writer.close(sink_timeout=1.0)


def make_event(n: int = 0, **overrides: Any) -> DisclosureEvent:
    """A plausible operation: agency `A{n % 3}` reads a resident's household record."""
    values: dict[str, Any] = dict(
        time=T0 + timedelta(seconds=n, microseconds=n * 7),
        request_id=f"req-{n}",
        receipt_id=f"rcpt-{n}",
        agency=f"A{n % 3}",
        client=f"client-a{n % 3}",
        duty="civil-affairs.marriage-registration",
        case_id=f"case-{n}",
        on_behalf_of=("district-b:social-assistance",) if n % 5 == 0 else (),
        operation_name="HouseholdOf",
        operation_hash=operation_hash("query HouseholdOf { person { name } }"),
        items=(
            ItemDisclosure(
                item="public-security.household",
                provider="public-security",
                served=("name", "address"),
                denied=(DeniedField("religion", "OUT_OF_SCOPE"),),
            ),
        ),
        subjects=(subject_hash(KEY, f"44010619900101{n:04d}"),),
        providers=("public-security",),
        row_count=1,
        latency_ms=1.25 + n / 1000,
        outcome="partial",
        source="network" if n % 2 else "cache",
    )
    values.update(overrides)
    return DisclosureEvent(**values)


async def behind_the_trigger(dsn: str, sql: str, *args: Any) -> str:
    """Runs `sql` with the append-only trigger disabled, as a superuser would."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE disclosure_events DISABLE TRIGGER disclosure_events_append_only")
            status = await conn.execute(sql, *args)
            await conn.execute("ALTER TABLE disclosure_events ENABLE TRIGGER disclosure_events_append_only")
        return str(status)
    finally:
        await conn.close()


def new_signing_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, auto_kid=True)
