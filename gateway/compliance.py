"""Runs every compliance check over a gateway's state (R-17, R-32, R-34) for `govshare monitor`."""

from __future__ import annotations

import datetime as dt
import json

import asyncpg
from joserfc.jwk import ECKey

from gateway.audit import WHOLE_REQUEST
from gateway.catalog_files import CatalogBundle, catalog_files, load_bundle
from gateway.catalog_versions import published_bundle
from gateway.ledger import jws_verifier, verify_ledger
from gateway.monitor import Finding, broken_mapping, hidden_information, late_updates, unreachable_providers
from gateway.settings import Settings
from resolvers.stores import AgencyStores, ProviderUnavailable
from resolvers.workflows import overdue_steps, overdue_supplies

__all__ = ["BEYOND_DUTY", "findings", "ledger_findings", "run_monitor", "signing_public_keys"]

CHINA = dt.timezone(dt.timedelta(hours=8))

# Refusals that are use beyond duty (R-18, R-34(4)): an item outside the scope of the duty asked
# under (NOT_IN_SCOPE), a duty the token does not grant or the agency does not hold
# (DUTY_NOT_GRANTED, DUTY_NOT_HELD). Not: DUTY_REQUIRED (no duty named, a client's mistake),
# FORBIDDEN (a mutation of another role), REDISTRIBUTION_BLOCKED (decided only once the duty is
# in scope: the copy's holder lacks the origin provider's consent, R-25), INVALID_ON_BEHALF_OF
# (a malformed recipient), OUT_OF_DIVISION (a finding of its own, R-21a).
BEYOND_DUTY = ("NOT_IN_SCOPE", "DUTY_NOT_GRANTED", "DUTY_NOT_HELD")


async def ledger_findings(conn: asyncpg.Connection, now: dt.datetime, *, window_days: int = 30, unavailable_threshold: int = 3, volume_factor: float = 3.0, volume_floor: int = 100) -> list[Finding]:
    findings: list[Finding] = []
    since = now - dt.timedelta(days=window_days)
    rows = await conn.fetch(
        "SELECT e.agency, coalesce(e.duty, '') AS duty, d->>'code' AS code, i->>'item' AS item, count(DISTINCT e.seq) AS n"
        " FROM disclosure_events e, jsonb_array_elements(e.items) i, jsonb_array_elements(i->'denied') d"
        " WHERE e.time >= $1 AND d->>'code' = ANY($2::text[])"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        since,
        [*BEYOND_DUTY, "OUT_OF_DIVISION"],
    )
    for row in rows:
        whole = row["item"] == WHOLE_REQUEST
        evidence = f"{row['n']} request(s) denied with {row['code']} under duty {row['duty'] or '(none)'} since {since.date()}"
        if row["code"] == "OUT_OF_DIVISION":
            findings.append(Finding("OUT_OF_DIVISION", "warning", row["agency"], "R-21a", "subjects" if whole else f"item {row['item']}", evidence))
        else:
            findings.append(Finding("USE_BEYOND_DUTY", "warning", row["agency"], "R-18" if whole else "R-34(4)", "duty" if whole else f"item {row['item']}", evidence))
    outages = await conn.fetch(
        "SELECT i->>'provider' AS provider, count(DISTINCT e.seq) AS n FROM disclosure_events e, jsonb_array_elements(e.items) i, jsonb_array_elements(i->'denied') d"
        " WHERE e.time >= $1 AND d->>'code' = 'PROVIDER_UNAVAILABLE' GROUP BY 1 HAVING count(DISTINCT e.seq) >= $2 ORDER BY 1",
        now - dt.timedelta(days=1),
        unavailable_threshold,
    )
    for row in outages:
        findings.append(
            Finding("PROVIDER_UNAVAILABLE", "violation", row["provider"], "R-32", f"data store of {row['provider']}", f"{row['n']} request(s) in the last day found it unavailable (refusal or delay, R-34(3))")
        )
    volume = await conn.fetch(
        "WITH daily AS (SELECT agency, (time AT TIME ZONE 'Asia/Shanghai')::date AS day, sum(cardinality(subjects)) AS subjects FROM disclosure_events"
        " WHERE time >= $1 GROUP BY 1, 2)"
        " SELECT agency, max(subjects) FILTER (WHERE day = $2::date) AS today, avg(subjects) FILTER (WHERE day < $2::date) AS usual"
        " FROM daily GROUP BY agency",
        since,
        now.date(),
    )
    for row in volume:
        today, usual = row["today"] or 0, float(row["usual"] or 0)
        if today >= volume_floor and today > volume_factor * usual:
            findings.append(
                Finding("UNUSUAL_VOLUME", "warning", row["agency"], "R-34(4)", "subjects read", f"{today} subjects today against a daily average of {usual:.0f}")
            )
    return findings


async def findings(bundle: CatalogBundle, stores: AgencyStores, pool: asyncpg.Pool, now: dt.datetime) -> list[Finding]:
    """Every check: catalog and stores (R-17, R-34(5), R-34(6)), providers (R-32), the ledger
    (R-21a, R-34(1), R-34(3), R-34(4)) and the workflows' deadlines (R-19b, R-22)."""
    found: list[Finding] = []
    for agency, mapping in sorted(bundle.mappings.items()):
        try:
            columns = await stores.columns(agency)
        except ProviderUnavailable:
            continue  # reported by unreachable_providers
        found.extend(broken_mapping(mapping, columns))
        found.extend(hidden_information(mapping, columns))
    found.extend(await late_updates(bundle, stores, now))
    found.extend(await unreachable_providers(bundle.mappings, stores))
    async with pool.acquire() as conn:
        found.extend(await ledger_findings(conn, now))
        report = await verify_ledger(conn, jws_verifier(await signing_public_keys(conn)))
    if not report.ok:
        # the platform operator keeps the ledger: the finding is addressed to it
        keeper = ", ".join(sorted(bundle.operators)) or "platform operator"
        found.append(Finding("LEDGER_TAMPERED", "violation", keeper, "R-34(1)", f"disclosure event {report.broken_seq}", report.describe()))
    found.extend(await _overdue_workflows(pool, now.date()))
    return found


async def run_monitor(settings: Settings, control_dsn: str, store_dsns: dict[str, str]) -> list[Finding]:
    pool = await asyncpg.create_pool(control_dsn, min_size=1, max_size=2)
    stores = AgencyStores(store_dsns, timeout=settings.provider_timeout)
    try:
        async with pool.acquire() as conn:
            bundle = await published_bundle(conn, load_bundle(catalog_files(settings.catalog_dir)))
        return await findings(bundle, stores, pool, dt.datetime.now(CHINA))
    finally:
        await stores.close()
        await pool.close()


async def signing_public_keys(conn: asyncpg.Connection) -> list[ECKey]:
    """Every token and checkpoint signing key the gateway ever used, retired ones included."""
    rows = await conn.fetch("SELECT private_jwk FROM signing_keys")
    return [ECKey.import_key(ECKey.import_key(json.loads(r["private_jwk"])).as_dict(private=False)) for r in rows]


async def _overdue_workflows(pool: asyncpg.Pool, today: dt.date) -> list[Finding]:
    findings = []
    for objection in await overdue_steps(pool, today):
        who = objection.awaiting or objection.provider
        step = "review" if who == "operator" else "check"
        findings.append(
            Finding(
                "OVERDUE_OBJECTION", "violation", who, "R-22", f"objection {objection.id} (item {objection.item}, field {objection.field})",
                f"the {step} was due {objection.due.isoformat() if objection.due else '?'}{' (estimated)' if objection.due_estimated else ''}",
            )
        )
    for request in await overdue_supplies(pool, today):
        state = "supplied late" if request.supplied_on else "not supplied"
        findings.append(
            Finding(
                "OVERDUE_SUPPLY", "violation", request.provider, "R-19b", f"access request {request.id} (item {request.item} for {request.duty})",
                f"{state}; the supply was due {request.supply_due.isoformat() if request.supply_due else '?'} (5 working days after the decision)",
            )
        )
    return findings
