"""The disclosure ledger behind the real app: one event per operation, fail closed, verify, queries."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from click.testing import CliRunner

from gateway.app import create_app
from gateway.cli import main
from gateway.provision import provision_demo
from gateway.runtime import Runtime
from tests.conftest import Agent, codes

ZHANG_WEI = "440106199001011235"
QUERY = f'{{ person(idNumber: "{ZHANG_WEI}") {{ name maritalStatus }} }}'


async def count_events(runtime: Runtime) -> int:
    return int(await runtime.control.fetchval("SELECT count(*) FROM disclosure_events"))


async def test_every_operation_appends_one_event(agent: Any, runtime: Runtime) -> None:
    before = await count_events(runtime)
    await agent("gz-zfcxjsj").query(QUERY, duty="zj.housing-security")  # ok
    await agent("gz-rsj").query(QUERY, duty="rs.insurance")  # partial
    await agent("gz-rsj").query(QUERY, duty="mz.assistance")  # refused for its duty (403)
    await agent("gz-mzj").query("{ catalogVersion }")  # no data
    assert await count_events(runtime) == before + 4
    rows = await runtime.control.fetch("SELECT agency, duty, outcome, items, subjects FROM disclosure_events ORDER BY seq DESC LIMIT 4")
    assert [(r["agency"], r["outcome"]) for r in reversed(rows)] == [("gz-zfcxjsj", "ok"), ("gz-rsj", "partial"), ("gz-rsj", "refused"), ("gz-mzj", "ok")]
    partial = rows[2]
    assert '"NOT_IN_SCOPE"' in partial["items"] and '"P03"' in partial["items"]
    assert len(partial["subjects"]) == 1 and ZHANG_WEI not in partial["subjects"][0]


async def test_operation_names_are_checked_before_anything_is_recorded(agent: Any, runtime: Runtime, client: httpx.AsyncClient) -> None:
    # a NUL or an unpaired surrogate in operationName used to reach the ledger through the
    # refused-duty path and fail the whole group commit, other agencies' events with it
    rsj = agent("gz-rsj")
    headers = {"Authorization": f"Bearer {await rsj.token()}", "X-Duty": "mz.assistance"}
    before = await count_events(runtime)
    for name in ("a\u0000", "a\ud800", "1st", "a-b", "x" * 257, 5):
        body = json.dumps({"query": "{ catalogVersion }", "operationName": name})  # escapes NUL and the lone surrogate
        response = await client.post("/graphql", content=body.encode(), headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 400, (name, response.text)
        message = response.json()["errors"][0]["message"]
        assert codes(response.json()) == ["BAD_REQUEST"] and ("operationName" in message or "unpaired surrogate" in message)
    refused = await client.get("/graphql", params={"query": "{ catalogVersion }", "operationName": "a\x00"}, headers=headers)
    assert refused.status_code == 400
    assert await count_events(runtime) == before
    named = await client.post("/graphql", json={"query": "query Version_2 { catalogVersion }", "operationName": "Version_2"}, headers=headers)
    assert named.status_code == 403 and codes(named.json()) == ["DUTY_NOT_GRANTED"]
    unnamed = await client.post("/graphql", json={"query": "{ catalogVersion }", "operationName": ""}, headers={"Authorization": headers["Authorization"]})
    assert unnamed.status_code == 200 and "errors" not in unnamed.json()
    rows = await runtime.control.fetch("SELECT operation_name, outcome FROM disclosure_events ORDER BY seq DESC LIMIT 2")
    assert [(r["operation_name"], r["outcome"]) for r in rows] == [(None, "ok"), ("Version_2", "refused")]


async def test_an_event_the_ledger_refuses_is_not_served(agent: Any, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.app

    def unrecordable(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("case_id must be text without NUL characters or unpaired surrogates")

    before = await count_events(runtime)
    monkeypatch.setattr(gateway.app, "disclosure_event", unrecordable)
    response = await agent("gz-zfcxjsj").query(QUERY, duty="zj.housing-security")
    assert response.status_code == 503
    assert codes(response.json()) == ["AUDIT_UNAVAILABLE"] and response.json()["data"] is None
    assert await count_events(runtime) == before


async def test_a_provider_sees_only_its_own_part_of_who_read_its_items(agent: Any) -> None:
    both = f'query Mixed {{ person(idNumber: "{ZHANG_WEI}") {{ name maritalStatus socialInsurance {{ status }} }} }}'
    await agent("gz-zfcxjsj").query(both, duty="zj.housing-security", headers={"X-Case-Id": "ZJ-CONFIDENTIAL-7"})
    provider = agent("gz-mzj")
    events = (await provider.query('{ auditEvents(agency: "gz-zfcxjsj", limit: 1000) { events { caseId operationName providers items } } }')).json()
    mine = [e for e in events["data"]["auditEvents"]["events"] if e["items"]]
    assert mine and all({i["provider"] for i in e["items"]} == {"gz-mzj"} for e in mine)
    assert all(e["providers"] in ([], ["gz-mzj"]) and e["caseId"] is None and e["operationName"] is None for e in events["data"]["auditEvents"]["events"])
    # no asking about another provider's item, with or without a subject
    other = (await provider.query(f'{{ auditEvents(agency: "gz-zfcxjsj", item: "P06", subject: "{ZHANG_WEI}") {{ nextCursor }} }}')).json()
    assert codes(other) == ["FORBIDDEN"]
    found = (await provider.query(f'{{ disclosures(subject: "{ZHANG_WEI}") {{ agency caseId items }} }}')).json()["data"]["disclosures"]
    assert found and all(d["caseId"] is None for d in found)
    operator = (await agent("gz-zsj").query(f'{{ disclosures(subject: "{ZHANG_WEI}") {{ caseId }} }}')).json()["data"]["disclosures"]
    assert {"caseId": "ZJ-CONFIDENTIAL-7"} in operator


async def test_concurrent_requests_lose_no_event_and_share_commits(agent: Any, runtime: Runtime) -> None:
    housing = agent("gz-zfcxjsj")
    await housing.token()
    before, batches = await count_events(runtime), runtime.ledger.stats.batches
    responses = await asyncio.gather(*(housing.query(QUERY, duty="zj.housing-security") for _ in range(150)))
    assert all(r.status_code == 200 for r in responses)
    assert await count_events(runtime) == before + 150
    assert runtime.ledger.stats.batches - batches < 150


async def test_disclosures_answer_who_read_a_person(agent: Any) -> None:
    await agent("gz-zfcxjsj").query(QUERY, duty="zj.housing-security", headers={"X-Case-Id": "ZJ-2026-99"})
    operator = (await agent("gz-zsj").query(f'{{ disclosures(subject: "{ZHANG_WEI}") {{ agency duty caseId items }} }}')).json()
    found = operator["data"]["disclosures"]
    assert {"agency": "gz-zfcxjsj", "duty": "zj.housing-security", "caseId": "ZJ-2026-99", "items": ["P01", "P03"]} in found
    provider = (await agent("gz-mzj").query(f'{{ disclosures(subject: "{ZHANG_WEI}") {{ agency items }} }}')).json()["data"]["disclosures"]
    # a provider sees only its own items (gz-mzj: P03, P04, P05)
    assert provider and all(set(d["items"]) <= {"P03", "P04", "P05"} for d in provider)
    assert any(d["items"] == ["P03"] and d["agency"] == "gz-zfcxjsj" for d in provider)
    stranger = (await agent("th-mzj").query(f'{{ disclosures(subject: "{ZHANG_WEI}") {{ agency }} }}')).json()
    assert codes(stranger) == ["FORBIDDEN"]
    invalid = (await agent("gz-zsj").query('{ disclosures(subject: "440106199001011234") { agency } }')).json()
    assert codes(invalid) == ["INVALID_IDENTIFIER"]


async def test_audit_events_by_role(agent: Any) -> None:
    await agent("gz-rsj").query(QUERY, duty="rs.insurance")
    mine = (await agent("gz-rsj").query("{ auditEvents(limit: 5) { events { agency outcome items } nextCursor } }")).json()
    assert all(e["agency"] == "gz-rsj" for e in mine["data"]["auditEvents"]["events"])
    # a provider sees who read or tried to read its items
    theirs = (await agent("gz-mzj").query('{ auditEvents(agency: "gz-rsj", limit: 50) { events { agency items } } }')).json()
    events = theirs["data"]["auditEvents"]["events"]
    assert events and all(any(i["provider"] == "gz-mzj" for i in e["items"]) for e in events)
    page = (await agent("gz-zsj").query('{ auditEvents(agency: "gz-rsj", outcome: "partial", limit: 1) { events { seq outcome } nextCursor } }')).json()
    first = page["data"]["auditEvents"]
    assert first["events"][0]["outcome"] == "partial"
    if first["nextCursor"] is not None:
        second = (await agent("gz-zsj").query(f'{{ auditEvents(agency: "gz-rsj", outcome: "partial", limit: 1, after: {first["nextCursor"]}) {{ events {{ seq }} }} }}')).json()
        assert second["data"]["auditEvents"]["events"][0]["seq"] > first["events"][0]["seq"]
    bad = (await agent("gz-zsj").query('{ auditEvents(outcome: "maybe") { nextCursor } }')).json()
    assert codes(bad) == ["BAD_REQUEST"]


@pytest.fixture()
async def separate_control(pg_server: Any, demo_settings: Any, run_prefix: str) -> AsyncIterator[tuple[Any, Any, str]]:
    settings = dataclasses.replace(demo_settings, control_database=f"{run_prefix}control_ledger")
    databases = await provision_demo(pg_server, settings)
    app = create_app(lambda: Runtime.start(settings, databases.control_dsn, databases.store_dsns))
    try:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
                yield http, app.state.runtime, settings.control_database
    except* (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
        pass  # the test dropped the control database under the running app


async def test_verify_detects_tampering_and_requests_fail_closed_without_ledger(
    separate_control: tuple[httpx.AsyncClient, Runtime, str], pg_server: Any
) -> None:
    http, runtime, control_name = separate_control
    housing = Agent(http, "gz-zfcxjsj")
    for _ in range(3):
        assert (await housing.query(QUERY, duty="zj.housing-security")).status_code == 200
    await runtime.ledger.checkpoint()
    runner = CliRunner()
    args = ["audit", "verify", "--database-url", pg_server.url, "--control-database", control_name]
    intact = await asyncio.to_thread(runner.invoke, main, args)
    assert intact.exit_code == 0, intact.output
    assert "ledger intact" in intact.output

    async with runtime.control.acquire() as conn:
        await conn.execute("ALTER TABLE disclosure_events DISABLE TRIGGER USER")
        await conn.execute("UPDATE disclosure_events SET duty = 'rs.insurance' WHERE seq = 2")
        await conn.execute("ALTER TABLE disclosure_events ENABLE TRIGGER USER")
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("DELETE FROM disclosure_events WHERE seq = 1")
    broken = await asyncio.to_thread(runner.invoke, main, args)
    assert broken.exit_code == 1
    assert "broken at event 2" in broken.output

    await pg_server.drop_database(control_name)
    response = await housing.query(QUERY, duty="zj.housing-security")
    assert response.status_code == 503
    body = response.json()
    assert codes(body) == ["AUDIT_UNAVAILABLE"] and body["data"] is None


async def test_audit_filters_the_database_cannot_take_are_the_clients_to_fix(agent: Any) -> None:
    operator = agent("gz-zsj")
    query = "query($since: DateTime, $duty: String) { auditEvents(since: $since, duty: $duty) { nextCursor } }"
    naive = (await operator.query(query, {"since": "9999-12-31T23:59:59"})).json()
    assert "errors" not in naive, naive
    for since in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        body = (await operator.query(query, {"since": since})).json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST" and "years 1-9999" in body["errors"][0]["message"], body
    nul = (await operator.query(query, {"duty": "mz\u0000assistance"})).json()
    assert nul["errors"][0]["extensions"]["code"] == "BAD_REQUEST" and "duty" in nul["errors"][0]["message"], nul
    fine = (await operator.query(query, {"since": "2026-01-01T08:00:00+08:00"})).json()
    assert "errors" not in fine, fine
    short = (await operator.query('{ disclosures(subject: "44010619900101123") { agency } }')).json()
    error = short["errors"][0]
    assert error["extensions"]["code"] == "INVALID_IDENTIFIER"
    assert "neither a resident ID number nor a unified social credit code" in error["message"] and "ResidentIdNumber" in error["message"]


async def test_case_ids_are_utf8_and_bounded(agent: Any) -> None:
    housing = agent("gz-zfcxjsj")
    await housing.query(QUERY, duty="zj.housing-security", headers={"X-Case-Id": "住建-2026-案件-001".encode()})  # type: ignore[dict-item]
    found = (await agent("gz-zsj").query(f'{{ disclosures(subject: "{ZHANG_WEI}") {{ caseId }} }}')).json()["data"]["disclosures"]
    assert {"caseId": "住建-2026-案件-001"} in found
    for bad in (b"\xff\xfe", b"x" * 129, b"ZJ\x01"):
        response = await housing.query(QUERY, duty="zj.housing-security", headers={"X-Case-Id": bad})  # type: ignore[dict-item]
        assert response.status_code == 400 and codes(response.json()) == ["BAD_REQUEST"], bad
        assert "X-Case-Id" in response.json()["errors"][0]["message"]
