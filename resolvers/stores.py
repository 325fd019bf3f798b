"""Read-only sessions to the agencies' own databases (R-16a, R-26)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from resolvers.sessions import SessionPool, SessionPoolClosed, terminate

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
    """asyncpg pool reset that sends nothing, for pools whose sessions never change their own state.

    asyncpg's default reset (RESET ALL, UNLISTEN, ...) costs a round trip on every release.
    """


class AgencyStores:
    """One pool of sessions per agency store, opened lazily; every session is read-only."""

    def __init__(self, dsns: Mapping[str, str], *, timeout: float = 5.0, max_size: int = 10) -> None:
        self.dsns = dict(dsns)
        self.timeout = timeout
        self.max_size = max_size
        self._pools: dict[str, SessionPool] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._closed = False
        self.observers: list[StatementObserver] = []

    def pool(self, agency: str) -> SessionPool:
        pool = self._pools.get(agency)
        if pool is not None:
            return pool
        if self._closed:
            raise ProviderUnavailable(agency, "the gateway is shutting down")
        dsn = self.dsns.get(agency)
        if dsn is None:
            raise ProviderUnavailable(agency, "no data store is configured for this agency")
        pool = self._pools[agency] = SessionPool(
            dsn,
            max_size=self.max_size,
            connect_timeout=self.timeout,
            # the store itself ends a statement the gateway stopped waiting for
            server_settings={**READ_ONLY_SETTINGS, "statement_timeout": str(int(self.timeout * 1000) + 1000)},
        )
        return pool

    async def fetch(self, agency: str, sql: str, args: tuple[Any, ...]) -> list[asyncpg.Record]:
        for observer in self.observers:
            observer(agency, sql, args)
        pool: SessionPool | None = self._pools.get(agency)
        conn = pool.take() if pool is not None else None
        try:
            if conn is not None:
                # a free session: the statement's own timeout bounds all that is left
                return await conn.fetch(sql, *args, timeout=self.timeout)
            async with asyncio.timeout(self.timeout):
                pool = self.pool(agency)
                try:
                    conn = await pool.acquire()
                except SessionPoolClosed:
                    # the pool was retired while this statement waited for a session (another
                    # statement lost its connection): take one from its successor, once
                    if self._closed or self._pools.get(agency) is pool:
                        raise ProviderUnavailable(agency, "the gateway is shutting down") from None
                    pool = self.pool(agency)
                    conn = await pool.acquire()
                return await conn.fetch(sql, *args)
        except TimeoutError:
            terminate(conn)  # a hung store would also keep the cancel request waiting
            raise ProviderUnavailable(agency, f"no answer within {self.timeout:g}s") from None
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError) as exc:
            if isinstance(exc, asyncpg.InterfaceError) and conn is not None and not conn.is_closed():
                # refused before it was sent (a wrong number of arguments): the session is fine
                raise ProviderUnavailable(agency, f"the statement could not be sent ({type(exc).__name__})") from None
            terminate(conn)
            self._replace(agency, pool)
            raise ProviderUnavailable(agency, f"store unreachable ({type(exc).__name__})") from None
        except SessionPoolClosed:
            raise ProviderUnavailable(agency, "the gateway is shutting down") from None
        except asyncpg.PostgresError as exc:
            raise ProviderUnavailable(agency, f"store refused the query ({exc.sqlstate})") from None
        finally:
            if conn is not None and pool is not None:
                pool.release(conn)

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

    def _replace(self, agency: str, broken: SessionPool | None) -> None:
        """A connection failed: later statements go to a new pool (the store may have restarted,
        leaving every pooled connection dead), while those running on the old one finish."""
        if broken is not None and self._pools.get(agency) is broken:
            del self._pools[agency]
            task = asyncio.get_running_loop().create_task(broken.close(self.timeout))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        self._closed = True
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(p.close(self.timeout) for p in pools), *self._retiring, return_exceptions=True)


async def newest_update(stores: AgencyStores, agency: str, table: str, column: str) -> Any:
    """The newest value of a mapped 'last updated' column; identifiers come from the validated mapping."""
    from resolvers.sql import quote

    rows = await stores.fetch(agency, f"SELECT max({quote(column)}) AS newest FROM {quote(table)}", ())
    return rows[0]["newest"] if rows else None
