from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig

from schema.identifiers import (
    IDENTIFIER_SCALAR_MAP,
    InvalidIdentifier,
    OrganizationCode,
    ResidentIdNumber,
    UnifiedSocialCreditCode,
    parse_organization_code,
    parse_resident_id_number,
    parse_unified_social_credit_code,
    resident_id_division,
    uscc_division,
)

CHINA_TZ = datetime.timezone(datetime.timedelta(hours=8))


def with_rid_check(first17: str) -> str:
    # Independent ISO 7064 MOD 11-2 oracle (weights 2^(17-i) mod 11).
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    return first17 + "10X98765432"[total % 11]


def rid_born(date: datetime.date) -> str:
    return with_rid_check(f"440106{date:%Y%m%d}123")


# --- GB 11643-1999 resident identity card numbers -------------------------

@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("440106199001011235", "440106199001011235"),
        ("440106199203154525", "440106199203154525"),
        ("44010319781120046X", "44010319781120046X"),
        ("44010319781120046x", "44010319781120046X"),
        ("440111199207085636", "440111199207085636"),
        ("440106200002290024", "440106200002290024"),  # 2000 is a leap year
        # Panyu District (440113) was created in 2000: stdnum's birth-place
        # lookup rejects this number, our division check must not.
        ("440113199506052343", "440113199506052343"),
        (with_rid_check("83000019900101123"), with_rid_check("83000019900101123")),
        (with_rid_check("91000019900101123"), with_rid_check("91000019900101123")),
        (rid_born(datetime.date(1900, 1, 1)), rid_born(datetime.date(1900, 1, 1))),
    ],
)
def test_resident_id_valid(value: str, expected: str) -> None:
    assert with_rid_check(expected[:17]) == expected
    assert parse_resident_id_number(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("440106199001011234", "check digit is 4, expected 5"),
        ("44010319781120046Y", "last character must be a digit or X, got 'Y'"),
        ("440106199002301234", "birth date 1990-02-30 does not exist"),
        (with_rid_check("44010619000229123"), "birth date 1900-02-29 does not exist"),
        (with_rid_check("44010619901301123"), "birth date 1990-13-01 does not exist"),
        (
            rid_born(datetime.date(1899, 12, 31)),
            "birth date 1899-12-31 is before 1900-01-01",
        ),
        ("4401061990010112", "must be 18 characters, got 16"),
        ("4401061990010112350", "must be 18 characters, got 19"),
        ("", "must be 18 characters, got 0"),
        ("4401061990O1011235", "character 11 'O' is not a digit 0-9"),
        ("\uff1440106199001011235", "character 1 '\uff14' is not a digit 0-9"),
        (with_rid_check("99010619900101123"), "division 990106 has unknown province"),
        (with_rid_check("10010619900101123"), "division 100106 has unknown province"),
        (" 440106199001011235", "must not have leading or trailing whitespace"),
        ("440106199001011235\n", "must not have leading or trailing whitespace"),
    ],
)
def test_resident_id_invalid(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_resident_id_number(value)
    assert str(caught.value).startswith(f"ResidentIdNumber {value!r}: {reason}")
    assert (caught.value.kind, caught.value.value) == ("ResidentIdNumber", value)
    assert isinstance(caught.value, ValueError)


def test_resident_id_birth_date_in_china_today_ok_tomorrow_rejected() -> None:
    today = datetime.datetime.now(CHINA_TZ).date()
    assert parse_resident_id_number(rid_born(today)) == rid_born(today)
    tomorrow = today + datetime.timedelta(days=1)
    with pytest.raises(InvalidIdentifier, match=f"{tomorrow} is in the future"):
        parse_resident_id_number(rid_born(tomorrow))


def test_resident_id_rejects_non_string() -> None:
    with pytest.raises(InvalidIdentifier, match=r"^ResidentIdNumber: must be a string \(in quotes\), got a number$"):
        parse_resident_id_number(440106199001011235)  # type: ignore[arg-type]
    with pytest.raises(InvalidIdentifier, match=r"got an object$"):
        parse_resident_id_number({"a": 1})  # type: ignore[arg-type]


def test_resident_id_division() -> None:
    assert resident_id_division("44010319781120046x") == "440103"
    with pytest.raises(InvalidIdentifier, match="check digit"):
        resident_id_division("440106199001011234")


# --- GB 11714-1997 organisation codes --------------------------------------

@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("600037341", "600037341"),
        ("MA59C8K17", "MA59C8K17"),
        ("MA5D3N7W3", "MA5D3N7W3"),
        ("MA9UTQ4R6", "MA9UTQ4R6"),
        ("D2143569X", "D2143569X"),  # remainder 10 -> X
        ("000000000", "000000000"),  # remainder 11 -> 0
        ("D2143569-X", "D2143569X"),  # printed form with hyphen
        # Choice: lowercase is accepted and normalised to uppercase.
        ("ma59c8k17", "MA59C8K17"),
        ("d2143569-x", "D2143569X"),
    ],
)
def test_organization_code_valid(value: str, expected: str) -> None:
    assert parse_organization_code(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("MA59C8K15", "check character is 5, expected 7"),
        ("D21435690", "check character is 0, expected X"),
        ("MA59C8K1A", "check character is A, expected 7"),
        ("MA59C8K1", "must be 9 characters (or XXXXXXXX-X), got 8"),
        ("MA59C8K170", "must be 9 characters (or XXXXXXXX-X), got 10"),
        ("MA59C8-K17", "a hyphen is only allowed before the check character"),
        ("MA59C8K1--7", "a hyphen is only allowed before the check character"),
        ("MA59C8K!7", "character 8 '!' is not a digit or letter A-Z"),
        ("MA59C8K17 ", "must not have leading or trailing whitespace"),
    ],
)
def test_organization_code_invalid(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_organization_code(value)
    assert str(caught.value).startswith(f"OrganizationCode {value!r}: {reason}")
    assert caught.value.kind == "OrganizationCode"


# --- GB 32100-2015 unified social credit codes -----------------------------

@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("91110000600037341L", "91110000600037341L"),
        ("91440106MA59C8K17D", "91440106MA59C8K17D"),
        ("91440103MA5D3N7W37", "91440103MA5D3N7W37"),
        ("91440111MA9UTQ4R6C", "91440111MA9UTQ4R6C"),
        ("91440106ma59c8k17d", "91440106MA59C8K17D"),
        # Constructed: registration authority N (agriculture) is a letter,
        # which stdnum.cn.uscc.validate() would wrongly reject.
        ("N2440106MA59C8K17W", "N2440106MA59C8K17W"),
    ],
)
def test_uscc_valid(value: str, expected: str) -> None:
    assert parse_unified_social_credit_code(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("91440106MA59C8K17E", "check character is E, expected D"),
        (
            "91440106MA59C8K157",
            "embedded organisation code MA59C8K15 has check character 5, expected 7",
        ),
        *[
            (f"91440106{c}A59C8K17D", f"character 9 {c!r} is not allowed")
            for c in "IOSVZ"
        ],
        ("91440106mi59c8k17d", "character 10 'I' is not allowed"),
        ("91440106MA59C8K17", "must be 18 characters, got 17"),
        ("91440106MA59C8K17D0", "must be 18 characters, got 19"),
        ("91440106-MA59C8K17", "character 9 '-' is not allowed"),
        ("9144A106MA59C8K17D", "registration division (characters 3-8) 44A106"),
        ("\t91440106MA59C8K17D", "must not have leading or trailing whitespace"),
    ],
)
def test_uscc_invalid(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_unified_social_credit_code(value)
    assert str(caught.value).startswith(f"UnifiedSocialCreditCode {value!r}: {reason}")
    assert caught.value.kind == "UnifiedSocialCreditCode"


def test_uscc_division() -> None:
    assert uscc_division("91440106ma59c8k17d") == "440106"
    with pytest.raises(InvalidIdentifier, match="embedded organisation code"):
        uscc_division("91440106MA59C8K157")


# --- strawberry scalars ----------------------------------------------------

calls: list[tuple[str, Any]] = []


@strawberry.type
class Query:
    @strawberry.field
    def person(self, id: ResidentIdNumber) -> str:
        calls.append(("person", id))
        return id

    @strawberry.field
    def company(self, code: UnifiedSocialCreditCode) -> str:
        calls.append(("company", code))
        return code

    @strawberry.field
    def organization(self, code: OrganizationCode) -> str:
        calls.append(("organization", code))
        return code

    @strawberry.field
    def people(self, ids: list[ResidentIdNumber]) -> list[str]:
        calls.append(("people", ids))
        return list(ids)


SCHEMA = strawberry.Schema(
    query=Query, config=StrawberryConfig(scalar_map=IDENTIFIER_SCALAR_MAP)
)

FIELDS = {
    "person": ("id", "ResidentIdNumber"),
    "company": ("code", "UnifiedSocialCreditCode"),
    "organization": ("code", "OrganizationCode"),
}


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


def run(field: str, value: Any, *, as_variable: bool) -> Any:
    arg, type_name = FIELDS[field]
    if as_variable:
        query = f"query($v: {type_name}!) {{ {field}({arg}: $v) }}"
        return SCHEMA.execute_sync(query, variable_values={"v": value})
    return SCHEMA.execute_sync(f"{{ {field}({arg}: {json.dumps(value)}) }}")


@pytest.mark.parametrize("as_variable", [False, True], ids=["literal", "variable"])
@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("person", "440106199001011234", "check digit is 4, expected 5"),
        ("person", "440106199002301234", "birth date 1990-02-30 does not exist"),
        ("person", "4401061990010112", "must be 18 characters, got 16"),
        ("person", 440106199001011235, "must be a string (in quotes), got a number"),
        ("company", "91440106MA59C8K17E", "check character is E, expected D"),
        (
            "company",
            "91440106MA59C8K157",
            "embedded organisation code MA59C8K15 has check character 5, expected 7",
        ),
        ("organization", "MA59C8K15", "check character is 5, expected 7"),
    ],
)
def test_scalar_rejects_invalid(
    field: str, value: Any, reason: str, as_variable: bool
) -> None:
    result = run(field, value, as_variable=as_variable)
    kind = FIELDS[field][1]
    assert result.data is None
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.extensions == {"code": "INVALID_IDENTIFIER", "identifier": kind}
    assert (f"{kind} {value!r}: {reason}" if isinstance(value, str) else f"{kind}: {reason}") in error.message
    assert error.locations
    assert calls == []


@pytest.mark.parametrize("as_variable", [False, True], ids=["literal", "variable"])
@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("person", "44010319781120046x", "44010319781120046X"),
        ("company", "91440106ma59c8k17d", "91440106MA59C8K17D"),
        ("organization", "d2143569-x", "D2143569X"),
    ],
)
def test_scalar_normalises_before_resolver(
    field: str, value: str, expected: str, as_variable: bool
) -> None:
    result = run(field, value, as_variable=as_variable)
    assert result.errors is None
    assert result.data == {field: expected}
    assert calls == [(field, expected)]


def test_scalar_error_inside_list_variable() -> None:
    result = SCHEMA.execute_sync(
        "query($ids: [ResidentIdNumber!]!) { people(ids: $ids) }",
        variable_values={"ids": ["440106199001011235", "440106199001011234"]},
    )
    assert result.errors[0].extensions["code"] == "INVALID_IDENTIFIER"
    assert "at [1]" in result.errors[0].message
    assert "check digit is 4, expected 5" in result.errors[0].message
    assert calls == []


def test_invalid_identifier_raised_in_resolver_keeps_code() -> None:
    @strawberry.type
    class RawQuery:
        @strawberry.field
        def check(self, raw: str) -> str:
            return parse_resident_id_number(raw)

    result = strawberry.Schema(query=RawQuery).execute_sync(
        '{ check(raw: "440106199001011234") }'
    )
    assert result.errors[0].extensions == {
        "code": "INVALID_IDENTIFIER",
        "identifier": "ResidentIdNumber",
    }
    assert result.errors[0].message.endswith("check digit is 4, expected 5")


def test_schema_without_scalar_map_fails_to_build() -> None:
    # Forgetting the map must fail loudly, never degrade to an unchecked String.
    with pytest.raises(TypeError, match="ResidentIdNumber"):
        strawberry.Schema(query=Query)


def test_scalar_descriptions_name_the_standard() -> None:
    sdl = SCHEMA.as_str()
    for standard in ("GB 11643-1999", "GB 32100-2015", "GB 11714-1997"):
        assert standard in sdl
    for name in ("ResidentIdNumber", "UnifiedSocialCreditCode", "OrganizationCode"):
        assert f"scalar {name}" in sdl
