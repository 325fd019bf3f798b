"""One ledger event per operation, allowed or denied (R-30, R-34)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable

import asyncpg

from gateway.ledger import DeniedField, DisclosureEvent, ItemDisclosure, operation_hash
from gateway.ledger.writer import LedgerWriter
from schema.context import RequestState

__all__ = ["WHOLE_REQUEST", "disclosure_event", "ledger_key"]

WHOLE_REQUEST = "*"
"""The `item` (and `field`) under which an event records a refusal that no catalog item stands
for: the request's duty refused (DUTY_NOT_GRANTED, DUTY_REQUIRED, ...), a role's mutation
refused (FORBIDDEN). Its provider is empty."""


async def ledger_key(pool: asyncpg.Pool, configured: bytes | None) -> bytes:
    if configured:
        return configured
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO ledger_keys (name, secret) VALUES ('subjects', $1) ON CONFLICT (name) DO NOTHING", secrets.token_bytes(32)
        )
        return bytes(await conn.fetchval("SELECT secret FROM ledger_keys WHERE name = 'subjects'"))


def disclosure_event(
    writer: LedgerWriter,
    state: RequestState,
    *,
    query: str,
    operation_name: str | None,
    outcome: str,
    latency_ms: float,
    refusals: Iterable[str] = (),
) -> DisclosureEvent:
    """`refusals`: the refusal codes of the answer's errors, so that the event records each
    of them, against the fields it refused where they are known, else under WHOLE_REQUEST."""
    catalog = state.services.bundle.catalog
    # per item, the fields denied and why (a field denied twice keeps the later code)
    denied: dict[str, dict[str, DeniedField]] = {}
    for decision in state.denied:
        denied.setdefault(decision.item or WHOLE_REQUEST, {})[decision.field] = DeniedField(decision.field, str(decision.code))
    for path in state.unavailable:
        binding = catalog.bindings.get(path)
        if binding is not None:
            denied.setdefault(binding.item, {})[path] = DeniedField(path, "PROVIDER_UNAVAILABLE")
    served = state.served
    refused = set(refusals)
    if "OUT_OF_DIVISION" in refused:
        # subjects outside the division are refused whole (R-21a): the fields asked for, allowed
        # and read for no subject are the ones that division refused
        taken = {f for e in served.values() for f in e.fields} | {f for fields in denied.values() for f in fields}
        for path in sorted(state.fields_requested - taken):
            binding = catalog.bindings.get(path)
            if binding is not None:
                denied.setdefault(binding.item, {})[path] = DeniedField(path, "OUT_OF_DIVISION")
    recorded = {d.code for fields in denied.values() for d in fields.values()}
    for code in refused - recorded:
        denied.setdefault(WHOLE_REQUEST, {})[code] = DeniedField(WHOLE_REQUEST, code)
    items = []
    for code in sorted(served.keys() | denied.keys()) if denied else sorted(served):
        item = catalog.items.get(code)
        entry = served.get(code)
        fields = denied.get(code)
        items.append(ItemDisclosure(
            code,
            item.provider if item else "" if code == WHOLE_REQUEST else "?",
            tuple(sorted(entry.fields)) if entry else (),
            tuple(fields[f] for f in sorted(fields)) if fields else (),
        ))
    return DisclosureEvent(
        time=dt.datetime.now(dt.timezone.utc),
        request_id=state.request_id,
        receipt_id=state.receipt_id,
        agency=state.principal.agency,
        client=state.principal.client_id,
        duty=state.policy.duty,
        case_id=state.case_id,
        on_behalf_of=tuple(map(str, state.policy.on_behalf_of)),
        operation_name=operation_name,
        operation_hash=operation_hash(query),
        outcome=outcome,
        items=tuple(items),
        subjects=writer.subject_hasher.many(state.subjects),
        providers=tuple(sorted(state.providers)),
        row_count=state.rows,
        latency_ms=latency_ms,
        source="network",
    )
