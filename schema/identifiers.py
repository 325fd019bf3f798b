from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from typing import Any, NewType

import strawberry
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc
from stdnum.exceptions import InvalidComponent
from strawberry.types.scalar import ScalarDefinition

__all__ = [
    "CHINA_TZ",
    "IDENTIFIER_SCALAR_MAP",
    "InvalidIdentifier",
    "OrganizationCode",
    "ResidentIdNumber",
    "UnifiedSocialCreditCode",
    "parse_organization_code",
    "parse_resident_id_number",
    "parse_unified_social_credit_code",
    "resident_id_division",
    "uscc_division",
]

_DIGITS = frozenset("0123456789")
_ORG_BODY_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_USCC_CHARS = frozenset("0123456789ABCDEFGHJKLMNPQRTUWXY")
_PROVINCE_CODES = frozenset(
    {*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47)}
    | {*range(50, 55), *range(61, 66), 71, 81, 82, 83, 91}
)
# Birth dates are civil dates in China; judging "future" by the server's UTC
# date would reject people born today between 00:00 and 08:00 Beijing time.
CHINA_TZ = datetime.timezone(datetime.timedelta(hours=8), "CST")
"""China Standard Time: the calendar of birth dates and of the regulation's deadlines."""
_EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)


class InvalidIdentifier(ValueError):
    def __init__(self, kind: str, value: object, reason: str) -> None:
        super().__init__(f"{kind} {value!r}: {reason}" if isinstance(value, str) else f"{kind}: {reason}")
        self.kind = kind
        self.value = value
        self.reason = reason

    # graphql-core copies `original_error.extensions` onto the GraphQLError it
    # builds around a failing parse_value/parse_literal (literal, variable and
    # resolver paths alike), so this is what gives clients the error code.
    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": "INVALID_IDENTIFIER", "identifier": self.kind}


_JSON_KINDS = {int: "a number", float: "a number", bool: "true/false", dict: "an object", list: "a list", type(None): "null"}


def _require_plain_string(kind: str, value: object) -> str:
    if not isinstance(value, str):
        got = _JSON_KINDS.get(type(value), "another kind of value")
        raise InvalidIdentifier(kind, value, f"must be a string (in quotes), got {got}")
    if value != value.strip():
        reason = "must not have leading or trailing whitespace"
        raise InvalidIdentifier(kind, value, reason)
    return value


def _first_bad_char(text: str, allowed: frozenset[str]) -> tuple[int, str] | None:
    for index, char in enumerate(text, start=1):
        if char not in allowed:
            return index, char
    return None


def _organization_check_char(body: str) -> str:
    total = sum(int(char, 36) * weight for char, weight in zip(body, _ORG_WEIGHTS))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def parse_resident_id_number(value: str) -> str:
    return _resident_id_number(_require_plain_string("ResidentIdNumber", value))


# valid numbers recur (the same people are asked for again and again); invalid ones raise
# and are never cached
@functools.lru_cache(maxsize=200_000)
def _resident_id_number(raw: str) -> str:
    kind, value = "ResidentIdNumber", raw
    if len(raw) != 18:
        raise InvalidIdentifier(kind, value, f"must be 18 characters, got {len(raw)}")
    if bad := _first_bad_char(raw[:17], _DIGITS):
        reason = f"character {bad[0]} {bad[1]!r} is not a digit 0-9"
        raise InvalidIdentifier(kind, value, reason)
    if raw[17] not in _DIGITS | {"X", "x"}:
        reason = f"last character must be a digit or X, got {raw[17]!r}"
        raise InvalidIdentifier(kind, value, reason)
    number = raw.upper()
    if int(number[:2]) not in _PROVINCE_CODES:
        reason = f"division {number[:6]} has unknown province code {number[:2]}"
        raise InvalidIdentifier(kind, value, reason)
    # stdnum's ric.validate() is not used as a whole: its birth-place lookup
    # rejects real numbers whose division code was created after the holder's
    # birth (e.g. 440113 Panyu District, 2000, for people born in the 1990s).
    try:
        born = stdnum_ric.get_birth_date(number)
    except InvalidComponent:
        shown = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
        reason = f"birth date {shown} does not exist"
        raise InvalidIdentifier(kind, value, reason) from None
    if born > datetime.datetime.now(CHINA_TZ).date():
        raise InvalidIdentifier(kind, value, f"birth date {born} is in the future")
    if born < _EARLIEST_BIRTH_DATE:
        reason = f"birth date {born} is before {_EARLIEST_BIRTH_DATE}"
        raise InvalidIdentifier(kind, value, reason)
    expected = stdnum_ric.calc_check_digit(number)
    if number[17] != expected:
        reason = f"check digit is {number[17]}, expected {expected}"
        raise InvalidIdentifier(kind, value, reason)
    return number


def parse_organization_code(value: str) -> str:
    kind = "OrganizationCode"
    code = _require_plain_string(kind, value).upper()
    if "-" in code:
        if len(code) != 10 or code.index("-") != 8 or code.count("-") != 1:
            reason = "a hyphen is only allowed before the check character (XXXXXXXX-X)"
            raise InvalidIdentifier(kind, value, reason)
        code = code.replace("-", "")
    if len(code) != 9:
        reason = f"must be 9 characters (or XXXXXXXX-X), got {len(code)}"
        raise InvalidIdentifier(kind, value, reason)
    if bad := _first_bad_char(code[:8], _ORG_BODY_CHARS):
        reason = f"character {bad[0]} {bad[1]!r} is not a digit or letter A-Z"
        raise InvalidIdentifier(kind, value, reason)
    expected = _organization_check_char(code[:8])
    if code[8] != expected:
        reason = f"check character is {code[8]}, expected {expected}"
        raise InvalidIdentifier(kind, value, reason)
    return code


def parse_unified_social_credit_code(value: str) -> str:
    kind = "UnifiedSocialCreditCode"
    code = _require_plain_string(kind, value).upper()
    if len(code) != 18:
        raise InvalidIdentifier(kind, value, f"must be 18 characters, got {len(code)}")
    if bad := _first_bad_char(code, _USCC_CHARS):
        reason = (
            f"character {bad[0]} {bad[1]!r} is not allowed"
            " (digits and letters except I, O, S, V, Z)"
        )
        raise InvalidIdentifier(kind, value, reason)
    # stdnum's uscc.validate() is not used as a whole: it requires characters
    # 1-2 to be digits, but GB 32100 registration authority codes include A, N, Y.
    if _first_bad_char(code[2:8], _DIGITS):
        reason = f"registration division (characters 3-8) {code[2:8]} must be 6 digits"
        raise InvalidIdentifier(kind, value, reason)
    expected = stdnum_uscc.calc_check_digit(code)
    if code[17] != expected:
        reason = f"check character is {code[17]}, expected {expected}"
        raise InvalidIdentifier(kind, value, reason)
    # Characters 9-17 are a GB 11714 organisation code with its own check
    # character; a code can pass the USCC check above and still fail this one.
    org_code = code[8:17]
    org_expected = _organization_check_char(org_code[:8])
    if org_code[8] != org_expected:
        reason = (
            f"embedded organisation code {org_code} has check character"
            f" {org_code[8]}, expected {org_expected}"
        )
        raise InvalidIdentifier(kind, value, reason)
    return code


def uscc_division(uscc: str) -> str:
    return parse_unified_social_credit_code(uscc)[2:8]


def resident_id_division(id_number: str) -> str:
    return parse_resident_id_number(id_number)[:6]


ResidentIdNumber = NewType("ResidentIdNumber", str)
UnifiedSocialCreditCode = NewType("UnifiedSocialCreditCode", str)
OrganizationCode = NewType("OrganizationCode", str)

# strawberry 0.341 deprecates strawberry.scalar(NewType(...)) and the project
# turns warnings into errors, so the scalars are bound via scalar_map instead.
# A schema that uses these types without the map fails to build (TypeError).
IDENTIFIER_SCALAR_MAP: Mapping[object, ScalarDefinition] = {
    ResidentIdNumber: strawberry.scalar(
        name="ResidentIdNumber",
        serialize=str,
        parse_value=parse_resident_id_number,
        description=(
            "PRC resident identity card number (GB 11643-1999): 18 characters, a"
            " 6-digit division code, an 8-digit birth date YYYYMMDD, a 3-digit"
            " sequence and an ISO 7064 MOD 11-2 check digit (0-9 or X)."
            " Lowercase x is accepted and returned as X."
        ),
    ),
    UnifiedSocialCreditCode: strawberry.scalar(
        name="UnifiedSocialCreditCode",
        serialize=str,
        parse_value=parse_unified_social_credit_code,
        description=(
            "Unified social credit code (GB 32100-2015): 18 characters from digits"
            " and letters except I, O, S, V, Z; characters 3-8 are the registration"
            " division, 9-17 an embedded GB 11714 organisation code, 18 a MOD 31"
            " check character. Lowercase is accepted and returned as uppercase."
        ),
    ),
    OrganizationCode: strawberry.scalar(
        name="OrganizationCode",
        serialize=str,
        parse_value=parse_organization_code,
        description=(
            "Organisation code (GB 11714-1997): 8 digits or uppercase letters and a"
            " MOD 11 check character (0-9 or X), as XXXXXXXXX or XXXXXXXX-X."
            " Returned as 9 uppercase characters without hyphen."
        ),
    ),
}
