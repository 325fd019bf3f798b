"""Group commit: concurrently appended events share one transaction, and nobody returns early.

`append` resolves only after the transaction holding its event has committed (with
`synchronous_commit` at least `local`), or raises `LedgerUnavailable`: the caller then answers
AUDIT_UNAVAILABLE instead of serving data unrecorded. Gateway processes sharing a database
keep one chain: every batch takes a transaction-scoped advisory lock and reads the head
under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

import asyncpg
from prometheus_client import Counter, Histogram

from gateway.ledger.chain import EncodedEvent, LedgerRecord, encode_event
from gateway.ledger.checkpoints import Checkpoint, CheckpointSigner, write_checkpoint
from gateway.ledger.events import DisclosureEvent, SubjectHasher
from gateway.ledger.sinks import AuditSink, SinkFanout, SinkStats
from resolvers.stores import terminate

__all__ = ["LEDGER_LOCK", "LedgerUnavailable", "LedgerWriter", "WriterStats"]

LEDGER_LOCK = 724102
"""Advisory lock key that serialises appends to the chain (724101 is the migration lock)."""

_APPEND_SQL = "SELECT seq, prev_hash, hash FROM ledger_append($1::text[], $2::text[])"
_SUBJECTS_INDEX_SQL = "SELECT ledger_index_subjects($1)"
_SUBJECTS_INDEX_BATCH = 5000  # events per indexing transaction

log = logging.getLogger("govshare.ledger")

LEDGER_EVENTS = Counter("govshare_ledger_events", "Disclosure events appended, by result", ["result"])
LEDGER_BATCHES = Counter("govshare_ledger_batches", "Group commit transactions, by result", ["result"])
LEDGER_COMMIT_SECONDS = Histogram(
    "govshare_ledger_commit_seconds", "Time to commit one batch of disclosure events",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
_BATCHES_COMMITTED, _BATCHES_FAILED = LEDGER_BATCHES.labels("committed"), LEDGER_BATCHES.labels("failed")
_EVENTS_COMMITTED, _EVENTS_FAILED = LEDGER_EVENTS.labels("committed"), LEDGER_EVENTS.labels("failed")


class LedgerUnavailable(Exception):
    """The event could not be durably recorded; the operation must not be answered with data."""


@dataclass(frozen=True)
class WriterStats:
    events: int
    batches: int
    failed_events: int
    failed_batches: int
    largest_batch: int
    checkpoints: int
    index_upkeeps: int


class _Waiter(NamedTuple):  # one per event: cheaper to make than a frozen dataclass
    encoded: EncodedEvent
    future: asyncio.Future[LedgerRecord]
    arrived: float


class LedgerWriter:
    """Appends disclosure events to `disclosure_events` in group commits and feeds the sinks.

    Events are committed at once when no write is in flight; those that arrive during a
    write go together in the next one (group commit without waiting when idle); after each
    commit the requests already able to run go first (see `_settle`). A batch that
    PostgreSQL refuses for its data (SQLSTATE class 22) is written again one event at a time,
    so that one event it cannot take does not fail the others. A positive `max_delay` holds a
    batch open that long for more events; each write (connection, lock, insert, commit) is
    bounded by `write_timeout`, and beyond `max_pending` waiting events `append` refuses at once.

    The writer keeps one pooled connection while events keep coming and gives it back after
    `idle_release` seconds without any: asyncpg gives a connection back through a task of its
    own, so returning it after every commit kept the waiting requests for further turns of
    the event loop, each behind every request then ready to run.

    With `checkpoint_signer`, a signed checkpoint of the head is written every
    `checkpoint_every` events and every `checkpoint_interval` seconds when the head moved.

    The subjects index (who obtained whose data) is filled behind the head, outside the
    commits requests wait for: after every `index_upkeep_every` subjects appended, a
    background task indexes the events not yet indexed (migration 0014). Lookups by subject
    check the newer events directly, so they are complete whatever the lag; None leaves the
    indexing to another gateway sharing the database.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        hmac_key: bytes,
        max_delay: float = 0.0,
        max_batch: int = 500,
        sinks: Sequence[AuditSink] = (),
        sink_queue_size: int = 10_000,
        write_timeout: float = 5.0,
        max_pending: int = 50_000,
        checkpoint_signer: CheckpointSigner | None = None,
        checkpoint_every: int | None = 1000,
        checkpoint_interval: float | None = 60.0,
        index_upkeep_every: int | None = 10_000,
        idle_release: float = 1.0,
        settle_turns: int = 8,
        settle_limit: float = 0.025,
    ) -> None:
        self._subject_hash = SubjectHasher(hmac_key)  # refuses a short key now rather than at the first request
        if max_delay < 0 or max_batch < 1 or write_timeout <= 0 or max_pending < max_batch or idle_release < 0:
            raise ValueError("max_delay must be >= 0, max_batch >= 1, write_timeout > 0, max_pending >= max_batch, idle_release >= 0")
        if settle_turns < 0 or settle_limit < 0:
            raise ValueError("settle_turns and settle_limit must be >= 0")
        if index_upkeep_every is not None and index_upkeep_every < 1:
            raise ValueError("index_upkeep_every must be >= 1 (or None to leave the subjects index to another gateway)")
        self._pool = pool
        self._conn: Any = None  # the pooled connection commits go through while events keep coming
        self._idle_release = idle_release
        self._settle_turns = settle_turns
        self._settle_limit = settle_limit
        self._max_delay = max_delay
        self._max_batch = max_batch
        self._write_timeout = write_timeout
        self._max_pending = max_pending
        self._fanout = SinkFanout(sinks, queue_size=sink_queue_size, batch_size=max_batch)
        self._has_sinks = bool(sinks)
        self._signer = checkpoint_signer
        self._checkpoint_every = checkpoint_every
        self._checkpoint_interval = checkpoint_interval
        self._pending: list[_Waiter] = []
        self._in_flight: list[_Waiter] = []
        self._wakeup = asyncio.Event()
        self._checkpoint_due = asyncio.Event()
        self._since_checkpoint = 0
        self._index_upkeep_every = index_upkeep_every
        self._since_upkeep = 0
        self._upkeep_due = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the writer runs on, from start()
        self._task: asyncio.Task[None] | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._upkeep_task: asyncio.Task[None] | None = None
        self._running = False
        self._events = self._batches = self._failed_events = self._failed_batches = 0
        self._largest_batch = self._checkpoints = self._upkeeps = 0

    def subject_hash(self, identifier: str) -> str:
        """The keyed hash under which `identifier` appears in events' `subjects`."""
        return self._subject_hash(identifier)

    @property
    def subject_hasher(self) -> SubjectHasher:
        """`subject_hash` as one callable; its `many` hashes a request's hundred identifiers at once."""
        return self._subject_hash

    @property
    def stats(self) -> WriterStats:
        return WriterStats(
            self._events, self._batches, self._failed_events, self._failed_batches, self._largest_batch,
            self._checkpoints, self._upkeeps,
        )

    def sink_stats(self) -> list[SinkStats]:
        return self._fanout.stats()

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._loop = asyncio.get_running_loop()  # asking for it again costs a system call (getpid) on Python 3.11
        self._fanout.start()
        self._task = asyncio.create_task(self._run(), name="govshare-ledger-writer")
        self._task.add_done_callback(self._stopped)
        periodic = self._checkpoint_every is not None or self._checkpoint_interval is not None
        if self._signer is not None and periodic:
            self._checkpoint_task = asyncio.create_task(self._checkpoint_loop(), name="govshare-ledger-checkpoints")
        if self._index_upkeep_every is not None:
            self._upkeep_task = asyncio.create_task(self._upkeep_loop(), name="govshare-ledger-index-upkeep")

    async def close(self, sink_timeout: float = 5.0) -> None:
        """Refuses new events, commits those already appended, checkpoints the head, drains the sinks."""
        if not self._running:
            return
        self._running = False
        self._wakeup.set()
        if self._task is not None:
            await asyncio.wait([self._task])
            self._task = None
        if self._upkeep_task is not None:
            self._upkeep_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep_task
            self._upkeep_task = None
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
            self._checkpoint_task = None
            if self._since_checkpoint:
                with contextlib.suppress(LedgerUnavailable):
                    await self.checkpoint()
        await self._fanout.close(sink_timeout)

    async def append(self, event: DisclosureEvent) -> LedgerRecord:
        """Returns once `event` is durably committed; raises LedgerUnavailable when it cannot be."""
        if not self._running:
            raise LedgerUnavailable("the ledger writer is not running")
        if len(self._pending) >= self._max_pending:
            raise LedgerUnavailable("the ledger is backed up")
        loop = self._loop or asyncio.get_running_loop()  # set by start()
        waiter = _Waiter(encode_event(event), loop.create_future(), loop.time())
        self._pending.append(waiter)
        if len(self._pending) == 1 or len(self._pending) >= self._max_batch:
            self._wakeup.set()
        return await waiter.future

    async def checkpoint(self, signer: CheckpointSigner | None = None) -> Checkpoint | None:
        """Writes a signed checkpoint of the committed head (None: empty ledger or head already signed)."""
        signer = signer or self._signer
        if signer is None:
            raise ValueError("no checkpoint signer given")
        try:
            async with asyncio.timeout(self._write_timeout), self._pool.acquire() as conn:
                written = await write_checkpoint(conn, signer, datetime.now(timezone.utc))
        except Exception as exc:
            log.error("ledger checkpoint failed: %s: %s", type(exc).__name__, exc)
            raise LedgerUnavailable("the ledger checkpoint could not be written") from exc
        if written is not None:
            self._checkpoints += 1
        return written

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            if not batch:
                return
            self._in_flight = batch
            await self._write(batch)
            self._in_flight = []
            await self._settle()

    async def _settle(self) -> None:
        """After a commit, lets the requests already able to run go first, for up to
        `settle_turns` turns of the event loop and `settle_limit` seconds.

        Under load they run on to their own events, which then share the next commit: fewer,
        larger commits cost the gateway and PostgreSQL less, while those requests keep the
        process busy. When nothing else is ready, a turn takes microseconds.
        """
        started = time.perf_counter()
        for _ in range(self._settle_turns):
            if not self._running or len(self._pending) >= self._max_batch or time.perf_counter() - started >= self._settle_limit:
                return
            await asyncio.sleep(0)

    def _stopped(self, task: asyncio.Task[None]) -> None:
        # Only reached early when the task was cancelled from outside: nobody may wait forever.
        if not task.cancelled() and task.exception() is not None:
            log.error("the ledger writer stopped: %r", task.exception())
        self._running = False
        if self._conn is not None:  # closing it gives it back to the pool, whose close() would wait for it
            terminate(self._conn)
            self._conn = None
        for waiter in self._in_flight + self._pending:
            if not waiter.future.done():
                waiter.future.set_exception(LedgerUnavailable("the ledger writer stopped"))
        self._in_flight, self._pending = [], []

    async def _gather(self) -> list[_Waiter]:
        while not self._pending:
            if not self._running:
                await self._release()
                return []
            self._wakeup.clear()
            if self._conn is None:
                await self._wakeup.wait()
                continue
            try:
                async with asyncio.timeout(self._idle_release):
                    await self._wakeup.wait()
            except TimeoutError:
                await self._release()
        deadline = self._pending[0].arrived + self._max_delay
        loop = asyncio.get_running_loop()
        while self._running and len(self._pending) < self._max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        return batch

    async def _write(self, batch: list[_Waiter]) -> None:
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(self._write_timeout):
                records = await self._commit([w.encoded for w in batch])
        except asyncpg.DataError as exc:
            if len(batch) == 1:
                self._fail(batch, exc)
                return
            # something in one event, not the database: the batch was rolled back as a whole,
            # and each event is written on its own so that the others are not refused with it
            log.warning("ledger batch of %d events refused (%s); writing them one at a time", len(batch), type(exc).__name__)
            for waiter in batch:
                await self._write([waiter])
            return
        except Exception as exc:
            self._fail(batch, exc)
            return
        LEDGER_COMMIT_SECONDS.observe(asyncio.get_running_loop().time() - started)
        _BATCHES_COMMITTED.inc()
        _EVENTS_COMMITTED.inc(len(records))
        self._batches += 1
        self._events += len(records)
        self._largest_batch = max(self._largest_batch, len(records))
        for waiter, record in zip(batch, records, strict=True):
            if not waiter.future.done():
                waiter.future.set_result(record)
        if self._has_sinks:
            self._fanout.publish([r.to_json() for r in records])
        self._since_checkpoint += len(records)
        if self._checkpoint_every is not None and self._since_checkpoint >= self._checkpoint_every:
            self._checkpoint_due.set()
        if self._index_upkeep_every is not None:
            self._since_upkeep += sum(len(w.encoded.event.subjects) for w in batch)
            if self._since_upkeep >= self._index_upkeep_every:
                self._upkeep_due.set()

    def _fail(self, batch: list[_Waiter], exc: Exception) -> None:
        self._failed_batches += 1
        self._failed_events += len(batch)
        _BATCHES_FAILED.inc()
        _EVENTS_FAILED.inc(len(batch))
        log.error("ledger write of %d events failed: %s: %s", len(batch), type(exc).__name__, exc)
        for waiter in batch:
            if not waiter.future.done():
                error = LedgerUnavailable("the disclosure ledger could not record the event")
                error.__cause__ = exc
                waiter.future.set_exception(error)

    async def _commit(self, encoded: list[EncodedEvent]) -> list[LedgerRecord]:
        # one statement: the loop that runs the writer also serves requests, and every round
        # trip of the commit would wait behind them (migrations 0008_ledger_append.sql, 0012)
        if self._conn is not None and not _usable(self._conn):  # lost while idle (server restart, terminated backend)
            terminate(self._conn)  # gives it back to the pool, which opens a new one when it is next taken
            self._conn = None
        if self._conn is None:
            self._conn = await self._pool.acquire()
        conn = self._conn
        try:
            rows = await conn.fetch(_APPEND_SQL, [item.before_seq for item in encoded], [item.after_seq for item in encoded])
        except BaseException as exc:
            # a statement PostgreSQL refused leaves its session usable; anything else (lost
            # connection, the write timeout, cancellation) leaves it in doubt: it is closed,
            # which gives it back to the pool at once, and the next commit takes another
            if not isinstance(exc, asyncpg.PostgresError) or not _usable(conn):
                self._conn = None
                terminate(conn)
            raise
        return [LedgerRecord(row["seq"], row["prev_hash"], row["hash"], item.event) for row, item in zip(rows, encoded, strict=True)]

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                async with asyncio.timeout(self._write_timeout):  # a pool's reset may need the server
                    await self._pool.release(conn)
            except Exception as exc:  # whatever it was, the connection is closed and the writer goes on
                log.warning("ledger connection could not be given back: %s: %s", type(exc).__name__, exc)
                terminate(conn)

    async def _upkeep_loop(self) -> None:
        while True:
            await self._upkeep_due.wait()
            self._upkeep_due.clear()
            self._since_upkeep = 0
            try:
                async with self._pool.acquire() as conn:
                    while await conn.fetchval(_SUBJECTS_INDEX_SQL, _SUBJECTS_INDEX_BATCH) == _SUBJECTS_INDEX_BATCH:
                        pass
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # appends go on regardless, and lookups stay complete: they check the events not
                # yet indexed directly, more slowly the longer the index lags
                log.warning("ledger subjects index upkeep failed: %s: %s", type(exc).__name__, exc)
            else:
                self._upkeeps += 1

    async def _checkpoint_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._checkpoint_interval):
                    await self._checkpoint_due.wait()
            self._checkpoint_due.clear()
            if not self._since_checkpoint:
                continue
            self._since_checkpoint = 0
            try:
                await self.checkpoint()
            except LedgerUnavailable:
                self._since_checkpoint = max(self._since_checkpoint, 1)


def _usable(conn: Any) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # asyncpg gave it back to the pool when it was lost
        return False
