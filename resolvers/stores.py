"""Read-only connection pools to the agencies' own databases (R-16a, R-26)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

__all__ = ["AgencyStores", "ProviderUnavailable", "READ_ONLY_SETTINGS", "keep_session", "newest_update", "terminate"]

READ_ONLY_SETTINGS = {
    "default_transaction_read_only": "on",
    "application_name": "govshare-gateway",
}


class ProviderUnavailable(Exception):
    """A provider's store could not answer in time."""

    def __init__(self, agency: str, reason: str) -> None:
        self.agency = agency
        self.reason = reason
        super().__init__(f"{agency}: {reason}")


StatementObserver = Callable[[str, str, tuple[Any, ...]], None]


async def keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset that sends nothing: these sessions never change their own state.

    asyncpg's default reset (RESET ALL, UNLISTEN, ...) costs a round trip on every release.
    """


class AgencyStores:
    """One pool per agency store, opened lazily; every session is read-only."""

    def __init__(self, dsns: Mapping[str, str], *, timeout: float = 5.0, max_size: int = 10) -> None:
        self.dsns = dict(dsns)
        self.timeout = timeout
        self.max_size = max_size
        self._pools: dict[str, asyncpg.Pool] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._releasing: set[asyncio.Task[None]] = set()
        self._closed = False
        self.observers: list[StatementObserver] = []

    async def pool(self, agency: str) -> asyncpg.Pool:
        pool = self._pools.get(agency)
        if pool is not None:
            return pool
        if self._closed:
            raise ProviderUnavailable(agency, "the gateway is shutting down")
        dsn = self.dsns.get(agency)
        if dsn is None:
            raise ProviderUnavailable(agency, "no data store is configured for this agency")
        lock = self._locks.setdefault(agency, asyncio.Lock())
        async with lock:
            if agency not in self._pools:
                self._pools[agency] = await asyncpg.create_pool(
                    dsn,
                    min_size=1,
                    max_size=self.max_size,
                    # the store itself ends a statement the gateway stopped waiting for
                    server_settings={**READ_ONLY_SETTINGS, "statement_timeout": str(int(self.timeout * 1000) + 1000)},
                    command_timeout=self.timeout,
                    timeout=self.timeout,
                    reset=keep_session,
                )
            return self._pools[agency]

    async def fetch(self, agency: str, sql: str, args: tuple[Any, ...]) -> list[asyncpg.Record]:
        for observer in self.observers:
            observer(agency, sql, args)
        pool: asyncpg.Pool | None = self._pools.get(agency)
        conn: Any = None
        deadline: float | None = None
        try:
            if pool is not None and pool.get_idle_size():
                # A connected session is free, so taking it waits for no other statement, and
                # the statement's own timeout bounds the rest: an asyncio.timeout around every
                # statement cost ~10 µs, about 1.5% of a one-provider request's CPU.
                deadline = time.monotonic() + self.timeout
            async with contextlib.nullcontext() if deadline is not None else asyncio.timeout(self.timeout):
                pool = await self.pool(agency)
                try:
                    conn = await pool.acquire()
                except asyncpg.InterfaceError:
                    # the pool was retired while this statement waited for a new connection
                    # ("pool is closing"): take one from the pool that replaced it, once
                    if self._closed or not pool.is_closing() or self._pools.get(agency) is pool:
                        raise
                    pool = await self.pool(agency)
                    conn = await pool.acquire()
                if deadline is None:
                    return await conn.fetch(sql, *args)
                return await conn.fetch(sql, *args, timeout=max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            terminate(conn)  # a hung store would also keep the cancel request waiting
            raise ProviderUnavailable(agency, f"no answer within {self.timeout:g}s") from None
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError) as exc:
            terminate(conn)
            self._replace(agency, pool)
            raise ProviderUnavailable(agency, f"store unreachable ({type(exc).__name__})") from None
        except asyncpg.PostgresError as exc:
            raise ProviderUnavailable(agency, f"store refused the query ({exc.sqlstate})") from None
        finally:
            if conn is not None and pool is not None:
                self._release(pool, conn)

    async def ping(self, agency: str) -> bool:
        try:
            await self.fetch(agency, "SELECT 1", ())
        except ProviderUnavailable:
            return False
        return True

    async def columns(self, agency: str) -> dict[str, set[str]]:
        rows = await self.fetch(
            agency,
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'",
            (),
        )
        tables: dict[str, set[str]] = {}
        for row in rows:
            tables.setdefault(row["table_name"], set()).add(row["column_name"])
        return tables

    def _release(self, pool: asyncpg.Pool, conn: Any) -> None:
        """Gives `conn` back without making the statement's caller wait for it.

        asyncpg returns a connection through a task of its own: awaited, the rows already
        received would wait two more turns of the event loop, each behind every request then
        ready to run.
        """
        task = asyncio.get_running_loop().create_task(_give_back(pool, conn))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    def _replace(self, agency: str, broken: asyncpg.Pool | None) -> None:
        """A connection failed: later statements go to a new pool (the store may have restarted,
        leaving every pooled connection dead), while those running on the old one finish."""
        if broken is not None and self._pools.get(agency) is broken:
            del self._pools[agency]
            task = asyncio.get_running_loop().create_task(_retire(broken, self.timeout))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*self._releasing, return_exceptions=True)
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(p.close() for p in pools), *self._retiring, return_exceptions=True)


def terminate(conn: Any) -> None:
    """Closes `conn` at once (None, or one asyncpg already gave back, is left alone)."""
    if conn is not None:
        with contextlib.suppress(asyncpg.InterfaceError):
            conn.terminate()


async def _give_back(pool: asyncpg.Pool, conn: Any) -> None:
    # asyncpg closes a connection it cannot reset; one already given back when it was lost is left alone
    with contextlib.suppress(OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError):
        await pool.release(conn)


async def _retire(pool: asyncpg.Pool, grace: float) -> None:
    try:
        await asyncio.wait_for(pool.close(), grace)
    except (TimeoutError, OSError, asyncpg.InterfaceError):
        pool.terminate()


async def newest_update(stores: AgencyStores, agency: str, table: str, column: str) -> Any:
    """The newest value of a mapped 'last updated' column; identifiers come from the validated mapping."""
    from resolvers.sql import quote

    rows = await stores.fetch(agency, f"SELECT max({quote(column)}) AS newest FROM {quote(table)}", ())
    return rows[0]["newest"] if rows else None
