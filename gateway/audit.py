"""One ledger event per operation, allowed or denied (R-30, R-34)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict

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
    bundle = state.services.bundle
    served: dict[str, set[str]] = defaultdict(set)
    denied: dict[str, list[DeniedField]] = defaultdict(list)
    for code, entry in state.served.items():
        served[code].update(entry.fields)
    for decision in state.denied:
        if decision.item:
            denied[decision.item].append(DeniedField(decision.field, str(decision.code)))
    for path in state.unavailable:
        binding = bundle.catalog.bindings.get(path)
        if binding is not None:
            denied[binding.item].append(DeniedField(path, "PROVIDER_UNAVAILABLE"))
    items = []
    for code in sorted(served.keys() | denied.keys()):
        item = bundle.catalog.items.get(code)
        provider = item.provider if item else "?"
        seen: dict[str, DeniedField] = {d.field: d for d in denied.get(code, [])}
        items.append(ItemDisclosure(code, provider, tuple(sorted(served.get(code, ()))), tuple(seen[f] for f in sorted(seen))))
    return DisclosureEvent(
        time=dt.datetime.now(dt.timezone.utc),
        request_id=state.request_id,
        receipt_id=state.receipt_id,
        agency=state.principal.agency,
        client=state.principal.client_id,
        duty=state.policy.duty,
        case_id=state.case_id,
        on_behalf_of=tuple(str(r) for r in state.policy.on_behalf_of),
        operation_name=operation_name,
        operation_hash=operation_hash(query),
        outcome=outcome,
        items=tuple(items),
        subjects=tuple(sorted(map(writer.subject_hasher, state.subjects))),
        providers=tuple(sorted(state.providers)),
        row_count=state.rows,
        latency_ms=latency_ms,
        source="network",
    )
