"""Compliance findings on the demo world's crafted facts and on crafted variations."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from gateway.monitor import _moment, broken_mapping, hidden_information, late_updates, unreachable_providers
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


async def test_a_mapped_column_the_database_lacks_is_a_broken_mapping(runtime: Any) -> None:
    # a store that was down at start-up escaped the start-up column check: the monitor finds it
    mapping = runtime.bundle.mappings["gz-swj"]
    columns = await runtime.stores.columns("gz-swj")
    assert broken_mapping(mapping, columns) == []
    table = mapping.tables[0].table
    damaged = {**columns, table: columns[table] - {sorted(columns[table])[0]}}
    (finding,) = broken_mapping(mapping, damaged)
    assert (finding.kind, finding.agency, finding.article) == ("BROKEN_MAPPING", "gz-swj", "R-16a")
    assert finding.object == f"column {table}.{sorted(columns[table])[0]}"
    gone = {k: v for k, v in columns.items() if k != table}
    assert all("(no such table)" in f.evidence for f in broken_mapping(mapping, gone))


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


async def test_monitor_command_reports_the_demo_findings(pg_server: Any, demo_settings: Any, runtime: Any, agent: Any) -> None:
    import asyncio
    import json

    from click.testing import CliRunner

    from gateway.cli import main

    # an attempt beyond duty, so that the ledger has something to say
    await agent("gz-rsj").query('{ person(idNumber: "440106199001011235") { maritalStatus } }', duty="rs.insurance")
    args = ["monitor", "--format", "json", "--database-url", pg_server.url, "--control-database", demo_settings.control_database]
    env = {"GOVSHARE_STORE_DATABASE_PREFIX": demo_settings.store_database_prefix}
    result = await asyncio.to_thread(CliRunner(env=env).invoke, main, args)
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    findings = json.loads(result.output)
    kinds = {(f["kind"], f["agency"]) for f in findings}
    assert ("HIDDEN_CATALOG_INFORMATION", "gz-rsj") in kinds
    assert ("LATE_UPDATE", "gz-swj") in kinds
    assert ("USE_BEYOND_DUTY", "gz-rsj") in kinds
    assert not any(f["kind"] == "LEDGER_TAMPERED" for f in findings)
    beyond = next(f for f in findings if f["kind"] == "USE_BEYOND_DUTY" and f["agency"] == "gz-rsj" and f["object"] == "item P03")
    assert beyond["article"] == "R-34(4)" and "NOT_IN_SCOPE" in beyond["evidence"]


async def test_overdue_supply_is_a_finding(agent: Any, runtime: Any) -> None:
    from gateway.compliance import _overdue_workflows
    from tests.e2e.test_workflows import DECIDE, REQUEST

    requested = (await agent("gz-scjgj").query(REQUEST, {"item": "P02", "duty": "sc.supervision"})).json()["data"]["requestAccess"]
    await agent("gz-zsj").query(DECIDE, {"id": requested["id"], "approved": True})
    await runtime.control.execute("UPDATE access_requests SET supply_due = '2026-10-09' WHERE id = $1", int(requested["id"]))
    findings = await _overdue_workflows(runtime.control, dt.date(2026, 10, 12))
    mine = [f for f in findings if f.object.startswith(f"access request {requested['id']} ")]
    assert [(f.kind, f.agency, f.article) for f in mine] == [("OVERDUE_SUPPLY", "gz-gab", "R-19b")]
    assert "2026-10-09" in mine[0].evidence


@contextlib.asynccontextmanager
async def _ledger_database(pg_server: Any, name: str) -> AsyncIterator[Any]:
    """A migrated control database of its own, for a ledger a test writes by hand."""
    import asyncpg

    from gateway.migrate import migrate

    await pg_server.create_database(name)
    pool = await asyncpg.create_pool(pg_server.dsn(name), min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        yield pool
    finally:
        await pool.close()
        await pg_server.drop_database(name)


async def test_ledger_findings_on_crafted_history(pg_server: Any, run_prefix: str) -> None:
    from gateway.compliance import ledger_findings
    from gateway.ledger import DeniedField, DisclosureEvent, ItemDisclosure, LedgerWriter, subject_hash

    async with _ledger_database(pg_server, f"{run_prefix}monitor_ledger") as pool:
        key = b"k" * 32
        writer = LedgerWriter(pool, hmac_key=key)
        await writer.start()
        now = dt.datetime(2026, 11, 30, 15, tzinfo=CST)

        def event(when: dt.datetime, subjects: int, items: tuple[ItemDisclosure, ...] = (), agency: str = "gz-zfcxjsj") -> DisclosureEvent:
            return DisclosureEvent(
                time=when, request_id="r", agency=agency, client=agency, duty="zj.housing-security", operation_hash="0" * 64,
                outcome="ok", items=items, subjects=tuple(subject_hash(key, f"{when.date()}-{i}") for i in range(subjects)),
            )

        for days in range(1, 15):
            await writer.append(event(now - dt.timedelta(days=days), 10))
        await writer.append(event(now, 400))
        outage = (ItemDisclosure("P06", "gz-rsj", (), (DeniedField("Person.socialInsurance.status", "PROVIDER_UNAVAILABLE"),)),)
        for _ in range(3):
            await writer.append(event(now - dt.timedelta(hours=1), 1, outage, agency="gz-mzj"))
        await writer.close()
        async with pool.acquire() as conn:
            findings = await ledger_findings(conn, now)
    volume = [f for f in findings if f.kind == "UNUSUAL_VOLUME"]
    assert [(f.agency, f.article) for f in volume] == [("gz-zfcxjsj", "R-34(4)")]
    assert "400 subjects today against a daily average of 10" in volume[0].evidence
    refusal = [f for f in findings if f.kind == "PROVIDER_UNAVAILABLE"]
    assert [(f.agency, f.article) for f in refusal] == [("gz-rsj", "R-32")]
    assert "3 request(s)" in refusal[0].evidence


async def test_compliance_query_for_the_operator(agent: Any) -> None:
    body = (await agent("gz-zsj").query("{ compliance { kind severity agency article object evidence } }")).json()
    assert "errors" not in body, body
    kinds = {(f["kind"], f["agency"], f["object"]) for f in body["data"]["compliance"]}
    assert ("HIDDEN_CATALOG_INFORMATION", "gz-rsj", "table unemployment_benefit") in kinds
    assert ("LATE_UPDATE", "gz-swj", "item E04 (tax_credit_rating)") in kinds
    refused = (await agent("gz-mzj").query("{ compliance { kind } }")).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_last_updated_columns_of_any_time_type_are_read_as_moments_in_china() -> None:
    china = dt.timezone(dt.timedelta(hours=8))
    # a date column: updated at some time that day, so at the latest at its end
    assert _moment(dt.date(2026, 3, 31), china) == dt.datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=china)
    # a timestamp without a time zone is the agency's wall clock, not UTC
    assert _moment(dt.datetime(2026, 3, 31, 9, 0), china) == dt.datetime(2026, 3, 31, 9, 0, tzinfo=china)
    assert _moment(dt.datetime(2026, 3, 31, 1, 0, tzinfo=dt.timezone.utc), china) == dt.datetime(2026, 3, 31, 9, 0, tzinfo=china)


async def test_only_refusals_for_duty_are_use_beyond_duty(pg_server: Any, run_prefix: str) -> None:
    from gateway.compliance import ledger_findings
    from gateway.ledger import DeniedField, DisclosureEvent, ItemDisclosure, LedgerWriter

    async with _ledger_database(pg_server, f"{run_prefix}monitor_refusals") as pool:
        writer = LedgerWriter(pool, hmac_key=b"k" * 32)
        await writer.start()
        now = dt.datetime(2026, 11, 30, 15, tzinfo=CST)

        def refused(agency: str, duty: str | None, item: str, provider: str, *denied: tuple[str, str], outcome: str = "refused") -> DisclosureEvent:
            entries = (ItemDisclosure(item, provider, (), tuple(DeniedField(f, c) for f, c in denied)),) if item else ()
            return DisclosureEvent(
                time=now - dt.timedelta(hours=1), request_id="r", agency=agency, client=agency, duty=duty, operation_hash="0" * 64,
                outcome=outcome, items=entries,  # type: ignore[arg-type]
            )

        await writer.append(refused("gz-zfcxjsj", None, "*", "", ("*", "FORBIDDEN")))  # another role's mutation
        await writer.append(refused("gz-zfcxjsj", None, "", ""))  # refused before events said why: nothing to tell
        await writer.append(refused("gz-mzj", None, "*", "", ("*", "DUTY_REQUIRED")))  # no duty named
        for _ in range(2):
            await writer.append(refused("gz-rsj", "mz.assistance", "*", "", ("*", "DUTY_NOT_GRANTED")))
        two_fields = (("Person.maritalStatus", "NOT_IN_SCOPE"), ("Person.marriageCertificates.number", "NOT_IN_SCOPE"))
        await writer.append(refused("gz-rsj", "rs.insurance", "P03", "gz-mzj", *two_fields, outcome="partial"))
        await writer.append(refused("th-mzj", "mz.assistance", "P01", "gz-gab", ("Person.name", "OUT_OF_DIVISION"), ("Person.gender", "OUT_OF_DIVISION")))
        blocked = ("Person.housingSecurity.applicantMaritalStatus", "REDISTRIBUTION_BLOCKED")
        await writer.append(refused("th-mzj", "mz.assistance", "H02", "gz-zfcxjsj", blocked, outcome="partial"))
        await writer.close()
        async with pool.acquire() as conn:
            findings = await ledger_findings(conn, now)
    since = (now - dt.timedelta(days=30)).date()
    assert [(f.kind, f.agency, f.article, f.object, f.evidence) for f in findings if f.kind in ("USE_BEYOND_DUTY", "OUT_OF_DIVISION")] == [
        ("USE_BEYOND_DUTY", "gz-rsj", "R-18", "duty", f"2 request(s) denied with DUTY_NOT_GRANTED under duty mz.assistance since {since}"),
        ("USE_BEYOND_DUTY", "gz-rsj", "R-34(4)", "item P03", f"1 request(s) denied with NOT_IN_SCOPE under duty rs.insurance since {since}"),
        ("OUT_OF_DIVISION", "th-mzj", "R-21a", "item P01", f"1 request(s) denied with OUT_OF_DIVISION under duty mz.assistance since {since}"),
    ]


async def test_refusals_are_recorded_with_their_codes(agent: Any, runtime: Any) -> None:
    import json

    from gateway.compliance import ledger_findings

    async def last_items(agency: str) -> list[dict[str, Any]]:
        items = await runtime.control.fetchval("SELECT items FROM disclosure_events WHERE agency = $1 ORDER BY seq DESC LIMIT 1", agency)
        return json.loads(items)  # type: ignore[no-any-return]

    whole = {"item": "*", "provider": "", "served": []}
    # refused for its duty before anything ran
    assert (await agent("gz-rsj").query('{ person(idNumber: "440106199001011235") { name } }', duty="mz.assistance")).status_code == 403
    assert await last_items("gz-rsj") == [{**whole, "denied": [{"field": "*", "code": "DUTY_NOT_GRANTED"}]}]
    # a mutation of another role
    forbidden = (await agent("gz-zfcxjsj").query('mutation { grantOnwardConsent(originItem: "P03", holder: "gz-zfcxjsj") { id } }')).json()
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await last_items("gz-zfcxjsj") == [{**whole, "denied": [{"field": "*", "code": "FORBIDDEN"}]}]
    # no duty named
    await agent("gz-mzj").query('{ person(idNumber: "440106199001011235") { name } }')
    assert await last_items("gz-mzj") == [{**whole, "denied": [{"field": "*", "code": "DUTY_REQUIRED"}]}]
    # 王芳 lives in another district: the fields th-mzj asked for, refused for the division
    await agent("th-mzj").query('{ person(idNumber: "44010319781120046X") { name socialInsurance { status } } }', duty="mz.assistance")
    assert await last_items("th-mzj") == [
        {"item": "P01", "provider": "gz-gab", "served": [], "denied": [{"field": "Person.name", "code": "OUT_OF_DIVISION"}]},
        {"item": "P06", "provider": "gz-rsj", "served": [], "denied": [{"field": "Person.socialInsurance.status", "code": "OUT_OF_DIVISION"}]},
    ]
    findings = await ledger_findings(runtime.control, dt.datetime.now(CST))
    assert ("OUT_OF_DIVISION", "th-mzj", "R-21a", "item P01") in {(f.kind, f.agency, f.article, f.object) for f in findings}
    beyond = [f for f in findings if f.kind == "USE_BEYOND_DUTY"]
    assert ("gz-rsj", "R-18", "duty") in {(f.agency, f.article, f.object) for f in beyond}
    assert not [f for f in beyond if "FORBIDDEN" in f.evidence or "DUTY_REQUIRED" in f.evidence or "OUT_OF_DIVISION" in f.evidence]
