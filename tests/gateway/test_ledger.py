"""The ledger's chain: append, verify, append-only trigger, tamper detection, checkpoints, subjects."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import asyncpg
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.ledger import (
    GENESIS_HASH, CheckpointSigner, DisclosureEvent, LedgerRecord, LedgerWriter, checkpoint_payload, chain_hash,
    jws_signer, jws_verifier, subject_hash, verify_ledger,
)
from gateway.ledger.events import DeniedField, ItemDisclosure, SubjectHasher
from gateway.ledger.chain import _event_json, canonical_json, encode_event, record_from_row
from tests.gateway.test_ledger_helpers import (
    KEY, LedgerDatabase, behind_the_trigger, ledger_db, make_event, new_signing_key, writer_factory,
)

__all__ = ["ledger_db", "writer_factory"]

NO_CHECKPOINTS = jws_verifier(new_signing_key())


async def fill(writer: LedgerWriter, count: int) -> list[LedgerRecord]:
    return list(await asyncio.gather(*(writer.append(make_event(n)) for n in range(count))))


async def verify(db: LedgerDatabase, verifier: Callable[[str], bytes | None] = NO_CHECKPOINTS) -> Any:
    async with db.pool.acquire() as conn:
        return await verify_ledger(conn, verifier)


async def test_append_and_verify(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    writer = await writer_factory()
    first = await writer.append(make_event(0))
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    records = await fill(writer, 30)
    assert sorted(r.seq for r in records) == list(range(2, 32))
    report = await verify(ledger_db)
    assert report.ok, report.describe()
    assert (report.events_checked, report.head_seq) == (31, 31)
    assert report.head_hash == max(records, key=lambda r: r.seq).hash


async def test_stored_rows_hash_as_documented(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    writer = await writer_factory()
    records = await fill(writer, 5)
    rows = await ledger_db.pool.fetch("SELECT * FROM disclosure_events ORDER BY seq")
    prev = "0" * 64
    for row in rows:
        record = record_from_row(row)
        body = {**record.event.to_json(), "seq": record.seq}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert row["prev_hash"] == prev
        assert row["hash"] == hashlib.sha256((prev + text).encode()).hexdigest()
        assert chain_hash(prev, record.seq, record.event.to_json()) == row["hash"]
        prev = row["hash"]
    assert {r.seq: r.event for r in records} == {r["seq"]: record_from_row(r).event for r in rows}


@pytest.mark.parametrize(
    "statement",
    ["UPDATE disclosure_events SET agency = 'X'", "DELETE FROM disclosure_events WHERE seq = 1",
     "TRUNCATE disclosure_events", "UPDATE ledger_checkpoints SET kid = 'x'", "DELETE FROM ledger_checkpoints"],
)
async def test_changes_through_sql_are_refused(ledger_db: LedgerDatabase, writer_factory: Any, statement: str) -> None:
    await fill(await writer_factory(), 3)
    with pytest.raises(asyncpg.RaiseError, match=r"is append-only: (UPDATE|DELETE|TRUNCATE) refused"):
        await ledger_db.pool.execute(statement)
    assert await ledger_db.pool.fetchval("SELECT count(*) FROM disclosure_events") == 3
    assert (await verify(ledger_db)).ok


async def test_edited_field_names_the_event(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    await fill(await writer_factory(), 12)
    status = await behind_the_trigger(ledger_db.dsn, "UPDATE disclosure_events SET duty = 'tax' WHERE seq = 7")
    assert status == "UPDATE 1"
    report = await verify(ledger_db)
    assert (report.ok, report.broken_seq, report.reason) == (False, 7, "hash mismatch")
    assert report.events_checked == 6
    assert "event 7" in report.describe()


async def test_edited_items_are_caught(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    await fill(await writer_factory(), 4)
    await behind_the_trigger(
        ledger_db.dsn, "UPDATE disclosure_events SET items = jsonb_set(items, '{0,served}', '[\"name\"]') WHERE seq = 2"
    )
    report = await verify(ledger_db)
    assert (report.broken_seq, report.reason) == (2, "hash mismatch")


async def test_rehashed_row_breaks_the_link(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    records = sorted(await fill(await writer_factory(), 10), key=lambda r: r.seq)
    forged = chain_hash(records[4].prev_hash, 5, {**records[4].event.to_json(), "agency": "X"})
    await behind_the_trigger(
        ledger_db.dsn, "UPDATE disclosure_events SET agency = 'X', hash = $1 WHERE seq = 5", forged
    )
    report = await verify(ledger_db)
    assert (report.broken_seq, report.reason) == (6, "prev_hash does not link")


async def test_deleted_row_is_a_seq_gap(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    await fill(await writer_factory(), 10)
    assert await behind_the_trigger(ledger_db.dsn, "DELETE FROM disclosure_events WHERE seq = 5") == "DELETE 1"
    report = await verify(ledger_db)
    assert (report.ok, report.broken_seq, report.reason, report.events_checked) == (False, 5, "seq gap", 4)


async def test_checkpoint_signed_and_verified(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    key = new_signing_key()
    writer = await writer_factory()
    assert await writer.checkpoint(jws_signer(key)) is None  # nothing to sign yet
    await fill(writer, 8)
    checkpoint = await writer.checkpoint(jws_signer(key))
    assert checkpoint is not None and checkpoint.seq == 8 and checkpoint.kid == key.kid
    assert await writer.checkpoint(jws_signer(key)) is None  # head unchanged
    await fill(writer, 3)
    report = await verify(ledger_db, jws_verifier(key))
    assert (report.ok, report.events_checked, report.checkpoints_checked) == (True, 11, 1)
    assert jws_verifier(key)(checkpoint.signature) == checkpoint_payload(8, checkpoint.head, checkpoint.signed_at)


async def test_checkpoint_by_another_key_is_caught(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    trusted, forger = new_signing_key(), new_signing_key()
    writer = await writer_factory()
    await fill(writer, 5)
    await writer.checkpoint(jws_signer(trusted))
    await fill(writer, 5)
    forged = CheckpointSigner(sign=jws_signer(forger).sign, kid=str(trusted.kid))
    await writer.checkpoint(forged)
    report = await verify(ledger_db, jws_verifier(trusted))
    assert (report.ok, report.broken_seq, report.reason) == (False, 10, "checkpoint signature invalid")


async def test_checkpoint_row_must_match_its_signature(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    key = new_signing_key()
    writer = await writer_factory()
    await fill(writer, 6)
    good = await writer.checkpoint(jws_signer(key))
    assert good is not None
    # a valid signature copied onto a checkpoint row for another seq
    await ledger_db.pool.execute(
        "INSERT INTO ledger_checkpoints (seq, head, signed_at, signature, kid) VALUES (3, $1, $2, $3, $4)",
        good.head, good.signed_at, good.signature, good.kid,
    )
    report = await verify(ledger_db, jws_verifier(key))
    assert (report.broken_seq, report.reason) == (3, "checkpoint signature invalid")


async def test_signed_checkpoint_of_a_forged_head_is_caught(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    key = new_signing_key()
    await fill(await writer_factory(), 6)
    signed_at = datetime.now(timezone.utc)
    head = "f" * 64
    await ledger_db.pool.execute(
        "INSERT INTO ledger_checkpoints (seq, head, signed_at, signature, kid) VALUES (4, $1, $2, $3, $4)",
        head, signed_at, jws_signer(key).sign(checkpoint_payload(4, head, signed_at)), key.kid,
    )
    report = await verify(ledger_db, jws_verifier(key))
    assert (report.broken_seq, report.reason) == (4, "checkpoint head does not match event 4")


async def test_rewritten_tail_is_caught_by_the_checkpoint(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    key = new_signing_key()
    writer = await writer_factory()
    records = sorted(await fill(writer, 10), key=lambda r: r.seq)
    await writer.checkpoint(jws_signer(key))
    # Rewrite events 8..10 consistently: the chain alone looks intact afterwards.
    prev = records[6].hash
    for record in records[7:]:
        body = {**record.event.to_json(), "duty": "tax"}
        digest = chain_hash(prev, record.seq, body)
        await behind_the_trigger(
            ledger_db.dsn, "UPDATE disclosure_events SET duty = 'tax', prev_hash = $1, hash = $2 WHERE seq = $3",
            prev, digest, record.seq,
        )
        prev = digest
    report = await verify(ledger_db, jws_verifier(key))
    assert (report.ok, report.broken_seq, report.reason) == (False, 10, "checkpoint head does not match event 10")
    assert report.events_checked == 10


async def test_cut_off_tail_is_caught_by_the_checkpoint(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    key = new_signing_key()
    writer = await writer_factory()
    await fill(writer, 10)
    await writer.checkpoint(jws_signer(key))
    await behind_the_trigger(ledger_db.dsn, "DELETE FROM disclosure_events WHERE seq > 8")
    report = await verify(ledger_db, jws_verifier(key))
    assert (report.broken_seq, report.reason) == (10, "checkpoint head does not match event 10")


async def test_subject_hashes_hide_identifiers(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    identifier = "44010619900101001X"
    hashed = subject_hash(KEY, identifier)
    assert identifier not in hashed and identifier.lower() not in hashed and len(hashed) == 64
    assert hashed == subject_hash(KEY, identifier.lower()) == subject_hash(KEY, f" {identifier} ")
    assert hashed != subject_hash(b"another-ledger-key-0123456789abc", identifier)
    with pytest.raises(ValueError, match="keyed hashes"):
        make_event(1, subjects=(identifier,))
    other = subject_hash(KEY, "440106199001010028")
    for bad in ((hashed, identifier), (hashed + other,), (hashed[:63],), (hashed.upper(),), (f"{hashed}\n",), (hashed, ""), (hashed[:63], other + "a"),
                ("g" * 64,), (hashed[:63] + " ",), ("é" * 64,), (hashed[:63] + "٣",), (hashed[:63] + "\x00",)):
        with pytest.raises(ValueError, match="keyed hashes"):
            make_event(1, subjects=bad)
    assert make_event(1, subjects=(hashed, other)).subjects == (hashed, other)
    with pytest.raises(TypeError, match="strings only"):
        make_event(1, subjects=(hashed, hashed.encode()))
    with pytest.raises(TypeError, match="not a string"):
        make_event(1, subjects=hashed)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        subject_hash(b"short", identifier)
    writer = await writer_factory()
    assert writer.subject_hash(identifier) == writer.subject_hash(f" {identifier.lower()}") == hashed
    await writer.append(make_event(1, subjects=(hashed,)))
    dumped = await ledger_db.pool.fetchval("SELECT string_agg(d::text, ' ') FROM disclosure_events d")
    assert hashed in dumped and identifier not in dumped and identifier[:14] not in dumped


@settings(max_examples=200, deadline=None, derandomize=bool(__import__("os").environ.get("CI")))
@given(key=st.binary(min_size=16, max_size=200), identifier=st.text(max_size=40))
@example(key=b"k" * 16, identifier=" 44010619900101001x ")
@example(key=b"k" * 64, identifier="91110000600037341L")
@example(key=b"k" * 65, identifier="91110000600037341L")
def test_prepared_subject_hasher_is_hmac_sha256(key: bytes, identifier: str) -> None:
    # keys shorter than, as long as and longer than sha256's 64-byte block take different paths
    expected = hmac.new(key, identifier.strip().upper().encode("utf-8"), hashlib.sha256).hexdigest()
    assert SubjectHasher(key)(identifier) == subject_hash(key, identifier) == expected
    others = [f"{identifier}{n}" for n in range(3)]
    assert SubjectHasher(key).many([*others, identifier]) == tuple(sorted(subject_hash(key, i) for i in [identifier, *others]))


def test_event_model_is_strict_and_canonical() -> None:
    event = make_event(3)
    assert DisclosureEvent.from_json(event.to_json()) == event
    assert event.to_json()["time"] == "2026-03-02T09:30:03.000021Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        make_event(1, time=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="outcome"):
        make_event(1, outcome="served")
    with pytest.raises(ValueError, match="on_behalf_of"):
        make_event(1, on_behalf_of=("district-b",))
    with pytest.raises(ValueError, match="operation_hash"):
        make_event(1, operation_hash="query { x }")
    assert make_event(1, latency_ms=2.00049).latency_ms == 2.0


@settings(max_examples=300, deadline=None, derandomize=bool(__import__("os").environ.get("CI")))
@given(
    text=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=0, max_size=40),
    latency=st.one_of(st.floats(min_value=0, max_value=1e20, allow_nan=False, allow_infinity=False), st.integers(0, 10**6)),
    rows=st.integers(0, 2**62),
)
def test_event_encoding_is_the_canonical_json(text: str, latency: float, rows: int) -> None:
    # the fast encoder of appended events must write exactly what verification recomputes
    event = make_event(1, operation_name=text or None, case_id=text, duty=text, latency_ms=latency, row_count=rows)
    body = {**event.to_json(), "seq": 0}
    assert encode_event(event).row_json == canonical_json(body) == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert encode_event(event).canonical(7) == canonical_json({**body, "seq": 7})


async def test_text_that_postgresql_cannot_store_is_refused_before_the_batch(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    # one such event in a group commit would fail every other event of the batch with it
    for bad in ("bad\x00name", "bad\ud800name"):
        for field in ("operation_name", "case_id", "duty", "agency", "request_id"):
            with pytest.raises(ValueError, match=f"{field} must be text without NUL"):
                make_event(1, **{field: bad})
        with pytest.raises(ValueError, match="must be text without NUL"):
            DeniedField("Person.name", bad)
        with pytest.raises(ValueError, match="must be text without NUL"):
            ItemDisclosure(bad, "gz-gab", ("Person.name",))
        with pytest.raises(ValueError, match="providers must be text"):
            make_event(1, providers=(bad,))
        with pytest.raises(ValueError, match="served must be text without NUL"):
            ItemDisclosure("P01", "gz-gab", ("Person.name", bad))
        with pytest.raises(ValueError, match="on_behalf_of must be text without NUL"):
            make_event(1, on_behalf_of=(f"gz-mzj:{bad}",))
        with pytest.raises(ValueError, match="receipt_id must be text without NUL"):
            make_event(1, receipt_id=bad)
    with pytest.raises(TypeError, match="agency must be a string, not int"):
        make_event(1, agency=5)
    with pytest.raises(TypeError, match="providers must contain strings only"):
        make_event(1, providers=("gz-gab", 5))
    with pytest.raises(TypeError, match="served must contain strings only"):
        ItemDisclosure("P01", "gz-gab", (b"Person.name",))
    with pytest.raises(TypeError, match="duty must be a string, not bytes"):
        make_event(1, duty=b"zj.housing-security")
    with pytest.raises(TypeError, match="items must contain ItemDisclosure"):
        make_event(1, items=({"item": "P01"},))
    # text PostgreSQL takes as it is: stored, hashed and verified alike
    writer = await writer_factory()
    await writer.append(make_event(1, operation_name="查询人口", case_id="案-2026/01 é \u2028 \U0001F600"))
    assert (await verify(ledger_db)).ok


async def test_negative_zero_latency_is_stored_as_zero(ledger_db: LedgerDatabase, writer_factory: Any) -> None:
    # jsonb has no negative zero: hashing "-0.0" would make the stored row fail verification
    event = make_event(1, latency_ms=-0.0)
    assert str(event.latency_ms) == "0.0" and '"latency_ms":0.0' in encode_event(event).row_json
    writer = await writer_factory()
    await writer.append(event)
    report = await verify(ledger_db)
    assert report.ok, report.describe()


def test_floats_the_fast_encoder_writes_otherwise_go_to_canonical_json() -> None:
    for latency in (2.5e-05, 1e-4, 0.0009):
        assert _event_json({"latency_ms": latency}, latency) == canonical_json({"latency_ms": latency})
