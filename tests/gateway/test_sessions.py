"""The agency stores' session pool: bounded, reused, and never losing a session to a waiter that gave up."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from resolvers.sessions import SessionPool, SessionPoolClosed

SETTINGS = {"default_transaction_read_only": "on", "application_name": "govshare-test-sessions"}


def make_pool(dsn: str, max_size: int = 2) -> SessionPool:
    return SessionPool(dsn, max_size=max_size, connect_timeout=5.0, server_settings=SETTINGS)


async def backends(admin: asyncpg.Connection) -> int:
    return await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'govshare-test-sessions'")


async def test_a_session_given_back_serves_the_next_statement_and_the_pool_stays_within_its_size(demo_databases: Any) -> None:
    dsn = demo_databases.store_dsns["gz-gab"]
    pool = make_pool(dsn, max_size=3)
    admin = await asyncpg.connect(dsn)
    try:
        first = await pool.acquire()
        pid = first.get_server_pid()
        pool.release(first)
        again = pool.take()
        assert again is not None and again.get_server_pid() == pid  # reused, not reopened
        pool.release(again)

        peak = 0

        async def statement(n: int) -> int:
            nonlocal peak
            async with pool.session() as conn:
                peak = max(peak, pool.size)
                return await conn.fetchval("SELECT $1::int + 0 FROM pg_sleep(0.02)", n)

        assert await asyncio.gather(*(statement(n) for n in range(20))) == list(range(20))
        assert peak == 3 and pool.size == 3
        assert await backends(admin) == 3
        async with pool.session() as conn:  # still read-only: the settings hold for every session
            with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
                await conn.execute("CREATE TABLE intruder (id int)")
    finally:
        await pool.close(1.0)
        await admin.close()
    assert pool.size == 0


async def test_a_waiter_that_gives_up_as_it_is_handed_a_session_passes_it_on(demo_databases: Any) -> None:
    pool = make_pool(demo_databases.store_dsns["gz-gab"], max_size=1)
    try:
        held = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.01)  # waiting: the pool is at its size
        pool.release(held)  # handed to the waiter...
        waiter.cancel()  # ...which gives up before it runs again
        with pytest.raises(asyncio.CancelledError):
            await waiter
        again = pool.take()
        assert again is held and pool.size == 1  # back in the pool, not lost
        pool.release(again)
        # and a waiter whose timeout passes first leaves nothing behind
        held = await pool.acquire()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await pool.acquire()
        pool.release(held)
        assert pool.take() is held
        pool.release(held)
    finally:
        await pool.close(1.0)


async def test_a_closed_session_is_dropped_and_its_room_reopened(demo_databases: Any) -> None:
    dsn = demo_databases.store_dsns["gz-gab"]
    pool = make_pool(dsn, max_size=1)
    admin = await asyncpg.connect(dsn)
    try:
        conn = await pool.acquire()
        pid = conn.get_server_pid()
        pool.release(conn)
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        for _ in range(100):
            if conn.is_closed():
                break
            await asyncio.sleep(0.01)
        assert conn.is_closed()
        assert pool.take() is None  # the dead session is not handed out
        async with pool.session() as fresh:
            assert fresh.get_server_pid() != pid
            assert await fresh.fetchval("SELECT 1") == 1
        # a waiter is woken when a busy session closes, and opens the one it may now have
        busy = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.01)
        busy.terminate()
        pool.release(busy)
        replacement = await asyncio.wait_for(waiter, 5.0)
        assert await replacement.fetchval("SELECT 2") == 2 and pool.size == 1
        pool.release(replacement)
    finally:
        await pool.close(1.0)
        await admin.close()


async def test_closing_fails_waiters_lets_busy_sessions_finish_then_closes_them(demo_databases: Any) -> None:
    dsn = demo_databases.store_dsns["gz-gab"]
    pool = make_pool(dsn, max_size=1)
    admin = await asyncpg.connect(dsn)
    try:
        busy = await pool.acquire()
        running = asyncio.create_task(busy.fetchval("SELECT 5 FROM pg_sleep(0.2)"))
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.01)
        closing = asyncio.create_task(pool.close(5.0))
        with pytest.raises(SessionPoolClosed):
            await waiter
        assert await running == 5  # the statement in flight was not cut off
        pool.release(busy)
        await closing
        assert busy.is_closed() and pool.size == 0
        with pytest.raises(SessionPoolClosed):
            await pool.acquire()
        assert await backends(admin) == 0
    finally:
        await admin.close()


async def test_closing_ends_a_session_kept_beyond_the_grace_period(demo_databases: Any) -> None:
    pool = make_pool(demo_databases.store_dsns["gz-gab"], max_size=1)
    kept = await pool.acquire()
    await pool.close(0.1)
    assert kept.is_closed() and pool.size == 0
    pool.release(kept)  # given back late: nothing to do, nothing raised
    assert pool.size == 0


async def test_a_waiter_that_gives_up_as_it_is_offered_room_passes_the_room_on(demo_databases: Any) -> None:
    pool = make_pool(demo_databases.store_dsns["gz-gab"], max_size=1)
    try:
        dying = await pool.acquire()
        first = asyncio.create_task(pool.acquire())
        second = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0.01)  # both wait: the pool is at its size
        dying.terminate()
        pool.release(dying)  # room for a new session, offered to the first waiter...
        first.cancel()  # ...which gives up before it runs again
        with pytest.raises(asyncio.CancelledError):
            await first
        conn = await asyncio.wait_for(second, 5.0)  # the room went on to the next one
        assert await conn.fetchval("SELECT 3") == 3 and pool.size == 1
        pool.release(conn)
    finally:
        await pool.close(1.0)


async def test_closing_does_not_wait_for_a_session_that_failed_to_open() -> None:
    pool = SessionPool("postgresql://postgres@127.0.0.1:1/none", max_size=1, connect_timeout=5.0, server_settings=SETTINGS)
    opening = asyncio.create_task(pool.acquire())
    await asyncio.sleep(0)  # connecting, to a port where nothing listens
    started = asyncio.get_running_loop().time()
    await pool.close(5.0)
    with pytest.raises((OSError, SessionPoolClosed)):
        await opening
    assert asyncio.get_running_loop().time() - started < 2.0 and pool.size == 0
