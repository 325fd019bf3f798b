"""Catalog changes (R-9): widenings at once, narrowings only after approval, switched without a restart."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from authz.changes import ChangeKind
from gateway.catalog_files import bundle_from_documents
from gateway.catalog_versions import _insert_version, _with_item

from tests.conftest import codes

ZHANG_WEI = "440106199001011235"
PROPOSE = "mutation($item: String!, $kind: CatalogChangeKind!, $duty: String) { proposeCatalogChange(item: $item, kind: $kind, duty: $duty, reason: \"test\") { id status version kind } }"
APPROVE = 'mutation($id: ID!) { approveCatalogChange(id: $id, approvalReference: "穗府函〔2026〕12号") { status version approvedBy approvalReference } }'
MARITAL = f'{{ person(idNumber: "{ZHANG_WEI}") {{ maritalStatus }} }}'


async def test_widening_publishes_and_narrowing_waits_for_approval(agent: Any) -> None:
    operator, insurance = agent("gz-zsj"), agent("gz-rsj")
    assert codes((await insurance.query(MARITAL, duty="rs.insurance")).json()) == ["NOT_IN_SCOPE"]
    before = (await operator.query("{ catalogVersion }")).json()["data"]["catalogVersion"]

    widened = (await operator.query(PROPOSE, {"item": "P03", "kind": "WIDEN_SCOPE", "duty": "rs.insurance"})).json()
    assert "errors" not in widened, widened
    assert widened["data"]["proposeCatalogChange"]["status"] == "published"
    assert widened["data"]["proposeCatalogChange"]["version"] == before + 1
    assert (await insurance.query(MARITAL, duty="rs.insurance")).json()["data"]["person"] == {"maritalStatus": "married"}

    narrowing = (await operator.query(PROPOSE, {"item": "P03", "kind": "NARROW_SCOPE", "duty": "rs.insurance"})).json()["data"]["proposeCatalogChange"]
    assert narrowing["status"] == "awaiting-approval" and narrowing["version"] is None
    twice = (await operator.query(PROPOSE, {"item": "P03", "kind": "NARROW_SCOPE", "duty": "rs.insurance"})).json()
    assert codes(twice) == ["BAD_REQUEST"] and f"catalog change {narrowing['id']} already proposes this change" in twice["errors"][0]["message"]
    # not in effect before the approval
    assert (await insurance.query(MARITAL, duty="rs.insurance")).json()["data"]["person"] == {"maritalStatus": "married"}

    approved = (await operator.query(APPROVE, {"id": narrowing["id"]})).json()["data"]["approveCatalogChange"]
    assert approved["status"] == "published" and approved["approvedBy"] == "gz-zsj" and approved["version"] == before + 2
    assert codes((await insurance.query(MARITAL, duty="rs.insurance")).json()) == ["NOT_IN_SCOPE"]

    versions = (await operator.query("{ catalogVersions { version author reason } }")).json()["data"]["catalogVersions"]
    assert versions[-1]["version"] == before + 2 and "approved: 穗府函〔2026〕12号" in versions[-1]["reason"]
    assert versions[-2]["author"] == "gz-zsj" and "WIDEN_SCOPE P03 rs.insurance" in versions[-2]["reason"]
    again = (await operator.query(APPROVE, {"id": narrowing["id"]})).json()
    assert codes(again) == ["BAD_REQUEST"]
    listed = (await operator.query('{ catalogChanges(status: "published") { id } }')).json()["data"]["catalogChanges"]
    assert narrowing["id"] in [c["id"] for c in listed]
    for status in ("bogus", "published\\u0000"):
        refused = (await operator.query(f'{{ catalogChanges(status: "{status}") {{ id }} }}')).json()
        assert codes(refused) == ["BAD_REQUEST"] and "use one of awaiting-approval, published, rejected" in refused["errors"][0]["message"]


async def test_only_the_operator_changes_the_catalog(agent: Any) -> None:
    body = (await agent("gz-mzj").query(PROPOSE, {"item": "P03", "kind": "WIDEN_SCOPE", "duty": "rs.insurance"})).json()
    assert codes(body) == ["FORBIDDEN"]


async def test_impossible_changes_are_refused(agent: Any) -> None:
    operator = agent("gz-zsj")
    cases = [
        ({"item": "P01", "kind": "WIDEN_SCOPE", "duty": "rs.insurance"}, "unconditional"),
        ({"item": "P03", "kind": "WIDEN_SCOPE", "duty": "gab.household"}, "already in the scope"),
        ({"item": "P99", "kind": "MAKE_PUBLIC", "duty": None}, "not in the catalog"),
        ({"item": "P03", "kind": "WIDEN_SCOPE", "duty": "xx.nothing"}, "held by no registered agency"),
        ({"item": "H01", "kind": "NARROW_SCOPE", "duty": "mz.assistance"}, "last duty"),
        ({"item": "P07", "kind": "MAKE_PUBLIC", "duty": None}, "never shared"),
        ({"item": "P03", "kind": "WIDEN_SCOPE", "duty": "platform.operate"}, "gz-zsj holds duty platform.operate itself"),
        ({"item": "H02", "kind": "MAKE_PUBLIC", "duty": None}, "holds copies of P03 obtained through sharing"),
    ]
    for variables, fragment in cases:
        body = (await operator.query(PROPOSE, variables)).json()
        assert codes(body) == ["BAD_REQUEST"], body
        assert fragment in body["errors"][0]["message"]


async def test_a_change_applies_to_the_newest_stored_version(agent: Any, runtime: Any) -> None:
    # another gateway stored a version (P03 widened to rs.insurance) that this one has not heard of
    operator, insurance = agent("gz-zsj"), agent("gz-rsj")
    async with runtime.control.acquire() as conn, conn.transaction():
        latest = await conn.fetchrow("SELECT version, base_digest, document FROM catalog_versions ORDER BY version DESC LIMIT 1")
        base = bundle_from_documents(json.loads(latest["document"]))
        other = bundle_from_documents(_with_item(dict(base.document), base, "P03", ChangeKind.WIDEN_SCOPE, "rs.insurance"))
        await _insert_version(conn, latest["version"] + 1, other, latest["base_digest"], "another gateway", "test")
    widened = (await operator.query(PROPOSE, {"item": "P06", "kind": "WIDEN_SCOPE", "duty": "mz.marriage"})).json()
    assert widened["data"]["proposeCatalogChange"]["version"] == latest["version"] + 2, widened
    # both changes are in force: the one published here did not undo the other
    assert (await insurance.query(MARITAL, duty="rs.insurance")).json()["data"]["person"] == {"maritalStatus": "married"}
    scopes = runtime.bundle.catalog.items
    assert "rs.insurance" in scopes["P03"].duties_in_scope and "mz.marriage" in scopes["P06"].duties_in_scope
    for item, duty in (("P03", "rs.insurance"), ("P06", "mz.marriage")):
        narrowing = (await operator.query(PROPOSE, {"item": item, "kind": "NARROW_SCOPE", "duty": duty})).json()["data"]["proposeCatalogChange"]
        no_reference = (await operator.query('mutation($id: ID!) { approveCatalogChange(id: $id, approvalReference: "  ") { status } }', {"id": narrowing["id"]})).json()
        assert codes(no_reference) == ["BAD_REQUEST"] and "government decision" in no_reference["errors"][0]["message"]
        assert (await operator.query(APPROVE, {"id": narrowing["id"]})).json()["data"]["approveCatalogChange"]["status"] == "published"
    assert codes((await insurance.query(MARITAL, duty="rs.insurance")).json()) == ["NOT_IN_SCOPE"]


async def test_catalog_switch_under_load_fails_no_request(agent: Any) -> None:
    operator, housing = agent("gz-zsj"), agent("gz-zfcxjsj")
    await housing.token()
    query = f'{{ person(idNumber: "{ZHANG_WEI}") {{ name maritalStatus socialInsurance {{ status }} }} }}'

    async def load() -> list[Any]:
        return [await housing.query(query, duty="zj.housing-security") for _ in range(40)]

    async def switch() -> None:
        widened = (await operator.query(PROPOSE, {"item": "P05", "kind": "WIDEN_SCOPE", "duty": "mz.assistance"})).json()
        narrowing = (await operator.query(PROPOSE, {"item": "P05", "kind": "NARROW_SCOPE", "duty": "mz.assistance"})).json()
        await operator.query(APPROVE, {"id": narrowing["data"]["proposeCatalogChange"]["id"]})
        assert widened["data"]["proposeCatalogChange"]["status"] == "published"

    results = await asyncio.gather(*(load() for _ in range(5)), switch())
    responses = [r for batch in results[:5] for r in batch]
    assert len(responses) == 200
    for response in responses:
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        assert body["data"]["person"]["maritalStatus"] == "married"
