"""Agency store pools: read-only sessions bounded on the store's side too, and one failed connection fails only its own statement."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from resolvers.stores import AgencyStores, ProviderUnavailable


async def test_the_store_itself_ends_a_statement_the_gateway_gave_up_on(demo_databases: Any) -> None:
    dsn = demo_databases.store_dsns["gz-gab"]
    stores = AgencyStores({"gz-gab": dsn}, timeout=0.5)
    watcher = await asyncpg.connect(dsn)
    try:
        pool = stores.pool("gz-gab")
        async with pool.session() as conn:
            assert await conn.fetchval("SHOW statement_timeout") == "1500ms"
        with pytest.raises(ProviderUnavailable, match="no answer within 0.5s"):
            await stores.fetch("gz-gab", "SELECT pg_sleep(30) /* govshare-test-hung */", ())
        running = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%govshare-test-hung%' AND pid <> pg_backend_pid()"
        for _ in range(40):  # within the statement timeout, not the statement's 30 s
            if await watcher.fetchval(running) == 0:
                break
            await asyncio.sleep(0.1)
        assert await watcher.fetchval(running) == 0
        assert (await stores.fetch("gz-gab", "SELECT 1 AS one", ()))[0]["one"] == 1  # the pool goes on
    finally:
        await watcher.close()
        await stores.close()


async def test_one_dropped_connection_fails_only_its_own_statement(demo_databases: Any) -> None:
    dsn = demo_databases.store_dsns["gz-gab"]
    stores = AgencyStores({"gz-gab": dsn}, timeout=5.0)
    admin = await asyncpg.connect(dsn)
    try:
        statements = [
            asyncio.create_task(stores.fetch("gz-gab", f"SELECT pg_sleep(0.8), {n} AS n /* govshare-test-drop-{n} */", ())) for n in range(3)
        ]
        victim = None
        for _ in range(50):
            victim = await admin.fetchval("SELECT pid FROM pg_stat_activity WHERE query LIKE '%govshare-test-drop-0%' AND pid <> pg_backend_pid()")
            if victim:
                break
            await asyncio.sleep(0.02)
        assert victim, "the first statement did not start"
        await admin.execute("SELECT pg_terminate_backend($1)", victim)
        results = await asyncio.gather(*statements, return_exceptions=True)
        assert isinstance(results[0], ProviderUnavailable)
        assert [r[0]["n"] for r in results[1:]] == [1, 2]  # the others were not taken down with it
        assert (await stores.fetch("gz-gab", "SELECT 1 AS one", ()))[0]["one"] == 1
    finally:
        await admin.close()
        await stores.close()


async def test_a_statement_waiting_for_a_connection_of_a_retired_pool_takes_one_from_its_successor(demo_databases: Any) -> None:
    dsn = demo_databases.store_dsns["gz-gab"]
    stores = AgencyStores({"gz-gab": dsn}, timeout=5.0)
    try:
        old = stores.pool("gz-gab")
        held = await old.acquire()  # the pool's one session: the next statement opens another
        waiting = asyncio.create_task(stores.fetch("gz-gab", "SELECT 7 AS n", ()))
        await asyncio.sleep(0)  # it is connecting now
        stores._replace("gz-gab", old)  # another statement's connection was lost meanwhile
        await asyncio.sleep(0.05)
        old.release(held)
        assert (await waiting)[0]["n"] == 7
        assert old.is_closing() and stores.pool("gz-gab") is not old
    finally:
        await stores.close()


async def test_a_statement_waiting_for_a_connection_at_shutdown_fails_and_opens_nothing(demo_databases: Any) -> None:
    dsn = demo_databases.store_dsns["gz-gab"]
    stores = AgencyStores({"gz-gab": dsn}, timeout=5.0)
    pool = stores.pool("gz-gab")
    held = await pool.acquire()
    waiting = asyncio.create_task(stores.fetch("gz-gab", "SELECT 1 AS one", ()))
    await asyncio.sleep(0)  # it is connecting now
    closing = asyncio.create_task(stores.close())
    await asyncio.sleep(0.05)
    pool.release(held)
    await closing
    with pytest.raises(ProviderUnavailable):
        await waiting
    with pytest.raises(ProviderUnavailable, match="shutting down"):
        await stores.fetch("gz-gab", "SELECT 1 AS one", ())
    await asyncio.sleep(0.1)
    assert stores._pools == {}  # no pool was opened again behind close(), to be left open


async def test_a_statement_waiting_for_a_busy_pool_gives_up_within_the_timeout(demo_databases: Any) -> None:
    # with every session taken, the wait for one is bounded as well as the statement itself
    stores = AgencyStores({"gz-gab": demo_databases.store_dsns["gz-gab"]}, timeout=0.5, max_size=1)
    try:
        pool = stores.pool("gz-gab")
        held = await pool.acquire()
        started = asyncio.get_running_loop().time()
        with pytest.raises(ProviderUnavailable, match="no answer within 0.5s"):
            await stores.fetch("gz-gab", "SELECT 1 AS one", ())
        assert 0.4 < asyncio.get_running_loop().time() - started < 2.0
        pool.release(held)
        assert (await stores.fetch("gz-gab", "SELECT 1 AS one", ()))[0]["one"] == 1  # a free session: served at once
    finally:
        await stores.close()


async def test_a_statement_refused_before_it_is_sent_keeps_its_session_and_the_pool(demo_databases: Any) -> None:
    stores = AgencyStores({"gz-gab": demo_databases.store_dsns["gz-gab"]}, timeout=5.0, max_size=1)
    try:
        pool = stores.pool("gz-gab")
        first = await stores.fetch("gz-gab", "SELECT pg_backend_pid() AS pid", ())
        with pytest.raises(ProviderUnavailable, match="could not be sent"):
            await stores.fetch("gz-gab", "SELECT $1::int AS n", (1, 2))  # one argument too many
        with pytest.raises(ProviderUnavailable, match="refused the query"):
            await stores.fetch("gz-gab", "SELECT $1::int AS n", ("x",))  # not a number
        again = await stores.fetch("gz-gab", "SELECT pg_backend_pid() AS pid", ())
        assert stores.pool("gz-gab") is pool and again[0]["pid"] == first[0]["pid"]
    finally:
        await stores.close()
