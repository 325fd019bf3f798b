"""The hash chain: how an event and its predecessor's hash give the event's hash.

    hash(n) = sha256_hex( prev_hash(n) || canonical_json(event(n) with "seq": n) )

`prev_hash(1)` is 64 zeros, `prev_hash(n)` is `hash(n-1)`, both as lowercase hex text;
canonical JSON is UTF-8 with sorted keys, no whitespace and no ASCII escaping, the event's
fields as in `DisclosureEvent.to_json` (time as `YYYY-MM-DDTHH:MM:SS.ffffffZ`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.ledger.events import DisclosureEvent, format_time

__all__ = [
    "COLUMNS", "GENESIS_HASH", "SELECT_COLUMNS", "EncodedEvent", "LedgerRecord", "canonical_json", "chain_hash",
    "encode_event", "link", "record_from_row", "record_row", "row_json",
]

GENESIS_HASH = "0" * 64

COLUMNS = (
    "seq", "time", "request_id", "receipt_id", "agency", "client", "duty", "case_id", "on_behalf_of",
    "operation_name", "operation_hash", "items", "subjects", "providers", "row_count", "latency_ms", "outcome",
    "source", "prev_hash", "hash",
)
SELECT_COLUMNS = ", ".join(COLUMNS)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class EncodedEvent:
    """An event's canonical JSON split around the place where `"seq":n` goes.

    Encoding happens before the writer takes the ledger lock, so that under the lock only
    string joins and sha256 remain.
    """

    event: DisclosureEvent
    before_seq: str
    after_seq: str

    def canonical(self, seq: int) -> str:
        return f'{self.before_seq}"seq":{seq}{self.after_seq}'


def _encode_body(body: Mapping[str, Any]) -> tuple[str, str]:
    if "seq" in body:
        raise ValueError("an event body must not carry its own seq")
    before = {k: v for k, v in body.items() if k < "seq"}
    after = {k: v for k, v in body.items() if k > "seq"}
    head = canonical_json(before)[:-1] + ("," if before else "")
    tail = ("," + canonical_json(after)[1:]) if after else "}"
    return head, tail


def encode_event(event: DisclosureEvent) -> EncodedEvent:
    head, tail = _encode_body(event.to_json())
    return EncodedEvent(event, head, tail)


def link(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def chain_hash(prev_hash: str, seq: int, body: Mapping[str, Any]) -> str:
    """The hash of the event `body` (`DisclosureEvent.to_json()` or `row_json`) at `seq`."""
    head, tail = _encode_body({k: v for k, v in body.items() if k not in ("seq", "prev_hash", "hash")})
    return link(prev_hash, f'{head}"seq":{seq}{tail}')


@dataclass(frozen=True)
class LedgerRecord:
    """An event as committed: its place in the chain and its hashes."""

    seq: int
    prev_hash: str
    hash: str
    event: DisclosureEvent

    def to_json(self) -> dict[str, Any]:
        """What sinks receive: the event's fields plus seq, prev_hash and hash."""
        return {**self.event.to_json(), "seq": self.seq, "prev_hash": self.prev_hash, "hash": self.hash}


def record_row(record: LedgerRecord) -> tuple[Any, ...]:
    """The record as a row of `disclosure_events`, in `COLUMNS` order."""
    e = record.event
    return (
        record.seq, e.time, e.request_id, e.receipt_id, e.agency, e.client, e.duty, e.case_id,
        list(e.on_behalf_of), e.operation_name, e.operation_hash,
        canonical_json([i.to_json() for i in e.items]), list(e.subjects), list(e.providers), e.row_count,
        e.latency_ms, e.outcome, e.source, record.prev_hash, record.hash,
    )


def row_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The event body of a stored row as the chain hashes it, without validating anything."""
    return {
        "time": format_time(row["time"]),
        "request_id": row["request_id"],
        "receipt_id": row["receipt_id"],
        "agency": row["agency"],
        "client": row["client"],
        "duty": row["duty"],
        "case_id": row["case_id"],
        "on_behalf_of": list(row["on_behalf_of"]),
        "operation_name": row["operation_name"],
        "operation_hash": row["operation_hash"],
        "items": json.loads(row["items"]),
        "subjects": list(row["subjects"]),
        "providers": list(row["providers"]),
        "row_count": row["row_count"],
        "latency_ms": row["latency_ms"],
        "outcome": row["outcome"],
        "source": row["source"],
    }


def record_from_row(row: Mapping[str, Any]) -> LedgerRecord:
    return LedgerRecord(
        seq=row["seq"], prev_hash=row["prev_hash"], hash=row["hash"], event=DisclosureEvent.from_json(row_json(row))
    )
