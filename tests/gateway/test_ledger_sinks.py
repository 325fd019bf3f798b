"""Audit sinks: JSON lines, entry point discovery, and isolation of slow or failing sinks."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.ledger import ENTRY_POINT_GROUP, JsonLinesSink, chain_hash, entry_point_sinks
from tests.gateway.test_ledger_helpers import LedgerDatabase, ledger_db, make_event, writer_factory

__all__ = ["ledger_db", "writer_factory"]


class FailingSink:
    name = "failing"

    def __init__(self) -> None:
        self.calls = 0

    async def emit(self, events: list[dict[str, Any]]) -> None:
        self.calls += 1
        raise RuntimeError("the SIEM is down")


class SleepingSink:
    name = "sleeping"

    def __init__(self) -> None:
        self.received = 0

    async def emit(self, events: list[dict[str, Any]]) -> None:
        await asyncio.sleep(3600)
        self.received += len(events)


async def test_slow_and_failing_sinks_do_not_hold_back_the_others(
    ledger_db: LedgerDatabase, writer_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    lines = io.StringIO()
    failing, sleeping = FailingSink(), SleepingSink()
    writer = await writer_factory(sinks=[failing, sleeping, JsonLinesSink(lines)], sink_queue_size=1000)
    count = 2000
    started = time.perf_counter()
    records = await asyncio.gather(*(writer.append(make_event(n)) for n in range(count)))
    committing = time.perf_counter() - started
    for _ in range(500):
        if {s.name: s.emitted for s in writer.sink_stats()}["jsonl"] == count:
            break
        await asyncio.sleep(0.01)
    received = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [e["seq"] for e in received] == list(range(1, count + 1))
    assert received[0] == records[0].to_json()
    prev = "0" * 64
    for event in received:  # a consumer can check the chain from the stream alone
        assert event["prev_hash"] == prev and chain_hash(prev, event["seq"], event) == event["hash"]
        prev = event["hash"]
    stats = {s.name: s for s in writer.sink_stats()}
    assert stats["jsonl"].emitted == count and stats["jsonl"].dropped == stats["jsonl"].failed == 0
    assert stats["failing"].failed == count and failing.calls >= 2
    assert stats["sleeping"].dropped > 0 and sleeping.received == 0
    assert stats["sleeping"].dropped + stats["sleeping"].queued + 500 >= count
    assert "audit sink failing failed" in caplog.text and "SIEM is down" in caplog.text
    assert committing < 10
    await writer.close(sink_timeout=0.2)
    after = {s.name: s for s in writer.sink_stats()}
    assert after["sleeping"].queued == 0 and after["sleeping"].dropped + after["sleeping"].emitted == count


async def test_json_lines_to_a_file_and_to_stdout(
    ledger_db: LedgerDatabase, writer_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    writer = await writer_factory(sinks=[JsonLinesSink(path), JsonLinesSink("-")])
    await asyncio.gather(*(writer.append(make_event(n)) for n in range(5)))
    await writer.close()
    from_file = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    from_stdout = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["seq"] for e in from_file] == [1, 2, 3, 4, 5]
    assert from_stdout == from_file
    assert {s.name for s in writer.sink_stats()} == {"jsonl", "jsonl:stdout"}


def test_sinks_from_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "acme_audit.py").write_text(
        "class SiemSink:\n"
        "    name = 'siem'\n"
        "    async def emit(self, events):\n"
        "        pass\n"
        "def make():\n"
        "    return SiemSink()\n"
        "broken = 42\n",
        encoding="utf-8",
    )
    dist = tmp_path / "acme_audit-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-audit\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nby_class = acme_audit:SiemSink\nby_factory = acme_audit:make\n"
        "not_a_sink = acme_audit:broken\nmissing = acme_audit:Nothing\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_audit", raising=False)
    sinks = entry_point_sinks()
    assert [type(s).__name__ for s in sinks] == ["SiemSink", "SiemSink"]
    assert entry_point_sinks("govshare.no_such_group") == []


async def test_the_jsonl_file_is_private_and_follows_log_rotation(tmp_path: Path) -> None:
    import os
    import stat

    path = tmp_path / "audit.jsonl"
    sink = JsonLinesSink(path)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # case ids and subject hashes: its owner's only
        await sink.emit([{"seq": 1}])
        os.rename(path, tmp_path / "audit.jsonl.1")  # what logrotate does (without copytruncate)
        await sink.emit([{"seq": 2}])
        assert (tmp_path / "audit.jsonl.1").read_text(encoding="utf-8") == '{"seq":1}\n'
        assert path.read_text(encoding="utf-8") == '{"seq":2}\n'
        path.unlink()
        await sink.emit([{"seq": 3}])
        assert path.read_text(encoding="utf-8") == '{"seq":3}\n'
    finally:
        await sink.aclose()


async def test_a_write_cut_short_does_not_spoil_the_next_event() -> None:
    class FullDisk(io.StringIO):
        full = True

        def write(self, text: str) -> int:
            if self.full:
                super().write(text[:5])
                raise OSError(28, "No space left on device")
            return super().write(text)

    stream = FullDisk()
    sink = JsonLinesSink(stream)
    with pytest.raises(OSError):
        await sink.emit([{"seq": 1, "agency": "gz-mzj"}])
    stream.full = False
    await sink.emit([{"seq": 2}])
    lines = stream.getvalue().split("\n")
    assert lines[-2] == '{"seq":2}'  # whole, on a line of its own after the cut one


async def test_each_sink_gets_its_own_copy_of_the_events() -> None:
    from gateway.ledger.sinks import SinkFanout

    class Editing:
        name = "editing"

        async def emit(self, events: list[dict[str, Any]]) -> None:
            for event in events:
                event.pop("subjects", None)

    class Keeping:
        name = "keeping"

        def __init__(self) -> None:
            self.seen: list[dict[str, Any]] = []

        async def emit(self, events: list[dict[str, Any]]) -> None:
            self.seen.extend(events)

    keeping = Keeping()
    fanout = SinkFanout([Editing(), keeping])
    fanout.start()
    fanout.publish([{"seq": 1, "subjects": ["ab" * 32]}])
    await fanout.close()
    assert keeping.seen == [{"seq": 1, "subjects": ["ab" * 32]}]
