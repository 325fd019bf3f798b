"""Consent, on-behalf-of, division push-down, receipts and the explain queries."""

from __future__ import annotations

from typing import Any

from tests.conftest import codes, error_at

ZHANG_WEI = "440106199001011235"
WANG_FANG = "44010319781120046X"
H02_QUERY = f'{{ person(idNumber: "{ZHANG_WEI}") {{ housingSecurity {{ status applicantMaritalStatus }} }} }}'
GRANT = "mutation($until: Date) { grantOnwardConsent(originItem: \"P03\", holder: \"gz-zfcxjsj\", recipient: \"th-mzj\", until: $until) { id originItem holder recipient until grantedBy } }"


async def test_consent_then_withdrawal(agent: Any) -> None:
    district = agent("th-mzj")
    before = (await district.query(H02_QUERY, duty="mz.assistance")).json()
    assert codes(before) == ["REDISTRIBUTION_BLOCKED"]

    granted = (await agent("gz-mzj").query(GRANT, {"until": "2099-12-31"})).json()
    assert "errors" not in granted, granted
    consent = granted["data"]["grantOnwardConsent"]
    assert consent["recipient"] == "th-mzj" and consent["grantedBy"] == "gz-mzj" and consent["until"] == "2099-12-31"
    try:
        after = (await district.query(H02_QUERY, duty="mz.assistance")).json()
        assert "errors" not in after, after
        assert after["data"]["person"]["housingSecurity"] == {"status": "waiting", "applicantMaritalStatus": "married"}
        items = {i["item"]: i for i in after["extensions"]["sharing"]["items"]}
        assert items["H02"]["provider"] == "gz-zfcxjsj" and items["H02"]["onwardProhibited"] is True
        # consent to th-mzj does not reach other agencies
        other = (await agent("gz-mzj").query(H02_QUERY, duty="mz.assistance")).json()
        assert "errors" not in other  # gz-mzj is the origin provider: its own information
    finally:
        withdrawn = (await agent("gz-mzj").query(f'mutation {{ withdrawOnwardConsent(id: "{consent["id"]}") {{ id withdrawnAt }} }}')).json()
    assert withdrawn["data"]["withdrawOnwardConsent"]["withdrawnAt"] is not None
    again = (await district.query(H02_QUERY, duty="mz.assistance")).json()
    assert codes(again) == ["REDISTRIBUTION_BLOCKED"]


async def test_the_receipt_names_to_whom_the_consent_allows_passing_on(agent: Any) -> None:
    consent = (await agent("gz-mzj").query(GRANT, {"until": "2099-12-31"})).json()["data"]["grantOnwardConsent"]
    try:
        body = (await agent("gz-zfcxjsj").query(f'{{ person(idNumber: "{ZHANG_WEI}") {{ maritalStatus }} }}', duty="zj.housing-security")).json()
        items = {i["item"]: i for i in body["extensions"]["sharing"]["items"]}
        p03 = items["P03"]
        assert p03["onwardProvision"] == "consented" and p03["onwardProhibited"] is False
        assert p03["consentedTo"] == ["th-mzj"] and p03["consentedUntil"] == "2099-12-31"  # th-mzj only, not anyone
    finally:
        await agent("gz-mzj").query(f'mutation {{ withdrawOnwardConsent(id: "{consent["id"]}") {{ id }} }}')
    after = (await agent("gz-zfcxjsj").query(f'{{ person(idNumber: "{ZHANG_WEI}") {{ maritalStatus }} }}', duty="zj.housing-security")).json()
    p03 = {i["item"]: i for i in after["extensions"]["sharing"]["items"]}["P03"]
    assert p03["onwardProvision"] == "prohibited" and p03["consentedTo"] is None


async def test_only_the_origin_provider_may_consent(agent: Any) -> None:
    body = (await agent("gz-zfcxjsj").query(GRANT, {"until": None})).json()
    assert codes(body) == ["FORBIDDEN"]
    assert "gz-mzj" in body["errors"][0]["message"]
    consent = (await agent("gz-mzj").query(GRANT, {"until": "2099-01-01"})).json()["data"]["grantOnwardConsent"]
    try:
        refused = (await agent("th-mzj").query(f'mutation {{ withdrawOnwardConsent(id: "{consent["id"]}") {{ id }} }}')).json()
        assert codes(refused) == ["FORBIDDEN"]
    finally:
        await agent("gz-mzj").query(f'mutation {{ withdrawOnwardConsent(id: "{consent["id"]}") {{ id }} }}')


async def test_consent_input_is_checked(agent: Any) -> None:
    mzj = agent("gz-mzj")
    unknown_item = (await mzj.query('mutation { grantOnwardConsent(originItem: "P99", holder: "gz-zfcxjsj") { id } }')).json()
    assert codes(unknown_item) == ["BAD_REQUEST"]
    past = (await mzj.query(GRANT, {"until": "2020-01-01"})).json()
    assert codes(past) == ["BAD_REQUEST"] and "past" in past["errors"][0]["message"]
    missing = (await mzj.query('mutation { withdrawOnwardConsent(id: "999999") { id } }')).json()
    assert codes(missing) == ["NOT_FOUND"]
    itself = (await mzj.query('mutation { grantOnwardConsent(originItem: "P03", holder: "gz-zfcxjsj", recipient: "gz-zfcxjsj") { id } }')).json()
    assert codes(itself) == ["BAD_REQUEST"] and "is the holder itself" in itself["errors"][0]["message"]


async def test_on_behalf_of_is_decided_for_the_recipient(agent: Any) -> None:
    body = (
        await agent("gz-zfcxjsj").query(
            f'{{ person(idNumber: "{ZHANG_WEI}") {{ name maritalStatus socialInsurance {{ status }} }} }}',
            duty="zj.housing-security",
            headers={"X-On-Behalf-Of": "th-mzj:mz.assistance"},
        )
    ).json()
    person = body["data"]["person"]
    assert person["name"] == "张伟" and person["socialInsurance"] == {"status": "active"}
    error = error_at(body, "person", "maritalStatus")
    assert error["extensions"]["code"] == "REDISTRIBUTION_BLOCKED"
    assert "th-mzj:mz.assistance" in error["message"]
    assert body["extensions"]["sharing"]["onBehalfOf"] == ["th-mzj:mz.assistance"]


async def test_on_behalf_of_a_district_applies_its_division(agent: Any) -> None:
    body = (
        await agent("gz-zfcxjsj").query(
            f'{{ person(idNumber: "{WANG_FANG}") {{ name }} }}', duty="zj.housing-security", headers={"X-On-Behalf-Of": "th-mzj:mz.assistance"}
        )
    ).json()
    assert codes(body) == ["OUT_OF_DIVISION"]
    # the division is the district's on whose behalf the request is made, not the requester's
    assert "not on record in division 440106 of th-mzj;" in body["errors"][0]["message"]


async def test_malformed_on_behalf_of(agent: Any) -> None:
    response = await agent("gz-zfcxjsj").query("{ catalogVersion }", duty="zj.housing-security", headers={"X-On-Behalf-Of": "th-mzj"})
    assert response.status_code == 400 and codes(response.json()) == ["INVALID_ON_BEHALF_OF"]
    unknown = await agent("gz-zfcxjsj").query("{ catalogVersion }", duty="zj.housing-security", headers={"X-On-Behalf-Of": "gz-rsj:mz.assistance"})
    assert unknown.status_code == 403 and codes(unknown.json()) == ["INVALID_ON_BEHALF_OF"]


async def test_out_of_division_rows_are_never_fetched(agent: Any, runtime: Any) -> None:
    statements: list[tuple[str, str, tuple[Any, ...]]] = []
    runtime.stores.observers.append(lambda agency, sql, args: statements.append((agency, sql, args)))
    try:
        body = (
            await agent("th-mzj").query(
                "query($ids: [ResidentIdNumber!]!) { persons(idNumbers: $ids) { name socialInsurance { status } } }",
                {"ids": [ZHANG_WEI, WANG_FANG]},
                duty="mz.assistance",
            )
        ).json()
    finally:
        runtime.stores.observers.clear()
    assert body["data"]["persons"][0] == {"name": "张伟", "socialInsurance": {"status": "active"}}
    assert body["data"]["persons"][1] is None
    assert error_at(body, "persons", 1)["extensions"]["code"] == "OUT_OF_DIVISION"
    gab = [s for s in statements if s[0] == "gz-gab"]
    rsj = [s for s in statements if s[0] == "gz-rsj"]
    assert len(gab) == 1 and len(rsj) == 1
    assert "domicile_division" in gab[0][1] and gab[0][2][1] == ["440106"]
    # the division is decided inside gz-gab's statement; gz-rsj is asked only for the in-division subject
    assert rsj[0][2][0] == [ZHANG_WEI]


async def test_a_district_cannot_tell_a_person_outside_its_division_from_nobody(agent: Any) -> None:
    # 王芳 is on record in 440103; 44010319800101001X is a valid number nobody holds
    nobody = "44010319800101001X"
    answers = [
        (await agent("th-mzj").query(f'{{ person(idNumber: "{key}") {{ name }} }}', duty="mz.assistance")).json() for key in (WANG_FANG, nobody)
    ]
    for body, key in zip(answers, (WANG_FANG, nobody), strict=True):
        assert body["data"] == {"person": None}
        assert codes(body) == ["OUT_OF_DIVISION"]
        assert body["errors"][0]["message"].replace(key, "<id>") == answers[0]["errors"][0]["message"].replace(WANG_FANG, "<id>")
    # the city-wide bureau still learns that nobody holds the number
    city = (await agent("gz-zfcxjsj").query(f'{{ person(idNumber: "{nobody}") {{ name }} }}', duty="zj.housing-security")).json()
    assert city["data"] == {"person": None} and "errors" not in city


async def test_entity_division_is_pushed_into_the_statement(agent: Any, runtime: Any) -> None:
    statements: list[str] = []
    runtime.stores.observers.append(lambda agency, sql, args: statements.append(sql))
    try:
        body = (await agent("th-mzj").query('{ legalEntity(uscc: "91440103MA5D3N7W37") { name } }', duty="mz.assistance")).json()
        own = (await agent("th-mzj").query('{ legalEntity(uscc: "91440106MA59C8K17D") { name } }', duty="mz.assistance")).json()
    finally:
        runtime.stores.observers.clear()
    assert codes(body) == ["OUT_OF_DIVISION"]
    assert own["data"]["legalEntity"] == {"name": "广州天河云图科技有限公司"}
    assert statements and all("substr(k.key, 3, 6)" in s for s in statements)


async def test_sharing_receipt_says_what_may_not_be_passed_on(agent: Any) -> None:
    body = (
        await agent("gz-zfcxjsj").query(
            f'{{ person(idNumber: "{ZHANG_WEI}") {{ name }} legalEntity(uscc: "91440106MA59C8K17D") {{ taxCreditRating {{ grade }} }} }}',
            duty="zj.housing-security",
            headers={"X-Case-Id": "ZJ-2026-0042"},
        )
    ).json()
    sharing = body["extensions"]["sharing"]
    assert sharing["receiptId"] and sharing["caseId"] == "ZJ-2026-0042" and sharing["duty"] == "zj.housing-security"
    items = {i["item"]: i for i in sharing["items"]}
    assert items["P01"]["onwardProvision"] == "prohibited" and items["P01"]["provider"] == "gz-gab"
    assert items["E04"]["onwardProvision"] == "public" and items["E04"]["onwardProhibited"] is False


async def test_no_receipt_without_shared_data(agent: Any) -> None:
    body = (await agent("gz-mzj").query("{ catalogVersion }")).json()
    assert "sharing" not in body["extensions"]


async def test_access_plan_explains_without_touching_stores(agent: Any, runtime: Any) -> None:
    document = (
        f'query {{ person(idNumber: "{ZHANG_WEI}") {{ name maritalStatus housingSecurity {{ status applicantMaritalStatus }} }}'
        ' legalEntity(uscc: "91440106MA59C8K17D") { ...E } } fragment E on LegalEntity { legalRepresentativeIdNumber }'
    )
    statements: list[str] = []
    runtime.stores.observers.append(lambda agency, sql, args: statements.append(sql))
    try:
        body = (
            await agent("th-mzj").query(
                "query($d: String!, $duty: String!) { accessPlan(document: $d, duty: $duty) { agency duty divisionRestrictedTo errors fields { field allowed item code article originItem } } }",
                {"d": document, "duty": "mz.assistance"},
            )
        ).json()
    finally:
        runtime.stores.observers.clear()
    assert statements == []
    plan = body["data"]["accessPlan"]
    assert plan["divisionRestrictedTo"] == ["440106"] and plan["errors"] == []
    fields = {f["field"]: f for f in plan["fields"]}
    assert fields["Person.name"]["allowed"] is True
    assert fields["Person.maritalStatus"]["code"] == "NOT_IN_SCOPE" and fields["Person.maritalStatus"]["item"] == "P03"
    assert fields["Person.housingSecurity.status"]["allowed"] is True
    assert fields["Person.housingSecurity.applicantMaritalStatus"]["code"] == "REDISTRIBUTION_BLOCKED"
    assert fields["Person.housingSecurity.applicantMaritalStatus"]["originItem"] == "P03"
    assert fields["LegalEntity.legalRepresentativeIdNumber"]["code"] == "NOT_IN_SCOPE"


async def test_access_plan_reports_document_problems(agent: Any) -> None:
    body = (await agent("gz-mzj").query('{ accessPlan(document: "{ person(", duty: "mz.marriage") { errors fields { field } } }')).json()
    assert body["data"]["accessPlan"]["errors"][0].startswith("the document does not parse")
    body = (await agent("gz-mzj").query('{ accessPlan(document: "{ catalogVersion }", duty: "gab.household") { errors } }')).json()
    assert any("DUTY_NOT_GRANTED" in e or "DUTY_NOT_HELD" in e for e in body["data"]["accessPlan"]["errors"])


async def test_my_access_lists_items_per_duty(agent: Any) -> None:
    body = (await agent("gz-mzj").query("{ myAccess { duty meaning items fields } }")).json()
    access = {d["duty"]: d for d in body["data"]["myAccess"]}
    assert set(access) == {"mz.marriage", "mz.assistance"}
    assert "P06" in access["mz.assistance"]["items"] and "P06" not in access["mz.marriage"]["items"]
    assert "P02" in access["mz.assistance"]["items"] and "P02" not in access["mz.marriage"]["items"]
    assert {"P03", "P04", "P05"} <= set(access["mz.marriage"]["items"])  # its own items
    assert access["mz.marriage"]["meaning"] == "婚姻登记"
