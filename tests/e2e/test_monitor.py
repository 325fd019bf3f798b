"""Compliance findings on the demo world's crafted facts and on crafted variations."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from gateway.monitor import hidden_information, late_updates, unreachable_providers
from resolvers.stores import AgencyStores

CST = dt.timezone(dt.timedelta(hours=8))


async def test_hidden_catalog_information_in_the_demo(runtime: Any) -> None:
    findings = []
    for agency, mapping in sorted(runtime.bundle.mappings.items()):
        findings.extend(hidden_information(mapping, await runtime.stores.columns(agency)))
    assert [(f.agency, f.object, f.article) for f in findings] == [("gz-rsj", "table unemployment_benefit", "R-34(6)")]


async def test_an_unmapped_column_is_hidden_information(runtime: Any) -> None:
    mapping = runtime.bundle.mappings["gz-zfcxjsj"]
    columns = await runtime.stores.columns("gz-zfcxjsj")
    assert hidden_information(mapping, columns) == []
    without_exclusion = dataclasses.replace(mapping, excluded_columns=frozenset())
    (finding,) = hidden_information(without_exclusion, columns)
    assert finding.object == "column housing_security_application.applied_on"


async def test_late_updates_in_the_demo(runtime: Any) -> None:
    now = dt.datetime.now(CST)
    findings = await late_updates(runtime.bundle, runtime.stores, now)
    assert [(f.kind, f.agency, f.object) for f in findings] == [("LATE_UPDATE", "gz-swj", "item E04 (tax_credit_rating)")]
    assert "2025-04-20" in findings[0].evidence and "2025-07-10" in findings[0].evidence
    # on 2025-07-10 the rating was still within its quarter's deadline
    on_time = await late_updates(runtime.bundle, runtime.stores, dt.datetime(2025, 7, 10, 12, tzinfo=CST))
    assert [f for f in on_time if f.agency == "gz-swj"] == []


async def test_unreachable_provider(demo_databases: Any) -> None:
    stores = AgencyStores({**demo_databases.store_dsns, "gz-swj": "postgresql://postgres@127.0.0.1:1/none"}, timeout=1)
    try:
        findings = await unreachable_providers(demo_databases.store_dsns, stores)
    finally:
        await stores.close()
    assert [(f.kind, f.agency) for f in findings] == [("PROVIDER_UNAVAILABLE", "gz-swj")]
