"""Sessions to one agency store, kept open and handed from statement to statement.

The gateway reads an agency store with one short statement per query level, so taking and
giving back a session happens once per statement. asyncpg's own pool gives a connection
back through a shielded task under a timer, and on Python 3.11 each of those asks for the
running loop with a system call: for a person read from four providers, ~7% of the gateway's
CPU at concurrency 1, and 8% more requests served at concurrency 16 without them. These
sessions need none of it: the gateway never changes a session's state (read-only, no
transactions left open, nothing to reset), so a session given back is a session ready for
the next statement, handed over synchronously.

The caller bounds every wait (the statement's own timeout, or an asyncio.timeout around
`acquire`); a waiter that gives up never loses the session it was handed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

__all__ = ["SessionPool", "SessionPoolClosed", "terminate"]


class SessionPoolClosed(Exception):
    """The pool was closed (the gateway is stopping, or the pool was replaced) while a session was wanted."""


class SessionPool:
    """At most `max_size` sessions to one database; idle ones are reused newest first."""

    def __init__(self, dsn: str, *, max_size: int, connect_timeout: float, server_settings: dict[str, str]) -> None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        self._dsn = dsn
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._server_settings = dict(server_settings)
        self._idle: list[Any] = []
        self._busy: set[Any] = set()
        self._opening = 0
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._closing = False
        self._closed = False
        self._drained = asyncio.Event()

    @property
    def size(self) -> int:
        """Sessions open or being opened."""
        return len(self._idle) + len(self._busy) + self._opening

    def is_closing(self) -> bool:
        return self._closing

    def take(self) -> Any | None:
        """An idle open session, at once, or None."""
        idle = self._idle
        while idle and not self._closing:
            conn = idle.pop()
            if not conn.is_closed():
                self._busy.add(conn)
                return conn
        return None

    async def acquire(self) -> Any:
        """A session: an idle one, a new one while below `max_size`, else the next one given back."""
        while True:
            if self._closing:
                raise SessionPoolClosed("the store's session pool is closed")
            conn = self.take()
            if conn is not None:
                return conn
            if self.size < self._max_size:
                return await self._open()
            waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                conn = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    # handed a session, or room for one, as the wait was given up: pass it on
                    handed = waiter.result()
                    if handed is not None:
                        self.release(handed)
                    elif not self._closing:
                        self._wake(None)
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
            if conn is not None:
                return conn
            # None: a session closed and left room for a new one; go round again

    async def _open(self) -> Any:
        self._opening += 1
        try:
            conn = await asyncpg.connect(
                self._dsn,
                timeout=self._connect_timeout,
                command_timeout=self._connect_timeout,
                server_settings=self._server_settings,
            )
        except BaseException:
            self._opening -= 1
            self._wake(None)  # the room this attempt held is free again
            self._settle()
            raise
        self._opening -= 1
        if self._closing:
            terminate(conn)
            self._settle()
            raise SessionPoolClosed("the store's session pool was closed while a session was opened")
        self._busy.add(conn)
        return conn

    def release(self, conn: Any) -> None:
        """Gives `conn` back: to the longest waiter, else to the idle sessions. A closed one is
        dropped and its room offered to a waiter; once the pool is closing, `close` ends it."""
        self._busy.discard(conn)
        if self._closed or conn.is_closed():
            terminate(conn)
            self._wake(None)
        elif self._closing or not self._wake(conn):
            self._idle.append(conn)
        self._settle()

    def _wake(self, conn: Any | None) -> bool:
        """Hands `conn` (or None: room for a new session) to the first waiter still waiting."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                if conn is not None:
                    self._busy.add(conn)
                waiter.set_result(conn)
                return True
        return False

    def _settle(self) -> None:
        if self._closing and not self._busy and not self._opening:
            self._drained.set()

    async def close(self, grace: float) -> None:
        """Refuses new statements, gives busy sessions `grace` seconds to finish, and closes them all."""
        self._closing = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(SessionPoolClosed("the store's session pool is closed"))
        self._settle()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), grace)
        self._closed = True
        idle, self._idle = self._idle, []
        self.terminate()  # what did not finish in time
        await asyncio.gather(*(_close(conn, grace) for conn in idle))

    def terminate(self) -> None:
        """Closes every session still in use at once, and every idle one."""
        self._closing = self._closed = True
        for conn in [*self._idle, *self._busy]:
            terminate(conn)
        self._idle = []
        self._busy.clear()
        self._drained.set()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Any]:
        conn = await self.acquire()
        try:
            yield conn
        finally:
            self.release(conn)


async def _close(conn: Any, grace: float) -> None:
    try:
        await asyncio.wait_for(conn.close(), grace)
    except (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError):
        terminate(conn)


def terminate(conn: Any) -> None:
    """Closes `conn` at once (None, or one already closed, is left alone)."""
    if conn is not None:
        with contextlib.suppress(asyncpg.InterfaceError):
            conn.terminate()
