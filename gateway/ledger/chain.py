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

import orjson

from gateway.ledger.events import DisclosureEvent, format_time

__all__ = [
    "COLUMNS", "GENESIS_HASH", "SELECT_COLUMNS", "EncodedEvent", "LedgerRecord", "canonical_json", "chain_hash",
    "encode_event", "link", "record_from_row", "row_json",
]

GENESIS_HASH = "0" * 64

COLUMNS = (
    "seq", "time", "request_id", "receipt_id", "agency", "client", "duty", "case_id", "on_behalf_of",
    "operation_name", "operation_hash", "items", "subjects", "providers", "row_count", "latency_ms", "outcome",
    "source", "prev_hash", "hash",
)
SELECT_COLUMNS = ", ".join(COLUMNS)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_SEQ_MARK = '"seq":0'


def canonical_json(value: Any) -> str:
    return _ENCODER.encode(value)


@dataclass(frozen=True)
class EncodedEvent:
    """An event's canonical JSON (`row_json`, with seq 0) split around where `"seq":n` goes.

    Encoding happens on the request's side, so that the append statement only joins strings
    and hashes them under the ledger lock (migration 0008_ledger_append.sql); it receives the
    two halves only and parses the joined text for the columns (0012_ledger_append_once.sql).
    """

    event: DisclosureEvent
    before_seq: str
    after_seq: str

    def canonical(self, seq: int) -> str:
        return f"{self.before_seq}{seq}{self.after_seq}"

    @property
    def row_json(self) -> str:
        """The canonical JSON with seq 0, as the previous append form took it whole."""
        return self.canonical(0)


def _event_json(body: dict[str, Any], latency_ms: float) -> str:
    # orjson writes what canonical_json writes for an event's values (strings, whole numbers,
    # null, booleans, and latency_ms, a finite float rounded to 3 decimals), several times
    # faster; the encoders differ only on floats below 1e-4 (2.5e-05 against 0.000025),
    # which a rounded latency is not, unless it is 0
    if latency_ms == 0 or latency_ms >= 1e-3:
        try:
            return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode("utf-8")
        except TypeError:
            pass
    return canonical_json(body)


def encode_event(event: DisclosureEvent) -> EncodedEvent:
    body = event.to_json()
    body["seq"] = 0
    # Keys after "seq" (source, subjects, time) hold no objects, so the last mark is the top-level one.
    text = _event_json(body, event.latency_ms)
    head, mark, tail = text.rpartition(_SEQ_MARK)
    return EncodedEvent(event, head + mark[:-1], tail)


def link(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def chain_hash(prev_hash: str, seq: int, body: Mapping[str, Any]) -> str:
    """The hash of the event `body` (`DisclosureEvent.to_json()` or `row_json`) at `seq`."""
    fields = {k: v for k, v in body.items() if k not in ("prev_hash", "hash")}
    fields["seq"] = seq
    return link(prev_hash, canonical_json(fields))


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
