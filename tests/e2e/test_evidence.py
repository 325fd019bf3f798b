"""Electronic seals on licenses and documents, and data snapshots of administrative acts."""

from __future__ import annotations

import base64
import json
from typing import Any

import asyncpg
import pytest

from tests.conftest import codes

ZHANG_WEI = "440106199001011235"
CERTIFICATE = f'{{ person(idNumber: "{ZHANG_WEI}") {{ marriageCertificates {{ number issuedOn spouseName seal }} }} }}'
VERIFY = "query($s: String!) { verifySeal(seal: $s) { valid item provider subject signedAt fields reason } }"


def tamper(token: str) -> str:
    head, payload, signature = token.split(".")
    record = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    record["fields"]["spouseName"] = "李那"
    forged = base64.urlsafe_b64encode(json.dumps(record, ensure_ascii=False).encode()).decode().rstrip("=")
    return f"{head}.{forged}.{signature}"


async def test_license_carries_a_verifiable_seal(agent: Any) -> None:
    housing = agent("gz-zfcxjsj")
    body = (await housing.query(CERTIFICATE, duty="zj.housing-security")).json()
    assert "errors" not in body, body
    certificate = body["data"]["person"]["marriageCertificates"][0]
    assert certificate["number"] == "J440106-2018-001234"
    verified = (await housing.query(VERIFY, {"s": certificate["seal"]})).json()["data"]["verifySeal"]
    assert verified["valid"] is True and verified["reason"] is None
    assert verified["item"] == "P04" and verified["provider"] == "gz-mzj" and verified["subject"] == ZHANG_WEI
    assert verified["fields"] == {"number": "J440106-2018-001234", "issuedOn": "2018-05-20", "spouseName": "李娜", "spouseIdNumber": "440106199203154525"}
    forged = (await housing.query(VERIFY, {"s": tamper(certificate["seal"])})).json()["data"]["verifySeal"]
    assert forged["valid"] is False and forged["reason"] == "bad signature"


async def test_a_seal_alone_is_recorded_as_the_whole_item_it_carries(agent: Any, runtime: Any) -> None:
    # the seal's payload holds every field of the license: asking for the seal alone is a read of them all
    body = (await agent("gz-gab").query(f'{{ person(idNumber: "{ZHANG_WEI}") {{ marriageCertificates {{ seal }} }} }}', duty="gab.household")).json()
    assert "errors" not in body, body
    row = await runtime.control.fetchrow("SELECT items, subjects FROM disclosure_events WHERE agency = 'gz-gab' ORDER BY seq DESC LIMIT 1")
    items = {i["item"]: i for i in json.loads(row["items"])}
    assert set(items["P04"]["served"]) == {
        "Person.marriageCertificates.number", "Person.marriageCertificates.issuedOn",
        "Person.marriageCertificates.spouseName", "Person.marriageCertificates.spouseIdNumber",
    }
    assert len(row["subjects"]) == 1
    found = (await agent("gz-zsj").query(f'{{ disclosures(subject: "{ZHANG_WEI}") {{ agency items }} }}')).json()["data"]["disclosures"]
    assert {"agency": "gz-gab", "items": ["P04"]} in found


async def test_seal_keys_are_published(client: Any, agent: Any) -> None:
    body = (await agent("gz-gab").query('{ legalEntity(uscc: "91440106MA59C8K17D") { businessLicense { number seal } } }', duty="gab.household")).json()
    seal = body["data"]["legalEntity"]["businessLicense"]["seal"]
    kid = json.loads(base64.urlsafe_b64decode(seal.split(".")[0] + "=="))["kid"]
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert kid.startswith("gz-scjgj-") and kid in {k["kid"] for k in keys}


async def test_seal_is_denied_with_its_item(agent: Any) -> None:
    body = (await agent("gz-rsj").query(CERTIFICATE, duty="rs.insurance")).json()
    assert body["data"]["person"]["marriageCertificates"] is None
    assert codes(body) == ["NOT_IN_SCOPE"] and body["errors"][0]["extensions"]["item"] == "P04"


async def test_case_id_fixes_a_snapshot(agent: Any) -> None:
    housing = agent("gz-zfcxjsj")
    response = await housing.query(
        f'{{ person(idNumber: "{ZHANG_WEI}") {{ name marriageCertificates {{ number spouseName }} }} }}',
        duty="zj.housing-security",
        headers={"X-Case-Id": "ZJ-2026-7"},
    )
    body = response.json()
    snapshot_id = body["extensions"]["snapshot"]["id"]
    fetched = (
        await housing.query(
            "query($id: ID!) { snapshot(id: $id) { id agency duty caseId verified verificationProblem entries { item provider subject fields served seal } } }",
            {"id": snapshot_id},
        )
    ).json()["data"]["snapshot"]
    assert fetched["verified"] is True and fetched["verificationProblem"] is None
    assert fetched["agency"] == "gz-zfcxjsj" and fetched["duty"] == "zj.housing-security" and fetched["caseId"] == "ZJ-2026-7"
    (entry,) = fetched["entries"]
    assert entry["item"] == "P04" and entry["served"] == ["number", "spouseName"]
    assert entry["fields"]["number"] == "J440106-2018-001234"
    listed = (await housing.query('{ snapshots(caseId: " ZJ-2026-7 ") { id } }')).json()["data"]["snapshots"]
    nul = (await housing.query('{ snapshots(caseId: "ZJ\\u0000") { id } }')).json()
    assert codes(nul) == ["BAD_REQUEST"] and "caseId must not contain NUL" in nul["errors"][0]["message"]
    assert snapshot_id in [s["id"] for s in listed]
    operator = (await agent("gz-zsj").query("query($id: ID!) { snapshot(id: $id) { id } }", {"id": snapshot_id})).json()
    assert operator["data"]["snapshot"]["id"] == snapshot_id
    stranger = (await agent("gz-rsj").query("query($id: ID!) { snapshot(id: $id) { id } }", {"id": snapshot_id})).json()
    assert codes(stranger) == ["NOT_FOUND"]


async def test_snapshot_flag_without_case(agent: Any) -> None:
    body = (await agent("gz-gab").query('{ legalEntity(uscc: "91440106MA59C8K17D", snapshot: true) { name businessLicense { number } } }', duty="gab.household")).json()
    assert body["extensions"]["snapshot"]["records"] == 1
    plain = (await agent("gz-gab").query('{ legalEntity(uscc: "91440106MA59C8K17D") { businessLicense { number } } }', duty="gab.household")).json()
    assert "snapshot" not in plain["extensions"]


async def test_snapshots_are_immutable_and_tampering_is_detected(agent: Any, runtime: Any) -> None:
    body = (await agent("gz-gab").query('{ legalEntity(uscc: "91440103MA5D3N7W37", snapshot: true) { businessLicense { number businessScope } } }', duty="gab.household")).json()
    snapshot_id = body["extensions"]["snapshot"]["id"]
    async with runtime.control.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="immutable"):
            await conn.execute("UPDATE snapshots SET duty = 'x' WHERE id = $1::uuid", snapshot_id)
        with pytest.raises(asyncpg.RaiseError, match="immutable"):
            await conn.execute("DELETE FROM snapshots WHERE id = $1::uuid", snapshot_id)
        # behind the trigger's back
        await conn.execute("ALTER TABLE snapshots DISABLE TRIGGER snapshots_immutable")
        try:
            await conn.execute(
                "UPDATE snapshots SET records = jsonb_set(records, '{0,fields,businessScope}', '\"军火贸易\"') WHERE id = $1::uuid", snapshot_id
            )
        finally:
            await conn.execute("ALTER TABLE snapshots ENABLE TRIGGER snapshots_immutable")
    fetched = (await agent("gz-gab").query("query($id: ID!) { snapshot(id: $id) { verified verificationProblem } }", {"id": snapshot_id})).json()
    assert fetched["data"]["snapshot"] == {"verified": False, "verificationProblem": "the stored snapshot differs from what the gateway signed"}


async def test_concurrent_seal_key_rotations_lose_no_key(runtime: Any) -> None:
    import asyncio

    from gateway.evidence import rotate_seal_key, stored_seal_keyring

    kids = await asyncio.gather(*(rotate_seal_key(runtime.control, "gz-mzj") for _ in range(3)))
    assert len(set(kids)) == 3
    stored = (await stored_seal_keyring(runtime.control)).export_private()
    assert all(kid in json.dumps(stored) for kid in kids)
    with pytest.raises(KeyError):
        await rotate_seal_key(runtime.control, "gz-rsj")  # provides no licenses or documents: it does not seal
