"""Every row of the demo world's outcomes table, against the real app and databases."""

from __future__ import annotations

from typing import Any

from tests.conftest import codes, error_at

ZHANG_WEI = "440106199001011235"
WANG_FANG = "44010319781120046X"
CHEN_JING = "440106200002290024"
YUNTU = "91440106MA59C8K17D"


async def test_housing_bureau_gets_every_value(agent: Any) -> None:
    response = await agent("gz-zfcxjsj").query(
        "query($id: ResidentIdNumber!) { person(idNumber: $id) { name maritalStatus domicileAddress"
        " socialInsurance { status contributionMonths employerUscc } } }",
        {"id": ZHANG_WEI},
        duty="zj.housing-security",
    )
    body = response.json()
    assert response.status_code == 200
    assert "errors" not in body, body
    assert body["data"]["person"] == {
        "name": "张伟",
        "maritalStatus": "married",
        "domicileAddress": "天河区天河路100号",
        "socialInsurance": {"status": "active", "contributionMonths": 96, "employerUscc": "91440106MA59C8K17D"},
    }


async def test_insurance_bureau_gets_name_but_not_marital_status(agent: Any) -> None:
    response = await agent("gz-rsj").query(
        '{ person(idNumber: "440106199001011235") { name maritalStatus } }', duty="rs.insurance"
    )
    body = response.json()
    assert response.status_code == 200
    assert body["data"]["person"] == {"name": "张伟", "maritalStatus": None}
    error = error_at(body, "person", "maritalStatus")
    assert error["extensions"]["code"] == "NOT_IN_SCOPE"
    assert error["extensions"]["item"] == "P03"
    assert "R-18" in error["message"]


async def test_marriage_registry_does_not_get_domicile(agent: Any) -> None:
    body = (await agent("gz-mzj").query(f'{{ person(idNumber: "{ZHANG_WEI}") {{ domicileAddress }} }}', duty="mz.marriage")).json()
    assert body["data"]["person"] == {"domicileAddress": None}
    error = error_at(body, "person", "domicileAddress")
    assert error["extensions"]["code"] == "NOT_IN_SCOPE"
    assert error["extensions"]["item"] == "P02"


async def test_duty_not_of_the_token_is_refused(agent: Any) -> None:
    response = await agent("gz-rsj").query(f'{{ person(idNumber: "{ZHANG_WEI}") {{ name }} }}', duty="mz.assistance")
    body = response.json()
    assert codes(body) == ["DUTY_NOT_GRANTED"]
    assert response.status_code == 403
    assert "mz.assistance" in body["errors"][0]["message"]
    assert body["data"] is None


async def test_duty_outside_the_requested_scope_is_not_granted(agent: Any) -> None:
    # the token was asked for rs.insurance only; rs.employment is a duty of gz-rsj but not of this token
    response = await agent("gz-rsj").query(
        f'{{ person(idNumber: "{ZHANG_WEI}") {{ name }} }}', duty="rs.employment", scope="rs.insurance"
    )
    assert codes(response.json()) == ["DUTY_NOT_GRANTED"]


async def test_data_field_without_duty_header(agent: Any) -> None:
    response = await agent("gz-mzj").query(f'{{ person(idNumber: "{ZHANG_WEI}") {{ name }} }}')
    body = response.json()
    assert body["data"] == {"person": None}
    assert codes(body) == ["DUTY_REQUIRED"]
    assert "X-Duty" in body["errors"][0]["message"]


async def test_catalog_needs_no_duty(agent: Any) -> None:
    body = (await agent("gz-mzj").query("{ catalog { code } }")).json()
    assert "errors" not in body
    assert len(body["data"]["catalog"]) == 13


async def test_no_token_is_unauthenticated(client: Any) -> None:
    response = await client.post("/graphql", json={"query": "{ catalog { code } }"})
    assert response.status_code == 401
    assert codes(response.json()) == ["UNAUTHENTICATED"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_bad_signature_is_unauthenticated(client: Any, agent: Any) -> None:
    token = await agent("gz-mzj").token()
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    response = await client.post("/graphql", json={"query": "{ catalog { code } }"}, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert codes(response.json()) == ["UNAUTHENTICATED"]


async def test_expired_token_is_unauthenticated(client: Any, runtime: Any) -> None:
    token, _ = runtime.issuer.issue(client_id="gz-mzj", agency="gz-mzj", duties=["mz.marriage"], now=1_700_000_000)
    response = await client.post("/graphql", json={"query": "{ catalog { code } }"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    body = response.json()
    assert codes(body) == ["UNAUTHENTICATED"]
    assert "expired" in body["errors"][0]["message"]


async def test_district_agency_gets_own_division_person(agent: Any) -> None:
    body = (
        await agent("th-mzj").query(
            f'{{ person(idNumber: "{CHEN_JING}") {{ name socialInsurance {{ status contributionMonths }} housingSecurity {{ status }} }} }}',
            duty="mz.assistance",
        )
    ).json()
    assert "errors" not in body, body
    assert body["data"]["person"] == {
        "name": "陈静",
        "socialInsurance": {"status": "active", "contributionMonths": 30},
        "housingSecurity": {"status": "approved"},
    }


async def test_district_agency_refused_other_division(agent: Any) -> None:
    body = (await agent("th-mzj").query(f'{{ person(idNumber: "{WANG_FANG}") {{ name }} }}', duty="mz.assistance")).json()
    assert body["data"] == {"person": None}
    error = error_at(body, "person")
    assert error["extensions"]["code"] == "OUT_OF_DIVISION"
    assert "R-21a" in error["message"]


async def test_shared_copy_is_not_redistributed(agent: Any) -> None:
    body = (
        await agent("th-mzj").query(
            f'{{ person(idNumber: "{ZHANG_WEI}") {{ housingSecurity {{ status applicantMaritalStatus }} }} }}',
            duty="mz.assistance",
        )
    ).json()
    assert body["data"]["person"]["housingSecurity"] == {"status": "waiting", "applicantMaritalStatus": None}
    error = error_at(body, "person", "housingSecurity", "applicantMaritalStatus")
    assert error["extensions"]["code"] == "REDISTRIBUTION_BLOCKED"
    assert error["extensions"]["originItem"] == "P03"
    assert "P03" in error["message"] and "gz-mzj" in error["message"] and "R-25" in error["message"]


async def test_entity_public_and_unconditional_items_for_any_duty(agent: Any) -> None:
    for agency, duty in [("gz-mzj", "mz.marriage"), ("th-mzj", "mz.assistance"), ("gz-gab", "gab.public-order")]:
        body = (await agent(agency).query(f'{{ legalEntity(uscc: "{YUNTU}") {{ name taxCreditRating {{ year grade }} }} }}', duty=duty)).json()
        assert "errors" not in body, (agency, body)
        assert body["data"]["legalEntity"] == {"name": "广州天河云图科技有限公司", "taxCreditRating": {"year": 2025, "grade": "A"}}


async def test_tax_bureau_reads_legal_representative_id(agent: Any) -> None:
    body = (await agent("gz-swj").query(f'{{ legalEntity(uscc: "{YUNTU}") {{ legalRepresentativeIdNumber }} }}', duty="sw.collection")).json()
    assert body["data"]["legalEntity"] == {"legalRepresentativeIdNumber": ZHANG_WEI}


async def test_housing_bureau_does_not_read_legal_representative_id(agent: Any) -> None:
    body = (
        await agent("gz-zfcxjsj").query(f'{{ legalEntity(uscc: "{YUNTU}") {{ legalRepresentativeIdNumber }} }}', duty="zj.housing-security")
    ).json()
    assert body["data"]["legalEntity"] == {"legalRepresentativeIdNumber": None}
    error = error_at(body, "legalEntity", "legalRepresentativeIdNumber")
    assert error["extensions"]["code"] == "NOT_IN_SCOPE"
    assert error["extensions"]["item"] == "E03"


INVALID = [
    ("person", "idNumber", "440106199001011234", "check digit"),
    ("person", "idNumber", "440106199002301234", "1990-02-30"),
    ("person", "idNumber", "4401061990010112", "18 characters"),
    ("legalEntity", "uscc", "91440106MA59C8K17E", "check character"),
    ("legalEntity", "uscc", "91440106MA59C8K157", "organisation code"),
]


async def test_invalid_identifiers_are_refused_without_querying(agent: Any, runtime: Any) -> None:
    seen: list[str] = []
    runtime.stores.observers.append(lambda agency, sql, args: seen.append(agency))
    try:
        for root, argument, value, fragment in INVALID:
            for as_variable in (False, True):
                if as_variable:
                    scalar = "ResidentIdNumber" if argument == "idNumber" else "UnifiedSocialCreditCode"
                    response = await agent("gz-gab").query(
                        f"query($v: {scalar}!) {{ {root}({argument}: $v) {{ name }} }}", {"v": value}, duty="gab.household"
                    )
                else:
                    response = await agent("gz-gab").query(f'{{ {root}({argument}: "{value}") {{ name }} }}', duty="gab.household")
                body = response.json()
                assert codes(body) == ["INVALID_IDENTIFIER"], (value, body)
                assert fragment in body["errors"][0]["message"], (value, body["errors"][0]["message"])
    finally:
        runtime.stores.observers.clear()
    assert seen == []


async def test_lowercase_x_is_accepted(agent: Any) -> None:
    body = (await agent("gz-gab").query('{ person(idNumber: "44010319781120046x") { idNumber name } }', duty="gab.household")).json()
    assert "errors" not in body, body
    assert body["data"]["person"] == {"idNumber": WANG_FANG, "name": "王芳"}


async def test_operator_reads_whole_catalog(agent: Any) -> None:
    body = (
        await agent("gz-zsj").query(
            "{ catalog { code provider shareClass dutiesInScope updateCycle kind public fields } }", duty="platform.operate"
        )
    ).json()
    assert "errors" not in body, body
    items = {i["code"]: i for i in body["data"]["catalog"]}
    assert sorted(items) == sorted(["P01", "P02", "P03", "P04", "P05", "P06", "P07", "E01", "E02", "E03", "E04", "H01", "H02"])
    assert items["P07"]["shareClass"] == "none" and items["P07"]["fields"] == []
    assert items["H02"]["provider"] == "gz-zfcxjsj" and items["H02"]["dutiesInScope"] == ["mz.assistance"]
    assert items["E04"]["public"] is True and items["E04"]["updateCycle"] == "quarterly"
    assert items["P04"]["updateCycle"] == "realtime" and items["P04"]["kind"] == "license"


async def test_directives_with_variables_select_fields(agent: Any) -> None:
    # dashboards toggle fields with variables: @include/@skip must be applied, not fail the query
    query = (
        "query($id: ResidentIdNumber!, $withName: Boolean!, $noStatus: Boolean = true) { person(idNumber: $id) {"
        " name @include(if: $withName) maritalStatus socialInsurance { status @skip(if: $noStatus) contributionMonths } } }"
    )
    client = agent("gz-zfcxjsj")
    body = (await client.query(query, {"id": ZHANG_WEI, "withName": True}, duty="zj.housing-security")).json()
    assert "errors" not in body, body
    assert body["data"]["person"] == {"name": "张伟", "maritalStatus": "married", "socialInsurance": {"contributionMonths": 96}}
    body = (await client.query(query, {"id": ZHANG_WEI, "withName": False, "noStatus": False}, duty="zj.housing-security")).json()
    assert "errors" not in body, body
    assert body["data"]["person"] == {"maritalStatus": "married", "socialInsurance": {"status": "active", "contributionMonths": 96}}
