"""Runs every compliance check over a gateway's state (R-17, R-32, R-34) for `govshare monitor`."""

from __future__ import annotations

import datetime as dt
import json

import asyncpg
from joserfc.jwk import ECKey

from gateway.catalog_files import CatalogBundle, catalog_files, load_bundle
from gateway.catalog_versions import published_bundle
from gateway.ledger import jws_verifier, verify_ledger
from gateway.monitor import Finding, broken_mapping, hidden_information, late_updates, unreachable_providers
from gateway.settings import Settings
from resolvers.stores import AgencyStores, ProviderUnavailable
from resolvers.workflows import overdue_steps, overdue_supplies

__all__ = ["findings", "ledger_findings", "run_monitor", "signing_public_keys"]

CHINA = dt.timezone(dt.timedelta(hours=8))


async def ledger_findings(conn: asyncpg.Connection, now: dt.datetime, *, window_days: int = 30, unavailable_threshold: int = 3, volume_factor: float = 3.0, volume_floor: int = 100) -> list[Finding]:
    findings: list[Finding] = []
    since = now - dt.timedelta(days=window_days)
    rows = await conn.fetch(
        "SELECT e.agency, coalesce(e.duty, '') AS duty, d->>'code' AS code, i->>'item' AS item, count(*) AS n"
        " FROM disclosure_events e, jsonb_array_elements(e.items) i, jsonb_array_elements(i->'denied') d"
        " WHERE e.time >= $1 AND d->>'code' IN ('NOT_IN_SCOPE', 'REDISTRIBUTION_BLOCKED', 'OUT_OF_DIVISION')"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
        since,
    )
    for row in rows:
        findings.append(
            Finding(
                "USE_BEYOND_DUTY", "warning", row["agency"], "R-34(4)", f"item {row['item']}",
                f"{row['n']} denied field request(s) with {row['code']} under duty {row['duty'] or '(none)'} since {since.date()}",
            )
        )
    refused = await conn.fetch(
        "SELECT agency, count(*) AS n FROM disclosure_events WHERE time >= $1 AND outcome = 'refused' AND items = '[]'::jsonb GROUP BY agency ORDER BY agency",
        since,
    )
    for row in refused:
        findings.append(Finding("USE_BEYOND_DUTY", "warning", row["agency"], "R-18", "duty", f"{row['n']} request(s) refused for their duty since {since.date()}"))
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
    (R-34(1), R-34(3), R-34(4)) and the workflows' deadlines (R-19b, R-22)."""
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
