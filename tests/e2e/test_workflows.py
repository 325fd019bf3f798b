"""The regulation's workflows through the real HTTP app: objections (R-22), access requests
(R-19a/R-19b), complaints (R-33) and obtainable materials (R-24b)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from gateway.app import CHINA_TZ
from gateway.workdays import add_working_days
from resolvers.workflows import overdue_steps, overdue_supplies, scope_grants
from tests.conftest import codes

ZHANG_WEI = "440106199001011235"
LI_NA = "440106199203154525"
CHEN_JING = "440106200002290024"
TIANHE_COMPANY = "91440106MA59C8K17D"
LIWAN_COMPANY = "91440103MA5D3N7W37"
WANG_FANG = "44010319781120046X"
OPERATOR = "gz-zsj"

OBJECTION = "id item provider subject field status outcome rereadRequired overdue filedBy duty openStep { step awaiting startedOn due estimated overdue } steps { action actor at note }"
FILE = f"mutation($item: String!, $subject: String!, $field: String!, $value: String!, $reason: String!) {{ fileObjection(item: $item, subject: $subject, field: $field, claimedValue: $value, reason: $reason) {{ {OBJECTION} }} }}"
REVIEW = f"mutation($id: ID!, $outcome: ObjectionReview!, $note: String) {{ reviewObjection(id: $id, outcome: $outcome, note: $note) {{ {OBJECTION} }} }}"
ANSWER = f"mutation($id: ID!, $outcome: ProviderFinding!) {{ answerObjection(id: $id, outcome: $outcome, note: \"checked against the register\") {{ {OBJECTION} }} }}"
GET = f"query($id: ID!) {{ objection(id: $id) {{ {OBJECTION} }} }}"
REQUEST_FIELDS = "id item provider duty requester status decisionReference decidedOn supplyDue supplyDueEstimated suppliedOn suppliedLate overdue steps { action actor note }"
REQUEST = f"mutation($item: String!, $duty: String!) {{ requestAccess(item: $item, duty: $duty, justification: \"needed to decide applications\") {{ {REQUEST_FIELDS} }} }}"
DECIDE = f"mutation($id: ID!, $approved: Boolean!) {{ decideAccessRequest(id: $id, approved: $approved, decisionReference: \"穗府办函〔2026〕12号\") {{ {REQUEST_FIELDS} }} }}"
SUPPLY = f"mutation($id: ID!) {{ confirmSupply(id: $id) {{ {REQUEST_FIELDS} }} }}"
MATERIALS = "query($s: String!, $m: [String!]!) { obtainableMaterials(subject: $s, materials: $m) { material item itemName provider obtainable code reason } }"


def today() -> dt.date:
    return dt.datetime.now(CHINA_TZ).date()


def data(body: dict[str, Any], name: str) -> Any:
    assert "errors" not in body, body["errors"]
    return body["data"][name]


async def run(agent: Any, agency: str, query: str, x_duty: str | None = None, **variables: Any) -> dict[str, Any]:
    return (await agent(agency).query(query, variables, duty=x_duty)).json()  # type: ignore[no-any-return]


async def file(
    agent: Any, agency: str, duty: str | None, item: str = "P03", subject: str = ZHANG_WEI, field: str = "Person.maritalStatus",
    reason: str = "the applicant shows a divorce certificate of 2025",
) -> dict[str, Any]:
    return await run(agent, agency, FILE, duty, item=item, subject=subject, field=field, value="divorced", reason=reason)


# --- objections (R-22) ---------------------------------------------------------------------


async def test_objection_confirmed_by_the_operator(agent: Any) -> None:
    filed = data(await file(agent, "gz-zfcxjsj", "zj.housing-security", field="maritalStatus"), "fileObjection")
    due = add_working_days(today(), 3)
    assert filed["status"] == "FILED" and filed["field"] == "Person.maritalStatus" and filed["provider"] == "gz-mzj"
    assert filed["openStep"] == {"step": "operator review", "awaiting": OPERATOR, "startedOn": today().isoformat(), "due": due.due.isoformat(), "estimated": due.estimated, "overdue": False}
    assert [(s["action"], s["actor"]) for s in filed["steps"]] == [("filed", "gz-zfcxjsj")]
    oid = filed["id"]
    # before it is forwarded the provider neither sees nor answers it; the filer does not review it
    assert codes(await run(agent, "gz-mzj", GET, id=oid)) == ["NOT_FOUND"]
    early = await run(agent, "gz-mzj", ANSWER, id=oid, outcome="VALUE_CORRECT")
    assert codes(early) == ["NOT_FOUND"]  # not "is filed": that would tell it the objection exists
    assert codes(await run(agent, "gz-zfcxjsj", REVIEW, id=oid, outcome="CONFIRMED")) == ["FORBIDDEN"]
    assert codes(await run(agent, "gz-rsj", GET, id=oid)) == ["NOT_FOUND"]

    closed = data(await run(agent, OPERATOR, REVIEW, id=oid, outcome="CONFIRMED", note="matches the marriage register"), "reviewObjection")
    assert closed["status"] == "CLOSED" and closed["outcome"] == "CONFIRMED" and closed["openStep"] is None and closed["overdue"] is False
    assert [(s["action"], s["actor"], s["note"]) for s in closed["steps"]][1] == ("confirmed", OPERATOR, "matches the marriage register")
    again = await run(agent, OPERATOR, REVIEW, id=oid, outcome="FORWARDED")
    assert codes(again) == ["BAD_REQUEST"] and "closed" in again["errors"][0]["message"]
    assert data(await run(agent, "gz-zfcxjsj", GET, id=oid), "objection")["outcome"] == "CONFIRMED"


async def test_objection_forwarded_to_the_provider_which_corrects_its_record(agent: Any) -> None:
    oid = data(await file(agent, "gz-gab", "gab.household", subject=LI_NA), "fileObjection")["id"]
    # before it is forwarded, the provider cannot even learn that it exists
    early = await run(agent, "gz-mzj", ANSWER, id=oid, outcome="VALUE_CORRECT")
    assert codes(early) == ["NOT_FOUND"] and codes(await run(agent, "gz-mzj", GET, id=oid)) == ["NOT_FOUND"]
    with_nul = await run(agent, OPERATOR, REVIEW, id=oid, outcome="FORWARDED", note="bad\u0000note")
    assert codes(with_nul) == ["BAD_REQUEST"] and "NUL" in with_nul["errors"][0]["message"]
    forwarded = data(await run(agent, OPERATOR, REVIEW, id=oid, outcome="FORWARDED", note="not a transmission difference"), "reviewObjection")
    due = add_working_days(today(), 3)
    assert forwarded["status"] == "FORWARDED" and forwarded["outcome"] is None
    assert forwarded["openStep"]["step"] == "provider check" and forwarded["openStep"]["awaiting"] == "gz-mzj"
    assert forwarded["openStep"]["due"] == due.due.isoformat()
    # now the provider sees it; only the provider answers
    assert oid in [o["id"] for o in data(await run(agent, "gz-mzj", "{ objections(status: FORWARDED) { id } }"), "objections")]
    assert codes(await run(agent, "gz-gab", ANSWER, id=oid, outcome="VALUE_CORRECT")) == ["FORBIDDEN"]
    assert codes(await run(agent, OPERATOR, ANSWER, id=oid, outcome="VALUE_CORRECT")) == ["FORBIDDEN"]
    assert codes(await run(agent, "gz-rsj", ANSWER, id=oid, outcome="VALUE_CORRECT")) == ["NOT_FOUND"]
    assert codes(await run(agent, OPERATOR, REVIEW, id=oid, outcome="CONFIRMED")) == ["BAD_REQUEST"]

    answered = data(await run(agent, "gz-mzj", ANSWER, id=oid, outcome="RECORD_CORRECTED"), "answerObjection")
    assert answered["status"] == "CLOSED" and answered["outcome"] == "RECORD_CORRECTED" and answered["rereadRequired"] is True
    assert [(s["action"], s["actor"]) for s in answered["steps"]] == [("filed", "gz-gab"), ("forwarded", OPERATOR), ("record_corrected", "gz-mzj")]
    assert all(dt.datetime.fromisoformat(s["at"]) for s in answered["steps"])
    assert codes(await run(agent, "gz-mzj", ANSWER, id=oid, outcome="VALUE_CORRECT")) == ["BAD_REQUEST"]


async def test_technical_difference_is_corrected_by_the_operator(agent: Any) -> None:
    oid = data(await file(agent, "gz-rsj", "rs.insurance", item="P01", field="Person.birthDate"), "fileObjection")["id"]
    closed = data(await run(agent, OPERATOR, REVIEW, id=oid, outcome="CORRECTED_TECHNICAL"), "reviewObjection")
    assert closed["outcome"] == "CORRECTED_TECHNICAL" and closed["rereadRequired"] is False
    assert codes(await run(agent, "gz-gab", GET, id=oid)) == ["NOT_FOUND"]  # never forwarded to the provider


@pytest.mark.parametrize(
    ("agency", "duty", "overrides", "code", "says"),
    [
        ("gz-zfcxjsj", "zj.housing-security", {"item": "P99"}, "BAD_REQUEST", "not in the catalog"),
        ("gz-zfcxjsj", "zj.housing-security", {"field": "Person.name"}, "BAD_REQUEST", "Person.maritalStatus"),
        ("gz-zfcxjsj", "zj.housing-security", {"subject": "440106199001011234"}, "INVALID_IDENTIFIER", "check digit"),
        ("gz-zfcxjsj", "zj.housing-security", {"item": "E01", "field": "LegalEntity.name"}, "INVALID_IDENTIFIER", "UnifiedSocialCreditCode"),
        ("gz-zfcxjsj", None, {}, "DUTY_REQUIRED", "X-Duty"),
        ("gz-rsj", "rs.insurance", {}, "NOT_IN_SCOPE", "could not obtain Person.maritalStatus"),
        ("gz-mzj", "mz.marriage", {}, "BAD_REQUEST", "provider of item P03"),
        ("gz-zfcxjsj", "zj.housing-security", {"reason": "a\u0000b"}, "BAD_REQUEST", "reason must not contain NUL"),
        # 王芳 is registered in 440103, outside th-mzj's division: no objection about her record (R-21a)
        ("th-mzj", "mz.assistance", {"item": "P06", "subject": WANG_FANG, "field": "socialInsurance.status"}, "OUT_OF_DIVISION", "not on record in division 440106"),
    ],
)
async def test_objection_input_is_checked(agent: Any, agency: str, duty: str | None, overrides: dict[str, str], code: str, says: str) -> None:
    body = await file(agent, agency, duty, **overrides)
    assert codes(body) == [code] and says in body["errors"][0]["message"], body


async def test_a_district_agency_objects_to_records_of_its_own_division(agent: Any) -> None:
    filed = data(await file(agent, "th-mzj", "mz.assistance", item="P06", subject=CHEN_JING, field="socialInsurance.status"), "fileObjection")
    assert filed["status"] == "FILED" and filed["subject"] == CHEN_JING


async def test_overdue_objection_steps(agent: Any, runtime: Any) -> None:
    oid = data(await file(agent, "gz-zfcxjsj", "zj.housing-security", item="P01", field="name"), "fileObjection")["id"]
    started = dt.date(2025, 9, 30)
    due = add_working_days(started, 3).due  # 10-09, 10-10 and the make-up Saturday 10-11 after National Day 2025
    await runtime.control.execute("UPDATE objections SET step_started_on = $2, due = $3 WHERE id = $1", int(oid), started, due)
    late = data(await run(agent, "gz-zfcxjsj", GET, id=oid), "objection")
    assert late["overdue"] is True and late["openStep"]["due"] == "2025-10-11" and late["openStep"]["overdue"] is True
    assert oid in [o["id"] for o in data(await run(agent, OPERATOR, "{ objections(overdue: true) { id } }"), "objections")]
    assert oid not in [o["id"] for o in data(await run(agent, OPERATOR, "{ objections(overdue: false) { id } }"), "objections")]
    assert oid not in [o["id"] for o in data(await run(agent, "gz-rsj", "{ objections { id } }"), "objections")]
    monitored = {o.id: o for o in await overdue_steps(runtime.control, today())}
    assert monitored[int(oid)].awaiting == "operator" and monitored[int(oid)].due == due
    assert int(oid) not in {o.id for o in await overdue_steps(runtime.control, due)}  # the due day itself is in time
    closed = data(await run(agent, OPERATOR, REVIEW, id=oid, outcome="CONFIRMED"), "reviewObjection")
    assert closed["overdue"] is False and int(oid) not in {o.id for o in await overdue_steps(runtime.control, today())}


# --- access requests (R-19a, R-19b) ----------------------------------------------------------


async def test_request_in_scope_is_granted_at_once(agent: Any) -> None:
    granted = data(await run(agent, "gz-zfcxjsj", REQUEST, item="P03", duty="zj.housing-security"), "requestAccess")
    assert granted["status"] == "GRANTED" and granted["supplyDue"] is None
    assert [(s["action"], s["actor"]) for s in granted["steps"]] == [("requested", "gz-zfcxjsj"), ("granted", "platform")]
    assert "R-19a" in granted["steps"][1]["note"]
    assert data(await run(agent, "gz-rsj", REQUEST, item="E01", duty="rs.employment"), "requestAccess")["status"] == "GRANTED"


@pytest.mark.parametrize(
    ("item", "duty", "code"),
    [("P99", "rs.insurance", "BAD_REQUEST"), ("P03", "mz.assistance", "DUTY_NOT_HELD"), ("P07", "rs.insurance", "BAD_REQUEST")],
)
async def test_request_input_is_checked(agent: Any, item: str, duty: str, code: str) -> None:
    assert codes(await run(agent, "gz-rsj", REQUEST, item=item, duty=duty)) == [code]


async def test_a_request_is_made_under_a_duty_the_token_grants(agent: Any) -> None:
    body = (await agent("gz-rsj").query(REQUEST, {"item": "E03", "duty": "rs.insurance"}, scope="rs.employment")).json()
    assert codes(body) == ["DUTY_NOT_GRANTED"] and "does not grant duty 'rs.insurance' (it grants: rs.employment)" in body["errors"][0]["message"]


async def test_out_of_catalog_request_is_decided_then_supplied(agent: Any, runtime: Any) -> None:
    waiting = data(await run(agent, "gz-swj", REQUEST, item="P06", duty="sw.collection"), "requestAccess")
    rid = waiting["id"]
    assert waiting["status"] == "AWAITING_DECISION" and waiting["provider"] == "gz-rsj"
    duplicate = await run(agent, "gz-swj", REQUEST, item="P06", duty="sw.collection")
    assert codes(duplicate) == ["BAD_REQUEST"] and f"access request {rid}" in duplicate["errors"][0]["message"]
    assert codes(await run(agent, "gz-swj", DECIDE, id=rid, approved=True)) == ["FORBIDDEN"]
    early = await run(agent, "gz-rsj", SUPPLY, id=rid)  # not approved yet: the next step is not the provider's
    assert codes(early) == ["BAD_REQUEST"] and "awaits the government's decision, which the operator records" in early["errors"][0]["message"]

    approved = data(await run(agent, OPERATOR, DECIDE, id=rid, approved=True), "decideAccessRequest")
    deadline = add_working_days(today(), 5)
    assert approved["status"] == "AWAITING_SUPPLY" and approved["decidedOn"] == today().isoformat()
    assert approved["supplyDue"] == deadline.due.isoformat() and approved["supplyDueEstimated"] is deadline.estimated
    assert approved["steps"][-1]["note"] == "government decision 穗府办函〔2026〕12号"
    grant = next(g for g in await scope_grants(runtime.control) if g.request_id == int(rid))
    assert (grant.item, grant.duty, grant.approved_by) == ("P06", "sw.collection", OPERATOR)
    assert codes(await run(agent, OPERATOR, DECIDE, id=rid, approved=False)) == ["BAD_REQUEST"]
    assert codes(await run(agent, "gz-swj", SUPPLY, id=rid)) == ["FORBIDDEN"]
    assert codes(await run(agent, "gz-gab", SUPPLY, id=rid)) == ["NOT_FOUND"]

    supplied = data(await run(agent, "gz-rsj", SUPPLY, id=rid), "confirmSupply")
    assert supplied["status"] == "SUPPLIED" and supplied["suppliedLate"] is False and supplied["overdue"] is False
    assert [s["action"] for s in supplied["steps"]] == ["requested", "approved", "supplied"]
    assert rid in [r["id"] for r in data(await run(agent, "gz-rsj", "{ accessRequests(status: SUPPLIED) { id } }"), "accessRequests")]
    assert rid not in [r["id"] for r in data(await run(agent, "gz-gab", "{ accessRequests { id } }"), "accessRequests")]
    assert codes(await run(agent, "gz-rsj", SUPPLY, id=rid)) == ["BAD_REQUEST"]
    # the catalog gained the scope in a new version (R-19b, R-9)
    body = (await agent("gz-swj").query('{ person(idNumber: "440106199001011235") { socialInsurance { status } } }', duty="sw.collection")).json()
    assert "errors" not in body, body
    assert body["data"]["person"]["socialInsurance"] == {"status": "active"}
    assert "sw.collection" in runtime.bundle.catalog.items["P06"].duties_in_scope


async def test_the_supply_deadline_runs_from_the_government_decision(agent: Any, runtime: Any) -> None:
    waiting = data(await run(agent, "gz-scjgj", REQUEST, item="P06", duty="sc.registration"), "requestAccess")
    assert waiting["status"] == "AWAITING_DECISION", waiting
    rid = waiting["id"]
    await runtime.control.execute("UPDATE access_requests SET requested_at = requested_at - interval '10 days' WHERE id = $1", int(rid))
    decide = 'mutation($id: ID!, $on: Date) { decideAccessRequest(id: $id, approved: false, decisionReference: "穗府办函〔2026〕13号", decidedOn: $on) { decidedOn supplyDue status } }'
    for wrong in (today() + dt.timedelta(days=1), today() - dt.timedelta(days=11)):
        refused = await run(agent, OPERATOR, decide, id=rid, on=wrong.isoformat())
        assert codes(refused) == ["BAD_REQUEST"] and "decidedOn" in refused["errors"][0]["message"]
    decided_on = today() - dt.timedelta(days=7)
    rejected = data(await run(agent, OPERATOR, decide, id=rid, on=decided_on.isoformat()), "decideAccessRequest")
    assert rejected["decidedOn"] == decided_on.isoformat() and rejected["status"] == "REJECTED"
    approve = decide.replace("approved: false", "approved: true")
    again = data(await run(agent, "gz-scjgj", REQUEST, item="P06", duty="sc.registration"), "requestAccess")["id"]
    await runtime.control.execute("UPDATE access_requests SET requested_at = requested_at - interval '10 days' WHERE id = $1", int(again))
    approved = data(await run(agent, OPERATOR, approve, id=again, on=decided_on.isoformat()), "decideAccessRequest")
    assert approved["supplyDue"] == add_working_days(decided_on, 5).due.isoformat()  # not from the day it was recorded
    await run(agent, "gz-rsj", SUPPLY, id=again)


async def test_rejected_request_grants_nothing(agent: Any, runtime: Any) -> None:
    rid = data(await run(agent, "gz-scjgj", REQUEST, item="P05", duty="sc.registration"), "requestAccess")["id"]
    rejected = data(await run(agent, OPERATOR, DECIDE, id=rid, approved=False), "decideAccessRequest")
    assert rejected["status"] == "REJECTED" and rejected["supplyDue"] is None
    assert int(rid) not in {g.request_id for g in await scope_grants(runtime.control)}
    assert codes(await run(agent, "gz-mzj", SUPPLY, id=rid)) == ["BAD_REQUEST"]
    # a finished request no longer blocks a new one
    assert data(await run(agent, "gz-scjgj", REQUEST, item="P05", duty="sc.registration"), "requestAccess")["status"] == "AWAITING_DECISION"


async def test_late_supply_is_recorded(agent: Any, runtime: Any) -> None:
    rid = data(await run(agent, "gz-swj", REQUEST, item="P05", duty="sw.collection"), "requestAccess")["id"]
    data(await run(agent, OPERATOR, DECIDE, id=rid, approved=True), "decideAccessRequest")
    decided = dt.date(2025, 9, 26)
    due = add_working_days(decided, 5).due  # 2025-10-10: across the National Day week
    await runtime.control.execute("UPDATE access_requests SET decided_on = $2, supply_due = $3 WHERE id = $1", int(rid), decided, due)
    assert data(await run(agent, "gz-swj", f'{{ accessRequest(id: "{rid}") {{ overdue supplyDue }} }}'), "accessRequest") == {"overdue": True, "supplyDue": "2025-10-10"}
    assert int(rid) in {r.id for r in await overdue_supplies(runtime.control, today())}
    supplied = data(await run(agent, "gz-mzj", SUPPLY, id=rid), "confirmSupply")
    assert supplied["suppliedLate"] is True and "after the deadline 2025-10-10" in supplied["steps"][-1]["note"]
    late = next(r for r in await overdue_supplies(runtime.control, today()) if r.id == int(rid))
    assert late.supplied_on == today() and late.working_days_late(today()) > 200


# --- complaints (R-33) -------------------------------------------------------------------------


async def test_complaint_is_answered_in_writing_and_kept(agent: Any, runtime: Any) -> None:
    query = 'mutation { fileComplaint(against: "gz-zfcxjsj", article: "R-25", description: "passed our marriage records to a district bureau") { id filedBy against article answered } }'
    filed = data(await run(agent, "gz-mzj", query), "fileComplaint")
    cid = filed["id"]
    assert filed == {"id": cid, "filedBy": "gz-mzj", "against": "gz-zfcxjsj", "article": "R-25", "answered": False}
    assert cid in [c["id"] for c in data(await run(agent, "gz-zfcxjsj", "{ complaints { id } }"), "complaints")]
    assert cid not in [c["id"] for c in data(await run(agent, "gz-gab", "{ complaints { id } }"), "complaints")]
    answer = 'mutation($id: ID!, $a: String!) { answerComplaint(id: $id, answer: $a) { answered answer answeredBy steps { action actor } } }'
    assert codes(await run(agent, "gz-mzj", answer, id=cid, a="done")) == ["FORBIDDEN"]
    answered = data(await run(agent, OPERATOR, answer, id=cid, a="investigated: the onward provision had no consent; ordered to stop"), "answerComplaint")
    assert answered["answered"] is True and answered["answeredBy"] == OPERATOR
    assert [(s["action"], s["actor"]) for s in answered["steps"]] == [("filed", "gz-mzj"), ("answered", OPERATOR)]
    assert codes(await run(agent, OPERATOR, answer, id=cid, a="another answer")) == ["BAD_REQUEST"]
    with pytest.raises(asyncpg.RaiseError, match="immutable"):
        await runtime.control.execute("UPDATE complaints SET answer = 'rewritten' WHERE id = $1", int(cid))
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await runtime.control.execute("DELETE FROM workflow_steps WHERE case_id = $1", int(cid))


@pytest.mark.parametrize(
    ("against", "says"), [("gz-nobody", "not a registered agency"), ("gz-mzj", "about itself"), (OPERATOR, "made to the municipal government")]
)
async def test_complaint_needs_another_registered_agency(agent: Any, against: str, says: str) -> None:
    body = await run(agent, "gz-mzj", 'mutation($a: String!) { fileComplaint(against: $a, description: "x") { id } }', a=against)
    assert codes(body) == ["BAD_REQUEST"] and says in body["errors"][0]["message"]


# --- obtainable materials (R-24b) ------------------------------------------------------------


async def test_materials_obtainable_by_sharing(agent: Any) -> None:
    asked = ["结婚证", "户口簿", "户籍证明", "营业执照", "无犯罪记录证明", "出生医学证明"]
    result = data(await run(agent, "gz-zfcxjsj", MATERIALS, "zj.housing-security", s=ZHANG_WEI, m=asked), "obtainableMaterials")
    by_material = {r["material"]: r for r in result}
    assert [r["material"] for r in result] == asked
    assert by_material["结婚证"]["item"] == "P04" and by_material["结婚证"]["obtainable"] is True
    assert {by_material[m]["item"] for m in ("户口簿", "户籍证明")} == {"P02"} and by_material["户口簿"]["obtainable"] is True
    assert by_material["营业执照"]["item"] == "E02" and by_material["营业执照"]["obtainable"] is False
    assert by_material["无犯罪记录证明"]["code"] == "NOT_IN_SCOPE" and by_material["无犯罪记录证明"]["obtainable"] is False
    assert by_material["出生医学证明"]["item"] is None and "no catalog item matches" in by_material["出生医学证明"]["reason"]


async def test_materials_follow_the_duty_and_the_division(agent: Any) -> None:
    rsj = data(await run(agent, "gz-rsj", MATERIALS, "rs.insurance", s=ZHANG_WEI, m=["结婚证"]), "obtainableMaterials")[0]
    assert rsj["obtainable"] is False and rsj["code"] == "NOT_IN_SCOPE" and "P04" in rsj["reason"]
    licence = data(await run(agent, "gz-rsj", MATERIALS, "rs.insurance", s=TIANHE_COMPANY.lower(), m=["营业执照"]), "obtainableMaterials")[0]
    assert licence["obtainable"] is True and "R-24b" in licence["reason"]
    other = data(await run(agent, "th-mzj", MATERIALS, "mz.assistance", s=LIWAN_COMPANY, m=["营业执照"]), "obtainableMaterials")[0]
    assert other["obtainable"] is False and other["code"] == "OUT_OF_DIVISION"
    own = data(await run(agent, "th-mzj", MATERIALS, "mz.assistance", s=CHEN_JING, m=["户口簿"]), "obtainableMaterials")[0]
    assert own["obtainable"] is True and "440106" in own["reason"]


async def test_materials_need_a_duty_and_a_valid_subject(agent: Any) -> None:
    assert codes(await run(agent, "gz-rsj", MATERIALS, s=ZHANG_WEI, m=["户口簿"])) == ["DUTY_REQUIRED"]
    bad = await run(agent, "gz-rsj", MATERIALS, "rs.insurance", s="440106199001011234", m=["户口簿"])
    assert codes(bad) == ["INVALID_IDENTIFIER"] and "check digit" in bad["errors"][0]["message"]


async def test_record_ids_that_cannot_exist_are_answered_plainly(agent: Any) -> None:
    calls = {
        "withdrawOnwardConsent": ("gz-mzj", "withdrawOnwardConsent(id: $id) { id }"),
        "approveCatalogChange": ("gz-zsj", 'approveCatalogChange(id: $id, approvalReference: "r") { status }'),
        "rejectCatalogChange": ("gz-zsj", 'rejectCatalogChange(id: $id, decisionReference: "r") { status }'),
        "answerComplaint": ("gz-zsj", 'answerComplaint(id: $id, answer: "a") { id }'),
        "confirmSupply": ("gz-mzj", "confirmSupply(id: $id) { id }"),
    }
    for field, (agency, selection) in calls.items():
        for id, code, said in (("99999999999999999999", "NOT_FOUND", "99999999999999999999"), ("abc", "BAD_REQUEST", "whole numbers")):
            body = (await agent(agency).query(f"mutation($id: ID!) {{ {selection} }}", {"id": id}, duty=None)).json()
            error = body["errors"][0]
            assert error["extensions"]["code"] == code, (field, id, body)
            assert said in error["message"] and "int()" not in error["message"], (field, error)
    for field in ("objection", "accessRequest"):
        body = (await agent("gz-zsj").query(f'{{ {field}(id: "99999999999999999999") {{ id }} }}')).json()
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body


async def test_free_text_is_bounded(agent: Any) -> None:
    body = await file(agent, "gz-zfcxjsj", "zj.housing-security", reason="很长的理由" * 2001)
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "reason is 10,005 characters long; at most 10,000 are kept" in body["errors"][0]["message"]
