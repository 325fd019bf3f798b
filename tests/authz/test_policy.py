"""The policy engine, rule by rule, on the demo catalog (and variants of it)."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from authz import Catalog, Code, OnwardConsent, Recipient, RequestContext, ShareClass, decide_duty, decide_fields, record_divisions
from authz.cache import DecisionCache
from authz.context import parse_on_behalf_of
from authz.model import CatalogItem, ConfidentialityReview, FieldBinding
from gateway.catalog_files import demo_files, load_bundle

TODAY = dt.date(2026, 11, 30)
DEMO = load_bundle(demo_files()).catalog


def variant(*, consents: tuple[OnwardConsent, ...] = (), items: dict[str, dict[str, Any]] | None = None, bindings: dict[str, FieldBinding] | None = None) -> Catalog:
    changed = dict(DEMO.items)
    for code, changes in (items or {}).items():
        changed[code] = dataclasses.replace(changed[code], **changes)
    return Catalog(DEMO.version, DEMO.agencies, changed, {**DEMO.bindings, **(bindings or {})}, DEMO.divisions, consents)


def ctx(agency: str, duty: str | None, granted: set[str] | None = None, on_behalf_of: str = "") -> RequestContext:
    return RequestContext(
        agency=agency,
        duty=duty,
        granted_duties=frozenset(granted if granted is not None else ({duty} if duty else set())),
        today=TODAY,
        on_behalf_of=parse_on_behalf_of(on_behalf_of) if on_behalf_of else (),
    )


H02 = "Person.housingSecurity.applicantMaritalStatus"
CONSENT_TH = OnwardConsent(1, "P03", "gz-zfcxjsj", "th-mzj", None)
NONE_ITEM = {"P07": {"fields": ("Person.criminalRecord",)}}
NONE_BINDING = {"Person.criminalRecord": FieldBinding("Person.criminalRecord", "P07")}
FAILED_REVIEW = {"P05": {"review": ConfidentialityReview("x", dt.date(2012, 8, 1), "failed")}}

CASES: list[tuple[str, Catalog, RequestContext, str, Code | None, str | None]] = [
    # share class
    ("unconditional to any duty", DEMO, ctx("gz-mzj", "mz.marriage"), "Person.name", None, "P01"),
    ("unconditional entity item", DEMO, ctx("th-mzj", "mz.assistance"), "LegalEntity.name", None, "E01"),
    ("public item", DEMO, ctx("gz-rsj", "rs.employment"), "LegalEntity.taxCreditRating.grade", None, "E04"),
    ("conditional, duty in scope", DEMO, ctx("gz-zfcxjsj", "zj.housing-security"), "Person.maritalStatus", None, "P03"),
    ("conditional, duty out of scope", DEMO, ctx("gz-rsj", "rs.insurance"), "Person.maritalStatus", Code.NOT_IN_SCOPE, "P03"),
    ("conditional, another duty of a holder of an in-scope duty", DEMO, ctx("gz-mzj", "mz.marriage", {"mz.marriage", "mz.assistance"}), "Person.socialInsurance.status", Code.NOT_IN_SCOPE, "P06"),
    ("conditional entity item out of scope", DEMO, ctx("gz-zfcxjsj", "zj.housing-security"), "LegalEntity.legalRepresentativeIdNumber", Code.NOT_IN_SCOPE, "E03"),
    ("share class none is never served", variant(items=NONE_ITEM, bindings=NONE_BINDING), ctx("gz-mzj", "mz.assistance"), "Person.criminalRecord", Code.NOT_IN_SCOPE, "P07"),
    ("share class none not even to its provider", variant(items=NONE_ITEM, bindings=NONE_BINDING), ctx("gz-gab", "gab.public-order"), "Person.criminalRecord", Code.NOT_IN_SCOPE, "P07"),
    ("item without a passed review", variant(items=FAILED_REVIEW), ctx("gz-zfcxjsj", "zj.housing-security"), "Person.subsistenceAllowance.status", Code.NOT_IN_SCOPE, "P05"),
    ("field not in the catalog", DEMO, ctx("gz-mzj", "mz.marriage"), "Person.salary", Code.NOT_IN_SCOPE, None),
    # a provider reads its own items under any of its duties
    ("provider's own conditional item", DEMO, ctx("gz-mzj", "mz.marriage"), "Person.maritalStatus", None, "P03"),
    ("provider's own item, duty outside scope", DEMO, ctx("gz-gab", "gab.public-order"), "Person.domicileAddress", None, "P02"),
    ("holder reads its own shared copy", DEMO, ctx("gz-zfcxjsj", "zj.housing-security"), H02, None, "H02"),
    # duty
    ("no duty", DEMO, ctx("gz-mzj", None), "Person.name", Code.DUTY_REQUIRED, None),
    ("duty held but not granted by the token", DEMO, ctx("gz-mzj", "mz.assistance", {"mz.marriage"}), "Person.name", Code.DUTY_NOT_GRANTED, None),
    ("duty granted by the token but not held", DEMO, ctx("gz-rsj", "mz.assistance", {"mz.assistance"}), "Person.name", Code.DUTY_NOT_HELD, None),
    ("unregistered agency", DEMO, ctx("gz-xyz", "mz.assistance"), "Person.name", Code.FORBIDDEN, None),
    # redistribution
    ("shared copy without consent", DEMO, ctx("th-mzj", "mz.assistance"), H02, Code.REDISTRIBUTION_BLOCKED, "H02"),
    ("shared copy with consent to the recipient", variant(consents=(CONSENT_TH,)), ctx("th-mzj", "mz.assistance"), H02, None, "H02"),
    ("consent to every agency", variant(consents=(dataclasses.replace(CONSENT_TH, recipient=None),)), ctx("gz-mzj", "mz.assistance"), H02, None, "H02"),
    ("consent to another recipient", variant(consents=(dataclasses.replace(CONSENT_TH, recipient="gz-rsj"),)), ctx("th-mzj", "mz.assistance"), H02, Code.REDISTRIBUTION_BLOCKED, "H02"),
    ("consent to another holder", variant(consents=(dataclasses.replace(CONSENT_TH, holder="gz-rsj"),)), ctx("th-mzj", "mz.assistance"), H02, Code.REDISTRIBUTION_BLOCKED, "H02"),
    ("consent expired yesterday", variant(consents=(dataclasses.replace(CONSENT_TH, until=TODAY - dt.timedelta(days=1)),)), ctx("th-mzj", "mz.assistance"), H02, Code.REDISTRIBUTION_BLOCKED, "H02"),
    ("consent until today", variant(consents=(dataclasses.replace(CONSENT_TH, until=TODAY),)), ctx("th-mzj", "mz.assistance"), H02, None, "H02"),
    ("consent for another item", variant(consents=(dataclasses.replace(CONSENT_TH, origin_item="P04"),)), ctx("th-mzj", "mz.assistance"), H02, Code.REDISTRIBUTION_BLOCKED, "H02"),
    ("public origin needs no consent", variant(items={"P03": {"public": True}}), ctx("th-mzj", "mz.assistance"), H02, None, "H02"),
    ("origin provider reads the copy", DEMO, ctx("gz-mzj", "mz.assistance"), H02, None, "H02"),
    ("scope is checked before provenance", DEMO, ctx("gz-rsj", "rs.insurance"), H02, Code.NOT_IN_SCOPE, "H02"),
    # on behalf of
    ("on behalf of a recipient that could not obtain it", DEMO, ctx("gz-zfcxjsj", "zj.housing-security", on_behalf_of="th-mzj:mz.assistance"), "Person.maritalStatus", Code.REDISTRIBUTION_BLOCKED, "P03"),
    ("on behalf of a recipient that could obtain it", DEMO, ctx("gz-zfcxjsj", "zj.housing-security", on_behalf_of="th-mzj:mz.assistance"), "Person.socialInsurance.status", None, "P06"),
    ("on behalf of, unconditional", DEMO, ctx("gz-mzj", "mz.assistance", on_behalf_of="gz-rsj:rs.insurance"), "Person.name", None, "P01"),
    ("on behalf of an agency without that duty", DEMO, ctx("gz-mzj", "mz.assistance", on_behalf_of="gz-rsj:mz.assistance"), "Person.name", Code.INVALID_ON_BEHALF_OF, None),
    ("on behalf of an unregistered agency", DEMO, ctx("gz-mzj", "mz.assistance", on_behalf_of="gz-xyz:a.b"), "Person.name", Code.INVALID_ON_BEHALF_OF, None),
    ("chain of two, the last one blocked", DEMO, ctx("gz-mzj", "mz.assistance", on_behalf_of="gz-zfcxjsj:zj.housing-security, gz-swj:sw.collection"), "Person.socialInsurance.status", Code.REDISTRIBUTION_BLOCKED, "P06"),
]


@pytest.mark.parametrize(("case", "catalog", "context", "path", "code", "item"), CASES, ids=[c[0] for c in CASES])
def test_policy_cases(case: str, catalog: Catalog, context: RequestContext, path: str, code: Code | None, item: str | None) -> None:
    decision = decide_fields(catalog, context, [path])[path]
    assert decision.allowed is (code is None), decision
    assert decision.code == code
    assert decision.item == item
    if code is not None:
        assert decision.message and decision.article and decision.article.startswith("R-")


def test_redistribution_names_origin_item_and_provider() -> None:
    decision = decide_fields(DEMO, ctx("th-mzj", "mz.assistance"), [H02])[H02]
    assert decision.origin == "P03"
    assert decision.article == "R-25"
    assert "P03" in decision.message and "gz-mzj" in decision.message
    assert decision.extensions == {"code": "REDISTRIBUTION_BLOCKED", "article": "R-25", "item": "H02", "provider": "gz-zfcxjsj", "originItem": "P03"}


def test_onward_provision_of_served_items() -> None:
    catalog = variant(consents=(OnwardConsent(2, "P01", "gz-zfcxjsj", None, dt.date(2027, 1, 1)),))
    decisions = decide_fields(catalog, ctx("gz-zfcxjsj", "zj.housing-security"), ["Person.name", "Person.maritalStatus", "LegalEntity.taxCreditRating.year"])
    assert decisions["Person.name"].onward is not None and decisions["Person.name"].onward.consented_until == dt.date(2027, 1, 1)
    assert decisions["Person.maritalStatus"].onward is not None and decisions["Person.maritalStatus"].onward.prohibited
    assert decisions["LegalEntity.taxCreditRating.year"].onward is not None and decisions["LegalEntity.taxCreditRating.year"].onward.public
    assert decisions["Person.name"].onward.consented_to is None  # a consent without a recipient: to any agency


def test_onward_provision_names_the_recipients_and_follows_a_copy_to_its_origin() -> None:
    limited = variant(consents=(CONSENT_TH, dataclasses.replace(CONSENT_TH, id=2, recipient="gz-gab")))
    onward = decide_fields(limited, ctx("gz-zfcxjsj", "zj.housing-security"), ["Person.maritalStatus"])["Person.maritalStatus"].onward
    assert onward is not None and onward.consented and onward.consented_to == ("gz-gab", "th-mzj")
    # what th-mzj receives through gz-zfcxjsj's copy H02 is P03 information: gz-mzj decides its onward provision
    to_holder = variant(consents=(CONSENT_TH, OnwardConsent(3, "P03", "th-mzj", "gz-rsj", None)))
    copied = decide_fields(to_holder, ctx("th-mzj", "mz.assistance"), [H02])[H02]
    assert copied.allowed and copied.onward is not None
    assert copied.onward.consented and copied.onward.consented_to == ("gz-rsj",)
    public_copy = variant(consents=(CONSENT_TH,), items={"H02": {"public": True}})
    assert decide_fields(public_copy, ctx("th-mzj", "mz.assistance"), [H02])[H02].onward.prohibited  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("context", "divisions"),
    [
        (ctx("th-mzj", "mz.assistance"), {"440106"}),
        (ctx("gz-mzj", "mz.assistance"), set()),
        (ctx("gz-mzj", "mz.assistance", on_behalf_of="th-mzj:mz.assistance"), {"440106"}),
    ],
)
def test_division_of_records(context: RequestContext, divisions: set[str]) -> None:
    assert record_divisions(DEMO, context) == divisions


def test_duty_check_passes_for_a_held_and_granted_duty() -> None:
    assert decide_duty(DEMO, ctx("gz-mzj", "mz.assistance")) is None


def test_on_behalf_of_header_syntax() -> None:
    assert parse_on_behalf_of("th-mzj:mz.assistance") == (Recipient("th-mzj", "mz.assistance"),)
    for bad in ("th-mzj", ":mz.assistance", "th-mzj:", "a:b,,"):
        with pytest.raises(ValueError, match="<agency code>:<duty code>"):
            parse_on_behalf_of(bad)


def test_decisions_are_deterministic_and_cached() -> None:
    cache = DecisionCache(maxsize=2)
    paths = tuple(DEMO.bindings)
    first = cache.decide(DEMO, ctx("th-mzj", "mz.assistance"), paths)
    assert cache.decide(DEMO, ctx("th-mzj", "mz.assistance"), paths) is first
    assert first == decide_fields(DEMO, ctx("th-mzj", "mz.assistance"), paths)
    assert (cache.hits, cache.misses) == (1, 1)
    consented = DEMO.with_consents((CONSENT_TH,), 1)
    assert cache.decide(consented, ctx("th-mzj", "mz.assistance"), paths)[H02].allowed


FORBIDDEN_IMPORTS = {"starlette", "strawberry", "asyncpg", "aiocache", "graphql", "httpx", "uvicorn", "gateway", "resolvers", "schema", "socket", "os", "yaml"}


def test_policy_engine_is_pure() -> None:
    for path in sorted(Path(__file__).parents[2].joinpath("authz").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN_IMPORTS, f"{path.name} imports {name}"


def test_unused_share_class_enum_values_are_the_regulations() -> None:
    assert {c.value for c in ShareClass} == {"unconditional", "conditional", "none"}
    assert isinstance(DEMO.items["P01"], CatalogItem)


def test_fields_of_one_item_share_a_decision_but_keep_their_own_path() -> None:
    paths = ["Person.socialInsurance.status", "Person.socialInsurance.contributionMonths"]
    decisions = decide_fields(DEMO, ctx("gz-zfcxjsj", "zj.housing-security"), paths)
    first, second = (decisions[p] for p in paths)
    assert (first.field, second.field) == tuple(paths)
    assert first == dataclasses.replace(second, field=first.field)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.field = "x"  # type: ignore[misc]
