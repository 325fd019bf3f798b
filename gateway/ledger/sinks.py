"""Where committed events go besides PostgreSQL: JSON lines and external audit middleware.

Sink protocol (for the `govshare.audit_sinks` entry point group)::

    class MySink:
        name = "my-sink"                      # optional; labels the counters
        async def emit(self, events: list[dict]) -> None: ...
        async def aclose(self) -> None: ...   # optional; called once at shutdown

An entry point names either such an object or a zero-argument callable (a class or a
factory) that returns one, e.g. in the middleware's pyproject.toml::

    [project.entry-points."govshare.audit_sinks"]
    siem = "acme_audit.govshare:SiemSink"

Each event is `LedgerRecord.to_json()`: the event's fields plus `seq`, `prev_hash` and
`hash`, so a consumer can check the chain itself. Events arrive after they are committed,
in chain order, in batches. Every sink has its own bounded queue and task: a slow sink
drops (counted) once its queue is full, a failing sink's errors are logged and counted,
and neither delays the commit path or any other sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol, TextIO, runtime_checkable

from prometheus_client import Counter

from gateway.ledger.chain import canonical_json

__all__ = [
    "ENTRY_POINT_GROUP", "AuditSink", "JsonLinesSink", "SinkFanout", "SinkStats", "entry_point_sinks", "sink_name",
]

ENTRY_POINT_GROUP = "govshare.audit_sinks"

log = logging.getLogger("govshare.ledger.sinks")

SINK_EVENTS = Counter(
    "govshare_audit_sink_events", "Ledger events handed to audit sinks, by sink and result", ["sink", "result"]
)


@runtime_checkable
class AuditSink(Protocol):
    async def emit(self, events: list[dict[str, Any]]) -> None: ...


def sink_name(sink: AuditSink) -> str:
    name = getattr(sink, "name", None)
    return name if isinstance(name, str) and name else type(sink).__name__


class JsonLinesSink:
    """One canonical JSON line per event, to a file (appended), a text stream, or stdout for "-".

    A file is created readable by its owner only (it holds case ids and subject hashes), and
    is opened again when it was moved or removed, as log rotation does. After a write that
    failed part-way (a full disk), the next write starts on a new line, so the cut line is the
    only one lost.
    """

    def __init__(self, target: str | os.PathLike[str] | TextIO, *, name: str | None = None) -> None:
        self._stream: TextIO | None = None
        self._path: str | None = None
        self._stdout = isinstance(target, str) and target == "-"
        self._cut = False
        if isinstance(target, (str, os.PathLike)):
            if not self._stdout:
                self._path = os.fspath(target)
                self._stream = self._open()
        else:
            self._stream = target
        self.name = name or ("jsonl:stdout" if self._stdout else "jsonl")

    def _open(self) -> TextIO:
        assert self._path is not None
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return open(fd, "a", encoding="utf-8")  # noqa: SIM115 - closed in aclose or on rotation

    def _rotated(self) -> bool:
        assert self._stream is not None and self._path is not None
        try:
            return not os.path.samestat(os.stat(self._path), os.fstat(self._stream.fileno()))
        except FileNotFoundError:
            return True

    def _write(self, text: str) -> None:
        # stdout is looked up on every write so that a redirected sys.stdout is honoured.
        if self._path is not None and self._stream is not None and self._rotated():
            self._stream.close()
            self._stream = self._open()
        stream = sys.stdout if self._stdout else self._stream
        if stream is None:
            raise RuntimeError("the JSON lines sink is closed")
        if self._cut:
            text = "\n" + text
        self._cut = True
        stream.write(text)
        stream.flush()
        self._cut = False

    async def emit(self, events: list[dict[str, Any]]) -> None:
        text = "".join(canonical_json(e) + "\n" for e in events)
        # File writes block; a slow disk must not stall the event loop that commits events.
        await asyncio.to_thread(self._write, text)

    async def aclose(self) -> None:
        if self._path is not None and self._stream is not None:
            stream, self._stream = self._stream, None
            await asyncio.to_thread(stream.close)


def entry_point_sinks(group: str = ENTRY_POINT_GROUP) -> list[AuditSink]:
    """Sinks registered by installed distributions; one that fails to load is logged and skipped."""
    sinks: list[AuditSink] = []
    for entry in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            loaded = entry.load()
            sink = loaded if isinstance(loaded, AuditSink) and not isinstance(loaded, type) else loaded()
            if not isinstance(sink, AuditSink):
                raise TypeError(f"{type(sink).__name__} has no emit(events) method")
        except Exception:
            log.exception("audit sink entry point %r could not be loaded", entry.name)
            continue
        sinks.append(sink)
    return sinks


@dataclass(frozen=True)
class SinkStats:
    name: str
    emitted: int
    failed: int
    dropped: int
    queued: int


class _Lane:
    def __init__(self, sink: AuditSink, queue_size: int, batch_size: int) -> None:
        self.sink = sink
        self.name = sink_name(sink)
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self.batch_size = batch_size
        self.emitted = 0
        self.failed = 0
        self.dropped = 0
        self.in_flight = 0
        self.task: asyncio.Task[None] | None = None

    def offer(self, events: Sequence[dict[str, Any]]) -> None:
        for index, event in enumerate(events):
            try:
                self.queue.put_nowait(event)
            except asyncio.QueueFull:
                self.drop(len(events) - index)
                return

    def drop(self, count: int) -> None:
        if count:
            self.dropped += count
            SINK_EVENTS.labels(self.name, "dropped").inc(count)

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.batch_size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            self.in_flight = len(batch)
            try:
                await self.sink.emit(batch)
                self.in_flight = 0
            except Exception:
                self.in_flight = 0
                self.failed += len(batch)
                SINK_EVENTS.labels(self.name, "failed").inc(len(batch))
                log.exception("audit sink %s failed on %d events", self.name, len(batch))
            else:
                self.emitted += len(batch)
                SINK_EVENTS.labels(self.name, "emitted").inc(len(batch))
            finally:
                for _ in batch:
                    self.queue.task_done()

    def stats(self) -> SinkStats:
        return SinkStats(self.name, self.emitted, self.failed, self.dropped, self.queue.qsize())


class SinkFanout:
    """Hands committed events to every sink without ever waiting for one."""

    def __init__(self, sinks: Sequence[AuditSink], *, queue_size: int = 10_000, batch_size: int = 500) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ValueError("queue_size and batch_size must be positive")
        self._lanes = [_Lane(s, queue_size, batch_size) for s in sinks]

    def start(self) -> None:
        for lane in self._lanes:
            if lane.task is None:
                lane.task = asyncio.create_task(lane.run(), name=f"govshare-audit-sink-{lane.name}")

    def publish(self, events: Sequence[dict[str, Any]]) -> None:
        for index, lane in enumerate(self._lanes):
            # each sink its own copies: one that edits an event in place cannot change what the others get
            lane.offer(events if index == 0 else copy.deepcopy(list(events)))

    def stats(self) -> list[SinkStats]:
        return [lane.stats() for lane in self._lanes]

    async def close(self, timeout: float = 5.0) -> None:
        """Gives the sinks up to `timeout` seconds to drain; what is still queued then counts as dropped."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(lane.queue.join() for lane in self._lanes if lane.task is not None))
        for lane in self._lanes:
            if lane.task is not None:
                lane.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.task
                lane.task = None
            lane.drop(lane.in_flight + lane.queue.qsize())
            lane.in_flight = 0
            while not lane.queue.empty():
                lane.queue.get_nowait()
            closer = getattr(lane.sink, "aclose", None)
            if closer is not None:
                try:
                    async with asyncio.timeout(timeout):
                        await closer()
                except Exception:
                    log.exception("audit sink %s failed to close", lane.name)
