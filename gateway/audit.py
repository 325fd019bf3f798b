"""One ledger event per operation, allowed or denied (R-30, R-34)."""

from __future__ import annotations

import datetime as dt
import secrets

import asyncpg

from gateway.ledger import DeniedField, DisclosureEvent, ItemDisclosure, operation_hash
from gateway.ledger.writer import LedgerWriter
from schema.context import RequestState

__all__ = ["disclosure_event", "ledger_key"]


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
) -> DisclosureEvent:
    catalog = state.services.bundle.catalog
    # per item, the fields denied and why (a field denied twice keeps the later code)
    denied: dict[str, dict[str, DeniedField]] = {}
    for decision in state.denied:
        if decision.item:
            denied.setdefault(decision.item, {})[decision.field] = DeniedField(decision.field, str(decision.code))
    for path in state.unavailable:
        binding = catalog.bindings.get(path)
        if binding is not None:
            denied.setdefault(binding.item, {})[path] = DeniedField(path, "PROVIDER_UNAVAILABLE")
    served = state.served
    items = []
    for code in sorted(served.keys() | denied.keys()) if denied else sorted(served):
        item = catalog.items.get(code)
        entry = served.get(code)
        fields = denied.get(code)
        items.append(ItemDisclosure(
            code,
            item.provider if item else "?",
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
