"""Fan-out, statement counts, read-only stores and provider outages against real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from gateway.app import create_app
from gateway.runtime import Runtime
from resolvers.stores import READ_ONLY_SETTINGS, AgencyStores
from tests.conftest import Agent, codes, error_at

DEMO_PERSONS = [
    "440106199001011235",
    "440106199203154525",
    "44010319781120046X",
    "440111199207085636",
    "440106200002290024",
    "440113199506052343",
]


def resident_id(rng: random.Random) -> str:
    body = f"440106{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


QUERY = "query($ids: [ResidentIdNumber!]!) { persons(idNumbers: $ids) { idNumber name maritalStatus socialInsurance { status } housingSecurity { status } } }"


async def test_persons_with_100_ids_is_one_statement_per_provider(agent: Any, runtime: Runtime) -> None:
    rng = random.Random(7)
    ids = DEMO_PERSONS + [resident_id(rng) for _ in range(94)]
    seen: list[tuple[str, str]] = []
    runtime.stores.observers.append(lambda agency, sql, args: seen.append((agency, sql)))
    try:
        body = (await agent("gz-zfcxjsj").query(QUERY, {"ids": ids}, duty="zj.housing-security")).json()
    finally:
        runtime.stores.observers.clear()
    assert "errors" not in body, body
    assert sorted(a for a, _ in seen) == ["gz-gab", "gz-mzj", "gz-rsj", "gz-zfcxjsj"]
    people = body["data"]["persons"]
    assert len(people) == 100
    assert people[0]["name"] == "张伟" and people[0]["housingSecurity"] == {"status": "waiting"}
    assert people[2]["socialInsurance"] == {"status": "suspended"} and people[2]["housingSecurity"] is None
    assert people[10] is None  # not registered anywhere


async def test_only_requested_and_allowed_columns_are_selected(agent: Any, runtime: Runtime) -> None:
    seen: list[tuple[str, str]] = []
    runtime.stores.observers.append(lambda agency, sql, args: seen.append((agency, sql)))
    try:
        await agent("gz-rsj").query('{ person(idNumber: "440106199001011235") { name maritalStatus } }', duty="rs.insurance")
    finally:
        runtime.stores.observers.clear()
    assert [a for a, _ in seen] == ["gz-gab"]
    sql = seen[0][1]
    assert '"name"' in sql
    for column in ("gender", "birth_date", "domicile_address", "domicile_division"):
        assert f'"{column}"' not in sql


async def test_identifiers_reach_sql_only_as_parameters(agent: Any, runtime: Runtime) -> None:
    seen: list[tuple[str, tuple[Any, ...]]] = []
    runtime.stores.observers.append(lambda agency, sql, args: seen.append((sql, args)))
    try:
        await agent("gz-gab").query('{ person(idNumber: "440106199001011235") { name } }', duty="gab.household")
    finally:
        runtime.stores.observers.clear()
    (sql, args), = seen
    assert "440106199001011235" not in sql
    assert args[0] == ["440106199001011235"]


async def test_too_many_subjects_are_refused(agent: Any) -> None:
    rng = random.Random(3)
    ids = [resident_id(rng) for _ in range(101)]
    body = (await agent("gz-zfcxjsj").query(QUERY, {"ids": ids}, duty="zj.housing-security")).json()
    assert codes(body) == ["TOO_MANY_SUBJECTS"]


async def test_aliases_do_not_multiply_the_limit_on_subjects(agent: Any) -> None:
    rng = random.Random(4)
    ids = [resident_id(rng) for _ in range(100)]
    housing = agent("gz-zfcxjsj")
    two = "query($a: [ResidentIdNumber!]!, $b: [ResidentIdNumber!]!) { a: persons(idNumbers: $a) { name } b: persons(idNumbers: $b) { name } }"
    within = (await housing.query(two, {"a": ids[:50], "b": ids[50:]}, duty="zj.housing-security")).json()
    assert "errors" not in within or "TOO_MANY_SUBJECTS" not in codes(within)
    assert len(within["data"]["a"]) == 50 and len(within["data"]["b"]) == 50
    beyond = (await housing.query(two, {"a": ids[:60], "b": ids[40:]}, duty="zj.housing-security")).json()
    assert "TOO_MANY_SUBJECTS" in codes(beyond)
    assert "got 120 (aliases and single lookups count together)" in " ".join(e["message"] for e in beyond["errors"])
    plus_one = (
        "query($a: [ResidentIdNumber!]!) { persons(idNumbers: $a) { name } "
        'one: person(idNumber: "440106199001011235") { name } }'
    )
    assert "TOO_MANY_SUBJECTS" in codes((await housing.query(plus_one, {"a": ids}, duty="zj.housing-security")).json())
    three = "query($a: [ResidentIdNumber!]!) { persons(idNumbers: $a) { name } " + " ".join(
        f'p{n}: person(idNumber: "{i}") {{ name }}' for n, i in enumerate(ids[98:] + [resident_id(rng)])
    ) + " }"
    assert "TOO_MANY_SUBJECTS" in codes((await housing.query(three, {"a": ids[:98]}, duty="zj.housing-security")).json())
    # and no more than 50 root fields, whatever they ask
    singles = "{ " + " ".join(f'p{n}: person(idNumber: "{i}") {{ name }}' for n, i in enumerate(ids[:51])) + " }"
    assert codes((await housing.query(singles, duty="zj.housing-security")).json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_gateway_store_sessions_are_read_only(runtime: Runtime) -> None:
    pool = runtime.stores.pool("gz-gab")
    async with pool.session() as conn:
        assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("UPDATE population SET name = 'x' WHERE id_number = '440106199001011235'")
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("CREATE TABLE intruder (id int)")
    async with pool.session() as conn:
        assert await conn.fetchval("SELECT name FROM population WHERE id_number = '440106199001011235'") == "张伟"
    assert READ_ONLY_SETTINGS["default_transaction_read_only"] == "on"


class SilentPeer:
    """A TCP peer that accepts connections and never answers: a hung provider."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.AbstractServer | None = None

    async def hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        await reader.read()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.hold, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture()
async def outage_client(demo_settings: Any, demo_databases: Any) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    peer = SilentPeer()
    port = await peer.start()
    stores = dict(demo_databases.store_dsns)
    stores["gz-rsj"] = f"postgresql://postgres@127.0.0.1:{port}/nothing"  # hangs
    stores["gz-mzj"] = "postgresql://postgres@127.0.0.1:1/nothing"  # refused at once
    from dataclasses import replace

    settings = replace(demo_settings, provider_timeout=0.5)
    app = create_app(lambda: Runtime.start(settings, demo_databases.control_dsn, stores))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            yield http, port
    await peer.stop()


async def test_provider_down_or_hung_nulls_only_its_fields(outage_client: tuple[httpx.AsyncClient, int]) -> None:
    http, _ = outage_client
    housing = Agent(http, "gz-zfcxjsj")
    response = await housing.query(
        '{ person(idNumber: "440106199001011235") { name maritalStatus socialInsurance { status } housingSecurity { status } } }',
        duty="zj.housing-security",
    )
    body = response.json()
    assert response.status_code == 200
    person = body["data"]["person"]
    assert person["name"] == "张伟"
    assert person["housingSecurity"] == {"status": "waiting"}
    assert person["maritalStatus"] is None
    assert person["socialInsurance"] == {"status": None}
    rsj = error_at(body, "person", "socialInsurance", "status")
    mzj = error_at(body, "person", "maritalStatus")
    assert rsj["extensions"] == {"code": "PROVIDER_UNAVAILABLE", "provider": "gz-rsj"}
    assert mzj["extensions"] == {"code": "PROVIDER_UNAVAILABLE", "provider": "gz-mzj"}
    assert sorted(codes(body)) == ["PROVIDER_UNAVAILABLE", "PROVIDER_UNAVAILABLE"]
    assert {i["item"] for i in body["extensions"]["sharing"]["items"]} == {"P01", "H01"}
    ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["gz-rsj"] is False and ready.json()["checks"]["gz-gab"] is True


async def test_unknown_agency_store_is_unavailable() -> None:
    stores = AgencyStores({}, timeout=0.5)
    from resolvers.stores import ProviderUnavailable

    with pytest.raises(ProviderUnavailable, match="no data store"):
        await stores.fetch("gz-gab", "SELECT 1", ())
