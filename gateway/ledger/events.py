"""The disclosure event: who obtained which fields of whom, under which duty, and how it ended."""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, cast, get_args

__all__ = [
    "DeniedField", "DisclosureEvent", "ItemDisclosure", "Outcome", "Source", "SubjectHasher", "format_time",
    "operation_hash", "parse_time", "subject_hash",
]

Outcome = Literal["ok", "partial", "refused", "error"]
Source = Literal["network", "cache"]

_OUTCOMES = frozenset(get_args(Outcome))
_SOURCES = frozenset(get_args(Source))
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX_DIGITS = b"0123456789abcdef"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def subject_hash(key: bytes, identifier: str) -> str:
    """HMAC-SHA256 of a subject identifier (resident ID number, USCC, ...) under the ledger key, hex.

    The identifier is stripped and upper-cased first, so a lowercase check character `x`
    hashes like the `X` that schema.identifiers returns.
    """
    _check_key(key)
    return hmac.new(key, identifier.strip().upper().encode("utf-8"), hashlib.sha256).hexdigest()


def _check_key(key: bytes) -> None:
    if len(key) < 16:
        raise ValueError("the ledger's subject key must be at least 16 bytes")


_SHA256_BLOCK = 64
_INNER_PAD = bytes(b ^ 0x36 for b in range(256))
_OUTER_PAD = bytes(b ^ 0x5C for b in range(256))


class SubjectHasher:
    """`subject_hash` under one key, prepared once.

    A request for 100 subjects hashes 100 identifiers. The HMAC (RFC 2104) is computed from
    the two sha256 states of the padded key, hashed once here: copying them costs less than
    half of copying a keyed `hmac` object, or of keying a new one.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_INNER_PAD))
        self._outer = hashlib.sha256(key.translate(_OUTER_PAD))

    def __call__(self, identifier: str) -> str:
        inner = self._inner.copy()
        inner.update(identifier.strip().upper().encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def many(self, identifiers: Iterable[str]) -> tuple[str, ...]:
        """The hashes of `identifiers`, sorted: an event's `subjects`.

        One loop with the states' methods looked up once: a fifth less than mapping
        `__call__`, whose own call is a good part of each hash's ~0.8 µs.
        """
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        hashes = []
        for identifier in identifiers:
            inner = inner_copy()
            inner.update(identifier.strip().upper().encode("utf-8"))
            outer = outer_copy()
            outer.update(inner.digest())
            hashes.append(outer.hexdigest())
        hashes.sort()
        return tuple(hashes)


def operation_hash(query: str) -> str:
    """sha256 of the GraphQL query text, hex."""
    # agency systems send the same few texts again and again; long ones are not kept
    return _kept_text_hash(query) if len(query) <= 16_384 else _text_hash(query)


def _text_hash(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


_kept_text_hash = functools.lru_cache(maxsize=1024)(_text_hash)


def format_time(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ`, always with microseconds."""
    if value.tzinfo is not timezone.utc:  # events hold UTC already
        value = value.astimezone(timezone.utc)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=timezone.utc)


def _lowercase_hex(text: str) -> bool:
    """Whether `text` holds only 0-9 and a-f: one pass over bytes in C, a tenth of a regex's
    time over the 6,400 characters of an event of 100 subjects."""
    return text.isascii() and not text.encode("ascii").translate(None, _HEX_DIGITS)


def _text(name: str, value: object, *, optional: bool = False) -> None:
    """A text field is stored as PostgreSQL text and hashed as UTF-8: NUL and unpaired
    surrogates would fail the whole group commit that carries the event, so they are refused here."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if "\x00" in value or not (value.isascii() or _encodable(value)):
        raise ValueError(f"{name} must be text without NUL characters or unpaired surrogates")


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_text(values: Iterable[object]) -> bool:
    """Whether every value is text `_text` accepts: one pass over them joined (an event has
    a few dozen), `_text` then names the first that is not."""
    try:
        joined = "".join(values)  # type: ignore[arg-type]
    except TypeError:
        return False
    return "\x00" not in joined and (joined.isascii() or _encodable(joined))


def _strings(name: str, values: Iterable[str], *, text: bool = True) -> tuple[str, ...]:
    """`values` as a tuple of strings; `text=False` skips the text check (the caller checks more strictly)."""
    if isinstance(values, str):
        raise TypeError(f"{name} must be a list of strings, not a string")
    result = values if type(values) is tuple else tuple(values)
    if not text:
        try:
            "".join(result)  # one pass in C: an event may hold hundreds
        except TypeError:
            raise TypeError(f"{name} must contain strings only") from None
        return result
    for value in result:
        _text(name, value)
    return result


@dataclass(frozen=True)
class DeniedField:
    field: str
    code: str

    def __post_init__(self) -> None:
        if not _all_text((self.field, self.code)):
            _text("denied field", self.field)
            _text("denied code", self.code)

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code}


@dataclass(frozen=True)
class ItemDisclosure:
    """One catalog item of an operation: the fields served and the fields denied with their codes."""

    item: str
    provider: str
    served: tuple[str, ...] = ()
    denied: tuple[DeniedField, ...] = ()

    def __post_init__(self) -> None:
        served = _strings("served", self.served, text=False)
        if not _all_text((self.item, self.provider, *served)):
            _text("item", self.item)
            _text("provider", self.provider)
            _strings("served", served)
        object.__setattr__(self, "served", served)
        object.__setattr__(self, "denied", tuple(self.denied))
        if not all(isinstance(d, DeniedField) for d in self.denied):
            raise TypeError("denied must contain DeniedField entries only")

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "provider": self.provider,
            "served": list(self.served),
            "denied": [d.to_json() for d in self.denied],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ItemDisclosure:
        return cls(
            item=data["item"],
            provider=data["provider"],
            served=tuple(data.get("served", ())),
            denied=tuple(DeniedField(d["field"], d["code"]) for d in data.get("denied", ())),
        )


@dataclass(frozen=True)
class DisclosureEvent:
    """One operation, allowed or denied, from the network or the cache.

    `subjects` holds keyed hashes only (see `subject_hash`); a value that is not a 64-digit
    lowercase hex string is refused, so a plain identifier can never reach the ledger.
    """

    time: datetime
    request_id: str
    agency: str
    client: str
    duty: str | None
    operation_hash: str
    outcome: Outcome
    receipt_id: str | None = None
    case_id: str | None = None
    on_behalf_of: tuple[str, ...] = ()
    operation_name: str | None = None
    items: tuple[ItemDisclosure, ...] = ()
    subjects: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    row_count: int = 0
    latency_ms: float = 0.0
    source: Source = "network"

    def __post_init__(self) -> None:
        # The gateway builds one event per request, so this checks everything in few passes.
        time = self.time
        if time.tzinfo is not timezone.utc:  # the gateway's own events are in UTC already
            if time.utcoffset() is None:
                raise ValueError("event time must be timezone-aware")
            # Microseconds are what timestamptz keeps; the chain must hash what is stored.
            object.__setattr__(self, "time", time.astimezone(timezone.utc))
        if self.outcome not in _OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(_OUTCOMES)}, not {self.outcome!r}")
        if self.source not in _SOURCES:
            raise ValueError(f"source must be one of {sorted(_SOURCES)}, not {self.source!r}")
        on_behalf_of = _strings("on_behalf_of", self.on_behalf_of, text=False)
        providers = _strings("providers", self.providers, text=False)
        texts = [self.request_id, self.agency, self.client, *on_behalf_of, *providers]
        for optional in (self.duty, self.receipt_id, self.case_id, self.operation_name):
            if optional is not None:
                texts.append(optional)
        if not _all_text(texts):
            for name in ("request_id", "agency", "client"):
                _text(name, getattr(self, name))
            for name in ("duty", "receipt_id", "case_id", "operation_name"):
                _text(name, getattr(self, name), optional=True)
            _strings("on_behalf_of", on_behalf_of)
            _strings("providers", providers)
        if not isinstance(self.operation_hash, str) or not _HEX64.fullmatch(self.operation_hash):
            raise ValueError("operation_hash must be a sha256 hex digest")
        for entry in on_behalf_of:
            agency, sep, duty = entry.partition(":")
            if not sep or not agency or not duty:
                raise ValueError(f"on_behalf_of entry {entry!r} is not of the form <agency>:<duty>")
        subjects = _strings("subjects", self.subjects, text=False)  # lowercase hex below: no NUL, no surrogates
        if subjects and (set(map(len, subjects)) != {64} or not _lowercase_hex("".join(subjects))):
            raise ValueError("subjects must be keyed hashes (subject_hash), never plain identifiers")
        items = self.items if type(self.items) is tuple else tuple(self.items)
        for item in items:
            if not isinstance(item, ItemDisclosure):
                raise TypeError("items must contain ItemDisclosure entries only")
        if isinstance(self.row_count, bool) or not isinstance(self.row_count, int) or self.row_count < 0:
            raise ValueError("row_count must be a non-negative integer")
        latency = float(self.latency_ms)
        if not math.isfinite(latency) or latency < 0:
            raise ValueError("latency_ms must be a finite non-negative number")
        fields = self.__dict__  # frozen: the normalised values go straight in, as object.__setattr__ would put them
        fields["on_behalf_of"] = on_behalf_of
        fields["subjects"] = subjects
        fields["providers"] = providers
        fields["items"] = items
        # Rounded to the microsecond so the float's JSON text is short and stable; + 0.0 turns
        # -0.0 into 0.0, which is what jsonb keeps (it has no negative zero) and verify rehashes.
        fields["latency_ms"] = round(latency, 3) + 0.0

    def to_json(self) -> dict[str, Any]:
        """The canonical dict (JSON types only) that the chain hashes, without seq."""
        return {
            "time": format_time(self.time),
            "request_id": self.request_id,
            "receipt_id": self.receipt_id,
            "agency": self.agency,
            "client": self.client,
            "duty": self.duty,
            "case_id": self.case_id,
            "on_behalf_of": list(self.on_behalf_of),
            "operation_name": self.operation_name,
            "operation_hash": self.operation_hash,
            "items": [i.to_json() for i in self.items],
            "subjects": list(self.subjects),
            "providers": list(self.providers),
            "row_count": self.row_count,
            "latency_ms": self.latency_ms,
            "outcome": self.outcome,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DisclosureEvent:
        return cls(
            time=parse_time(data["time"]),
            request_id=data["request_id"],
            receipt_id=data.get("receipt_id"),
            agency=data["agency"],
            client=data["client"],
            duty=data.get("duty"),
            case_id=data.get("case_id"),
            on_behalf_of=tuple(data.get("on_behalf_of", ())),
            operation_name=data.get("operation_name"),
            operation_hash=data["operation_hash"],
            items=tuple(ItemDisclosure.from_json(i) for i in data.get("items", ())),
            subjects=tuple(data.get("subjects", ())),
            providers=tuple(data.get("providers", ())),
            row_count=data.get("row_count", 0),
            latency_ms=data.get("latency_ms", 0.0),
            outcome=cast(Outcome, data["outcome"]),
            source=cast(Source, data.get("source", "network")),
        )
