"""Group commit under load, one chain across writers, fail closed, periodic checkpoints."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Any

import asyncpg
import pytest

from gateway.database import DatabaseServer
from gateway.ledger import LedgerUnavailable, LedgerWriter, disclosures, jws_signer, jws_verifier, subject_hash, verify_ledger
from gateway.ledger.queries import events
from gateway.migrate import migrate
from tests.gateway.test_ledger_helpers import (
    KEY, LedgerDatabase, ledger_db, make_event, new_signing_key, writer_factory,
)

__all__ = ["ledger_db", "writer_factory"]


async def verified(db: LedgerDatabase, key: Any = None) -> Any:
    report = await verification(db, key)
    assert report.ok, report.describe()
    return report


async def verification(db: LedgerDatabase, key: Any = None) -> Any:
    async with db.pool.acquire() as conn:
        return await verify_ledger(conn, jws_verifier(key or new_signing_key()))


async def transactions(db: LedgerDatabase) -> int:
    # Rows inserted by one transaction share its xmin: an independent count of the batches.
    return int(await db.pool.fetchval("SELECT count(DISTINCT xmin::text) FROM disclosure_events"))


async def test_group_commit_under_concurrent_load(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    writer = await writer_factory()
    count = 2000
    started = time.perf_counter()
    records = await asyncio.gather(*(writer.append(make_event(n)) for n in range(count)))
    elapsed = time.perf_counter() - started
    assert sorted(r.seq for r in records) == list(range(1, count + 1))
    assert [r.event.request_id for r in records] == [f"req-{n}" for n in range(count)]
    assert await ledger_db.pool.fetchval("SELECT count(*) FROM disclosure_events") == count
    report = await verified(ledger_db)
    assert report.events_checked == count
    batches = writer.stats.batches
    assert batches == await transactions(ledger_db)
    assert batches <= count // 50, f"{batches} transactions for {count} events"
    print(f"\ngroup commit: {count} concurrent appends in {elapsed * 1000:.0f} ms"
          f" = {count / elapsed:.0f} events/s, {batches} transactions, largest {writer.stats.largest_batch}")


async def test_steady_load_from_many_clients(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    writer = await writer_factory()
    clients, each = 200, 25

    async def client(c: int) -> list[int]:
        return [(await writer.append(make_event(c * each + i))).seq for i in range(each)]

    started = time.perf_counter()
    seqs = [s for batch in await asyncio.gather(*(client(c) for c in range(clients))) for s in batch]
    elapsed = time.perf_counter() - started
    assert sorted(seqs) == list(range(1, clients * each + 1))
    await verified(ledger_db)
    print(f"\nsteady load: {clients} clients x {each} sequential appends = {len(seqs) / elapsed:.0f} events/s,"
          f" {writer.stats.batches} transactions, mean batch {len(seqs) / writer.stats.batches:.0f}")


async def test_one_at_a_time_is_one_transaction_each(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    writer = await writer_factory(max_delay=0.0)
    started = time.perf_counter()
    for n in range(100):
        await writer.append(make_event(n))
    elapsed = time.perf_counter() - started
    assert writer.stats.batches == 100 == await transactions(ledger_db)
    print(f"\nsequential: 100 appends, one per transaction = {100 / elapsed:.0f} events/s")


async def test_writers_of_several_processes_keep_one_chain(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    pools = [await asyncpg.create_pool(ledger_db.dsn, min_size=1, max_size=4) for _ in range(3)]
    writers: list[LedgerWriter] = []
    try:
        writers += [await writer_factory(pool, max_batch=50) for pool in pools]
        await asyncio.gather(*(w.append(make_event(n)) for n in range(900) for w in [writers[n % 3]]))
        assert sum(w.stats.events for w in writers) == 900
        report = await verified(ledger_db)
        assert report.events_checked == 900
    finally:
        for writer in writers:
            await writer.close()
        for pool in pools:
            await pool.close()


async def test_gateways_of_the_previous_version_append_to_the_same_chain(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    # during a rolling upgrade, older gateways still call the three-argument ledger_append
    from gateway.ledger.chain import encode_event

    writer = await writer_factory()
    await writer.append(make_event(1))
    old = encode_event(make_event(2, subjects=(subject_hash(KEY, "440106199001010028"),)))
    async with ledger_db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM ledger_append($1::jsonb, $2::text[], $3::text[])", f"[{old.row_json}]", [old.before_seq], [old.after_seq])
        assert [r["seq"] for r in rows] == [2]
        with pytest.raises(asyncpg.RaiseError, match="2 befores but 1 afters"):
            await conn.fetch("SELECT * FROM ledger_append($1::text[], $2::text[])", [old.before_seq] * 2, [old.after_seq])
    await writer.append(make_event(3))
    report = await verified(ledger_db)
    assert report.events_checked == 3
    assert [d.seq for d in await disclosures(ledger_db.pool, old.event.subjects[0])] == [2]


async def test_one_event_postgresql_refuses_does_not_fail_the_others_of_its_batch(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    writer = await writer_factory()
    poisoned = []
    for text in ("bad\x00name", "bad\ud800name"):  # refused by jsonb, and by UTF-8 encoding
        event = make_event(9)
        object.__setattr__(event, "operation_name", text)  # as if the event's own checks had missed it
        poisoned.append(event)
    results = await asyncio.gather(
        *(writer.append(e) for e in [make_event(1), poisoned[0], make_event(2), poisoned[1], make_event(3)]), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == ["LedgerRecord", "LedgerUnavailable", "LedgerRecord", "LedgerUnavailable", "LedgerRecord"]
    assert [r.seq for r in results if not isinstance(r, Exception)] == [1, 2, 3]
    assert writer.stats.failed_events == 2 and writer.stats.events == 3
    report = await verified(ledger_db)
    assert report.events_checked == 3


async def test_close_flushes_what_was_appended(ledger_db: LedgerDatabase) -> None:
    writer = LedgerWriter(ledger_db.pool, hmac_key=KEY, max_delay=0.05)
    with pytest.raises(LedgerUnavailable, match="not running"):
        await writer.append(make_event(0))
    await writer.start()
    tasks = [asyncio.create_task(writer.append(make_event(n))) for n in range(300)]
    await asyncio.sleep(0)
    await writer.close()
    assert sorted([(await t).seq for t in tasks]) == list(range(1, 301))
    with pytest.raises(LedgerUnavailable):
        await writer.append(make_event(301))


async def test_a_stopped_writer_leaves_nobody_waiting(ledger_db: LedgerDatabase) -> None:
    writer = LedgerWriter(ledger_db.pool, hmac_key=KEY, max_delay=10.0, max_batch=100, max_pending=100)
    await writer.start()
    waiting = [asyncio.create_task(writer.append(make_event(n))) for n in range(99)]
    await asyncio.sleep(0.01)
    assert writer._task is not None
    writer._task.cancel()  # as an unexpected shutdown would
    results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 1.0)
    assert all(isinstance(r, LedgerUnavailable) for r in results)
    with pytest.raises(LedgerUnavailable):
        await writer.append(make_event(100))
    await writer.close()


async def test_backlog_beyond_max_pending_is_refused_at_once(ledger_db: LedgerDatabase) -> None:
    writer = LedgerWriter(ledger_db.pool, hmac_key=KEY, max_delay=10.0, max_batch=10, max_pending=10)
    await writer.start()
    waiting = [asyncio.create_task(writer.append(make_event(n))) for n in range(9)]
    await asyncio.sleep(0)
    refused = await asyncio.gather(*(writer.append(make_event(n)) for n in range(9, 12)), return_exceptions=True)
    assert [type(r).__name__ for r in refused] == ["LedgerRecord", "LedgerUnavailable", "LedgerUnavailable"]
    assert sorted([(await t).seq for t in waiting]) == list(range(1, 10))
    await writer.close()


async def test_dropped_database_fails_closed(pg_server: DatabaseServer, run_prefix: str) -> None:
    name = f"{run_prefix}ledger_gone_{secrets.token_hex(3)}"
    await pg_server.create_database(name)
    conn = await asyncpg.connect(pg_server.dsn(name))
    await migrate(conn)
    await conn.close()
    pool = await asyncpg.create_pool(pg_server.dsn(name), min_size=2, max_size=4)
    writer = LedgerWriter(pool, hmac_key=KEY, write_timeout=2.0)
    await writer.start()
    try:
        assert (await writer.append(make_event(0))).seq == 1
        await pg_server.drop_database(name)  # terminates the pool's connections
        for _ in range(3):
            started = time.perf_counter()
            with pytest.raises(LedgerUnavailable):
                await asyncio.gather(*(writer.append(make_event(n)) for n in range(10)))
            assert time.perf_counter() - started < 2.5
        assert writer.stats.failed_events >= 30
    finally:
        await writer.close()
        pool.terminate()
        await pg_server.drop_database(name)


async def test_closed_pool_fails_closed(ledger_db: LedgerDatabase) -> None:
    pool = await asyncpg.create_pool(ledger_db.dsn, min_size=1, max_size=2)
    writer = LedgerWriter(pool, hmac_key=KEY)
    await writer.start()
    await writer.append(make_event(0))
    await pool.close()
    with pytest.raises(LedgerUnavailable, match="could not record"):
        await writer.append(make_event(1))
    await writer.close()


async def test_unresponsive_server_fails_within_the_write_timeout() -> None:
    hung: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        hung.append(stream)  # accepts the connection, never answers

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = await asyncpg.create_pool(f"postgresql://nobody@127.0.0.1:{port}/none", min_size=0, max_size=1)
    writer = LedgerWriter(pool, hmac_key=KEY, write_timeout=0.3)
    await writer.start()
    try:
        started = time.perf_counter()
        with pytest.raises(LedgerUnavailable):
            await writer.append(make_event(0))
        assert 0.25 < time.perf_counter() - started < 1.5
    finally:
        await writer.close()
        pool.terminate()
        for stream in hung:
            stream.close()
            with contextlib.suppress(Exception):
                await stream.wait_closed()
        server.close()
        await server.wait_closed()


async def test_write_failure_is_not_a_broken_chain(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    writer = await writer_factory()
    await writer.append(make_event(0))
    await ledger_db.pool.execute("ALTER TABLE disclosure_events RENAME TO disclosure_events_away")
    with pytest.raises(LedgerUnavailable):
        await writer.append(make_event(1))
    await ledger_db.pool.execute("ALTER TABLE disclosure_events_away RENAME TO disclosure_events")
    assert (await writer.append(make_event(2))).seq == 2
    await verified(ledger_db)


async def test_periodic_checkpoints(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    key = new_signing_key()
    writer = await writer_factory(checkpoint_signer=jws_signer(key), checkpoint_every=10, checkpoint_interval=None)
    for n in range(25):
        await writer.append(make_event(n))
    for _ in range(100):
        if await ledger_db.pool.fetchval("SELECT count(*) FROM ledger_checkpoints") >= 2:
            break
        await asyncio.sleep(0.01)
    await writer.close()  # writes a last checkpoint of the head
    seqs = [r["seq"] for r in await ledger_db.pool.fetch("SELECT seq FROM ledger_checkpoints ORDER BY seq")]
    assert len(seqs) >= 3 and seqs[-1] == 25 and seqs[0] >= 10
    report = await verified(ledger_db, key)
    assert report.checkpoints_checked == len(seqs)


async def test_checkpoints_by_time(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    key = new_signing_key()
    writer = await writer_factory(checkpoint_signer=jws_signer(key), checkpoint_every=None, checkpoint_interval=0.05)
    await writer.append(make_event(0))
    await asyncio.sleep(0.3)
    assert writer.stats.checkpoints == 1  # and none while the head stands still
    await writer.append(make_event(1))
    await asyncio.sleep(0.3)
    assert writer.stats.checkpoints == 2
    assert (await verified(ledger_db, key)).checkpoints_checked == 2


async def test_the_subjects_index_is_filled_behind_the_head_and_lookups_never_miss(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    indexed = "SELECT array_agg(seq ORDER BY seq) FROM ledger_subject_index"

    def many_subjects(n: int) -> Any:
        return make_event(n, subjects=tuple(sorted(subject_hash(KEY, f"4401061990{n:04d}{s:04d}") for s in range(50))), outcome="ok")

    # without a writer indexing them, events wait outside the index, and are found all the same
    left_alone = await writer_factory(index_upkeep_every=None)
    for n in range(4):
        await left_alone.append(many_subjects(n))
    assert await ledger_db.pool.fetchval(indexed) is None and left_alone.stats.index_upkeeps == 0
    assert [d.seq for d in await disclosures(ledger_db.pool, subject_hash(KEY, "440106199000020007"))] == [3]

    writer = await writer_factory(index_upkeep_every=120)
    for n in range(4, 10):  # 300 subjects: two indexings are due
        await writer.append(many_subjects(n))
    for _ in range(200):
        if writer.stats.index_upkeeps >= 2:
            break
        await asyncio.sleep(0.01)
    assert writer.stats.index_upkeeps >= 2
    seqs = await ledger_db.pool.fetchval(indexed)
    assert seqs[:8] == list(range(1, 9))  # the ledger's first events, in order, none skipped
    await writer.append(many_subjects(10))  # 550 subjects: not indexed yet
    for n, seq in ((0, 1), (7, 8), (10, 11)):
        found = await disclosures(ledger_db.pool, subject_hash(KEY, f"4401061990{n:04d}0042"))
        assert [d.seq for d in found] == [seq]
        page = await events(ledger_db.pool, subject_hash=subject_hash(KEY, f"4401061990{n:04d}0042"))
        assert [r.seq for r in page.records] == [seq]
    assert await ledger_db.pool.fetchval("SELECT ledger_index_subjects(1000)") == 11 - len(seqs)
    assert await ledger_db.pool.fetchval("SELECT ledger_index_subjects(1000)") == 0
    assert await ledger_db.pool.fetchval(indexed) == list(range(1, 12))
    # derived from the chain, but tampering with it would hide disclosures: append-only too
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await ledger_db.pool.execute("DELETE FROM ledger_subject_index WHERE seq = 8")
    with pytest.raises(ValueError, match="index_upkeep_every"):
        LedgerWriter(ledger_db.pool, hmac_key=KEY, index_upkeep_every=0)


async def test_verify_catches_a_subjects_index_that_would_hide_events(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    from gateway.ledger.verify import SUBJECT_INDEX_MISMATCH

    writer = await writer_factory(index_upkeep_every=None)
    for n in range(4):
        await writer.append(make_event(n, outcome="ok"))
    await ledger_db.pool.fetchval("SELECT ledger_index_subjects(2)")
    assert (await verified(ledger_db)).ok  # the index may lag behind the head
    wrong = await ledger_db.pool.fetchval("SELECT ledger_subject_tags($1::text[])", [subject_hash(KEY, "440106199001010028")])
    # an entry that does not match its event: event 3 would be looked up under another subject
    await ledger_db.pool.execute("INSERT INTO ledger_subject_index (seq, tags) VALUES (3, $1)", wrong)
    report = await verification(ledger_db)
    assert (report.ok, report.broken_seq, report.reason) == (False, 3, SUBJECT_INDEX_MISMATCH)
    assert "ledger broken at event 3" in report.describe()


async def test_verify_catches_a_subjects_index_entry_ahead_of_the_head(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    from gateway.ledger.verify import SUBJECT_INDEX_MISMATCH

    writer = await writer_factory(index_upkeep_every=None)
    for n in range(3):
        await writer.append(make_event(n, outcome="ok"))
    await ledger_db.pool.fetchval("SELECT ledger_index_subjects(10)")
    assert (await verified(ledger_db)).ok
    # an entry ahead of the head would make lookups skip every later event as "indexed"
    await ledger_db.pool.execute("INSERT INTO ledger_subject_index (seq, tags) VALUES (999, '{}')")
    report = await verification(ledger_db)
    assert (report.ok, report.broken_seq, report.reason) == (False, 999, SUBJECT_INDEX_MISMATCH)


async def test_subject_lists_are_stored_uncompressed_and_read_back_whole(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    # keyed hashes do not compress: the column is not offered to the compressor (migration 0010)
    storage = await ledger_db.pool.fetchval(
        "SELECT attstorage::text FROM pg_attribute WHERE attrelid = 'disclosure_events'::regclass AND attname = 'subjects'"
    )
    assert storage == "e"
    writer = await writer_factory()
    sizes = (1, 100, 1000)  # in the row, in the row up to a page, and out of line beyond it
    events = [
        make_event(n, subjects=tuple(sorted(subject_hash(KEY, f"44010619900101{n}{s:05d}") for s in range(size))))
        for n, size in enumerate(sizes)
    ]
    for event in events:
        await writer.append(event)
    rows = await ledger_db.pool.fetch("SELECT subjects FROM disclosure_events ORDER BY seq")
    assert [tuple(r["subjects"]) for r in rows] == [e.subjects for e in events]
    assert (await verified(ledger_db)).events_checked == len(sizes)
    found = await disclosures(ledger_db.pool, events[2].subjects[-1])
    assert [d.seq for d in found] == [3]


async def test_lookups_by_subject_go_through_the_index_and_check_the_whole_hash(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    from gateway.ledger.queries import _BY_SUBJECT

    # two hashes that share the 64 bits the index holds (migration 0011)
    shared = "ab" * 8
    first, second = shared + "0" * 48, shared + "f" * 48
    writer = await writer_factory()
    await writer.append(make_event(0, subjects=(first,), outcome="ok"))
    await writer.append(make_event(1, subjects=(second,), outcome="ok"))
    await writer.append(make_event(2, subjects=tuple(sorted(subject_hash(KEY, f"44010619900101{s:04d}") for s in range(30))), outcome="ok"))
    assert [d.seq for d in await disclosures(ledger_db.pool, first)] == [1]
    assert [d.seq for d in await disclosures(ledger_db.pool, second)] == [2]
    assert [r.seq for r in (await events(ledger_db.pool, subject_hash=second)).records] == [2]
    assert [d.seq for d in await disclosures(ledger_db.pool, subject_hash(KEY, "440106199001010007"))] == [3]
    await ledger_db.pool.fetchval("SELECT ledger_index_subjects(1000)")
    assert [d.seq for d in await disclosures(ledger_db.pool, first)] == [1]  # from the index now, the same answer
    assert [d.seq for d in await disclosures(ledger_db.pool, second)] == [2]
    async with ledger_db.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN SELECT seq FROM disclosure_events WHERE " + _BY_SUBJECT.format("$1"), first))
    assert "ledger_subject_index_tags" in plan and "disclosure_events_pkey" in plan, plan


@pytest.mark.parametrize("left_at", [10, 12, 13])  # before the subject tags (0011), their PL/pgSQL form (0013), their own table (0014)
async def test_the_subject_tags_migrations_index_events_already_in_the_ledger(pg_server: DatabaseServer, run_prefix: str, left_at: int) -> None:
    from gateway.ledger.chain import encode_event
    from gateway.migrate import migrations

    name = f"{run_prefix}ledger_upgrade_{secrets.token_hex(3)}"
    await pg_server.create_database(name)
    conn = await asyncpg.connect(pg_server.dsn(name))
    try:
        # a ledger as an earlier version left it, and events in it
        await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for version, file, sql in migrations():
            if version <= left_at:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, file)
        events = [make_event(n, subjects=(subject_hash(KEY, f"44010619900101{n:04d}"),), outcome="ok") for n in range(3)]
        for event in events:
            encoded = encode_event(event)
            await conn.fetch("SELECT * FROM ledger_append($1::jsonb, $2::text[], $3::text[])", f"[{encoded.row_json}]", [encoded.before_seq], [encoded.after_seq])
        assert await migrate(conn) == [f for v, f, _ in migrations() if v > left_at]
        assert await conn.fetchval("SELECT array_agg(seq ORDER BY seq) FROM ledger_subject_index") == [1, 2, 3]
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")  # the answer must come from the index
            found = await disclosures(conn, events[1].subjects[0])
        assert [d.seq for d in found] == [2]
    finally:
        await conn.close()
        await pg_server.drop_database(name)


async def test_subject_tags_are_the_first_64_bits_of_each_hash(ledger_db: LedgerDatabase) -> None:
    # the definition of migration 0011, which built the index over events already stored
    reference = "SELECT coalesce(array_agg(('x' || substr(s, 1, 16))::bit(64)::bigint), '{}') FROM unnest($1::text[]) AS s"
    hashes = [subject_hash(KEY, f"44010619900101{n:04d}") for n in range(100)]
    for subjects in ([], hashes[:1], hashes, ["f" * 64, "8" + "0" * 63, "7" + "f" * 63]):
        tags = await ledger_db.pool.fetchval("SELECT ledger_subject_tags($1::text[])", subjects)
        assert tags == await ledger_db.pool.fetchval(reference, subjects)
        assert tags == [int.from_bytes(bytes.fromhex(h[:16]), "big", signed=True) for h in subjects]
    assert await ledger_db.pool.fetchval("SELECT ledger_subject_tags(NULL)") is None


async def test_gateways_starting_at_once_on_a_new_database_migrate_it_once(pg_server: DatabaseServer, run_prefix: str) -> None:
    # `govshare serve --workers N` on a new control database: every worker migrates at start-up
    from gateway.migrate import migrations

    name = f"{run_prefix}ledger_fresh_{secrets.token_hex(3)}"
    await pg_server.create_database(name)
    conns = [await asyncpg.connect(pg_server.dsn(name)) for _ in range(6)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(len(r) for r in results) == [0] * 5 + [len(migrations())]
        assert await conns[0].fetchval("SELECT count(*) FROM schema_migrations") == len(migrations())
    finally:
        for conn in conns:
            await conn.close()
        await pg_server.drop_database(name)


async def test_commits_go_through_one_connection_given_back_when_idle(ledger_db: LedgerDatabase) -> None:
    pool = await asyncpg.create_pool(ledger_db.dsn, min_size=1, max_size=3)
    writer = LedgerWriter(pool, hmac_key=KEY, idle_release=0.5)
    await writer.start()
    try:
        for n in range(5):
            await writer.append(make_event(n))
        await asyncio.gather(*(writer.append(make_event(n)) for n in range(5, 25)))
        sessions = await ledger_db.pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%ledger_append%' AND pid <> pg_backend_pid()"
        )
        assert sessions == 1
        assert pool.get_idle_size() < pool.get_size()  # still held: events may keep coming
        await asyncio.sleep(1.2)
        assert pool.get_idle_size() == pool.get_size()  # given back after idle_release
        await writer.append(make_event(25))  # taken again
        assert (await verified(ledger_db)).events_checked == 26
    finally:
        await writer.close()
        await asyncio.wait_for(pool.close(), 2.0)  # nothing held once the writer is closed


async def test_a_connection_lost_between_commits_is_replaced(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    writer = await writer_factory()
    await writer.append(make_event(0))
    backend = await ledger_db.pool.fetchval(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%ledger_append%' AND pid <> pg_backend_pid()"
    )
    assert await ledger_db.pool.fetchval("SELECT pg_terminate_backend($1)", backend)
    for _ in range(100):  # the backend ends, and the writer's side sees its connection close
        if not await ledger_db.pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", backend):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    assert (await writer.append(make_event(1))).seq == 2
    assert writer.stats.failed_events == 0
    assert (await verified(ledger_db)).events_checked == 2


@pytest.mark.parametrize(("settle_turns", "commits"), [(8, {2}), (0, {3, 4})])
async def test_after_a_commit_requests_ready_to_run_go_first(ledger_db: LedgerDatabase, writer_factory: Any, settle_turns: int, commits: set[int]) -> None:
    # three requests become ready as the first commit returns, and reach their events a
    # turn or two of the event loop later: the writer lets them, and commits them together
    writer = await writer_factory(settle_turns=settle_turns, settle_limit=60.0)  # turns, not time, decide here

    async def request(n: int, turns: int) -> Any:
        for _ in range(turns):
            await asyncio.sleep(0)
        return await writer.append(make_event(n))

    first = await writer.append(make_event(0))
    later = await asyncio.gather(*(request(n, turns) for n, turns in ((1, 0), (2, 1), (3, 2))))
    assert [r.seq for r in (first, *later)] == [1, 2, 3, 4]
    assert writer.stats.batches in commits


async def test_the_settling_turns_are_bounded(ledger_db: LedgerDatabase) -> None:
    with pytest.raises(ValueError, match="settle_turns"):
        LedgerWriter(ledger_db.pool, hmac_key=KEY, settle_turns=-1)
    with pytest.raises(ValueError, match="settle_limit"):
        LedgerWriter(ledger_db.pool, hmac_key=KEY, settle_limit=-0.1)


async def test_giving_the_connection_back_is_bounded_by_the_write_timeout(ledger_db: LedgerDatabase) -> None:
    async def stalled_reset(conn: Any) -> None:  # a pool whose reset needs a server that no longer answers
        await asyncio.sleep(30)

    pool = await asyncpg.create_pool(ledger_db.dsn, min_size=1, max_size=3, reset=stalled_reset)
    writer = LedgerWriter(pool, hmac_key=KEY, write_timeout=0.3, idle_release=0.05)
    await writer.start()
    try:
        await writer.append(make_event(0))
        await asyncio.sleep(0.1)  # idle: the writer gives its connection back, and that stalls
        started = time.perf_counter()
        assert (await asyncio.wait_for(writer.append(make_event(1)), 3.0)).seq == 2
        assert time.perf_counter() - started < 2.5  # the write timeout and a new connection, not the stalled 30 s
        assert writer.stats.failed_events == 0
    finally:
        await writer.close()
        pool.terminate()
