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
