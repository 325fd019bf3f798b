"""Checks the whole chain and every checkpoint, streaming, and names the first broken event."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from gateway.ledger.chain import GENESIS_HASH, SELECT_COLUMNS, chain_hash, row_json
from gateway.ledger.checkpoints import SignatureVerifier, checkpoint_payload, read_checkpoint_claims

__all__ = [
    "CHECKPOINT_HEAD_MISMATCH", "CHECKPOINT_SIGNATURE_INVALID", "HASH_MISMATCH", "PREV_HASH_UNLINKED", "SEQ_GAP",
    "SUBJECT_INDEX_MISMATCH", "VerifyReport", "verify_ledger",
]

HASH_MISMATCH = "hash mismatch"
PREV_HASH_UNLINKED = "prev_hash does not link"
SEQ_GAP = "seq gap"
CHECKPOINT_SIGNATURE_INVALID = "checkpoint signature invalid"
CHECKPOINT_HEAD_MISMATCH = "checkpoint head does not match event {seq}"
SUBJECT_INDEX_MISMATCH = "the subjects index does not match the event (lookups by subject could miss it)"

# The index must hold the ledger's first events, each with its own subjects' tags: an entry
# ahead of the head, or one that does not match, would hide events from lookups by subject.
_SUBJECT_INDEX_CHECK = """
SELECT min(seq) FROM (
    (SELECT x.seq FROM ledger_subject_index x LEFT JOIN disclosure_events e ON e.seq = x.seq
     WHERE e.seq IS NULL OR x.tags IS DISTINCT FROM ledger_subject_tags(e.subjects) ORDER BY x.seq LIMIT 1)
    UNION ALL
    (SELECT e.seq FROM disclosure_events e
     WHERE e.seq <= (SELECT coalesce(max(seq), 0) FROM ledger_subject_index)
       AND NOT EXISTS (SELECT 1 FROM ledger_subject_index x WHERE x.seq = e.seq)
     ORDER BY e.seq LIMIT 1)
) AS broken
"""


@dataclass(frozen=True)
class VerifyReport:
    """`broken_seq` is the first event (or checkpoint seq) found broken; `reason` says how."""

    ok: bool
    events_checked: int
    checkpoints_checked: int
    head_seq: int
    head_hash: str
    broken_seq: int | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.ok:
            return (
                f"ledger intact: {self.events_checked} events, {self.checkpoints_checked} checkpoints,"
                f" head {self.head_seq} {self.head_hash}"
            )
        return f"ledger broken at event {self.broken_seq}: {self.reason}"


@dataclass(frozen=True)
class _Break:
    seq: int
    reason: str


async def _check_chain(conn: asyncpg.Connection, prefetch: int) -> tuple[int, int, str, _Break | None]:
    checked, expected, prev = 0, 1, GENESIS_HASH
    async for row in conn.cursor(f"SELECT {SELECT_COLUMNS} FROM disclosure_events ORDER BY seq", prefetch=prefetch):
        seq = row["seq"]
        if seq != expected:
            return checked, expected - 1, prev, _Break(expected, SEQ_GAP)
        if row["prev_hash"] != prev:
            return checked, expected - 1, prev, _Break(seq, PREV_HASH_UNLINKED)
        try:
            recomputed = chain_hash(prev, seq, row_json(row))
        except (TypeError, ValueError):
            recomputed = None
        if recomputed != row["hash"]:
            return checked, expected - 1, prev, _Break(seq, HASH_MISMATCH)
        checked += 1
        expected += 1
        prev = row["hash"]
    return checked, expected - 1, prev, None


async def _check_checkpoints(
    conn: asyncpg.Connection, verify_signature: SignatureVerifier, before: int | None, prefetch: int
) -> tuple[int, _Break | None]:
    checked = 0
    sql = "SELECT seq, head, signed_at, signature FROM ledger_checkpoints ORDER BY seq"
    async for row in conn.cursor(sql, prefetch=prefetch):
        seq = row["seq"]
        if before is not None and seq >= before:
            break
        checked += 1
        try:
            payload = verify_signature(row["signature"])
        except Exception:
            payload = None
        claims = read_checkpoint_claims(payload) if payload is not None else None
        # The signature must vouch for exactly this row's seq, head and time.
        if claims is None or payload != checkpoint_payload(seq, row["head"], row["signed_at"]):
            return checked, _Break(seq, CHECKPOINT_SIGNATURE_INVALID)
        stored = await conn.fetchval("SELECT hash FROM disclosure_events WHERE seq = $1", seq)
        if stored != claims["head"]:
            return checked, _Break(seq, CHECKPOINT_HEAD_MISMATCH.format(seq=seq))
    return checked, None


async def _check_subject_index(conn: asyncpg.Connection) -> _Break | None:
    if await conn.fetchval("SELECT to_regclass('ledger_subject_index')") is None:
        return None  # a ledger from before migration 0014
    seq = await conn.fetchval(_SUBJECT_INDEX_CHECK)
    return _Break(seq, SUBJECT_INDEX_MISMATCH) if seq is not None else None


async def verify_ledger(
    conn: asyncpg.Connection, verify_signature: SignatureVerifier, *, prefetch: int = 1000
) -> VerifyReport:
    """Streams the chain and the checkpoints in one snapshot; `conn` must not be inside a transaction.

    Every event must have seq n+1 after n (from 1), link to its predecessor's hash and hash to
    its stored hash; every checkpoint must carry a valid signature over its own seq, head and
    time, and its head must be the hash stored for that seq (which also catches a rewritten or
    cut-off tail); the subjects index must hold the first events, each with its own tags.
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        events, head_seq, head_hash, chain_break = await _check_chain(conn, prefetch)
        before = chain_break.seq if chain_break is not None else None
        checkpoints, checkpoint_break = await _check_checkpoints(conn, verify_signature, before, prefetch)
        index_break = await _check_subject_index(conn) if chain_break is None and checkpoint_break is None else None
    found = checkpoint_break or chain_break or index_break
    if found is None:
        return VerifyReport(True, events, checkpoints, head_seq, head_hash)
    return VerifyReport(False, events, checkpoints, head_seq, head_hash, found.seq, found.reason)
