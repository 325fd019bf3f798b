from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from gateway.catalog_files import CatalogError, bundle_from_documents, catalog_files, check_store_columns, demo_files, load_bundle
from gateway.cli import main
from gateway.settings import DEMO_CATALOG_DIR


def demo_documents() -> dict[str, Any]:
    return {str(p.relative_to(DEMO_CATALOG_DIR)): yaml.safe_load(p.read_text(encoding="utf-8")) for p in demo_files()}


def item(docs: dict[str, Any], code: str) -> dict[str, Any]:
    return next(i for i in docs["catalog.yaml"]["items"] if i["code"] == code)


def problems_of(docs: dict[str, Any]) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        bundle_from_documents(docs)
    return [str(p) for p in caught.value.problems]


def test_demo_catalog_is_valid() -> None:
    bundle = load_bundle(demo_files())
    assert len(bundle.catalog.items) == 13
    assert bundle.catalog.bindings["Person.housingSecurity.applicantMaritalStatus"].origin == "P03"
    assert bundle.catalog.items["P07"].fields == ()
    assert bundle.operators == frozenset({"gz-zsj"})


def mutate_unknown_provider(docs: dict[str, Any]) -> None:
    item(docs, "E04")["provider"] = "gz-nobody"


def mutate_two_providers(docs: dict[str, Any]) -> None:
    docs["mappings/gz-mzj.yaml"]["tables"][0]["columns"]["Person.name"] = "marital_status"


def mutate_two_items(docs: dict[str, Any]) -> None:
    item(docs, "P03")["fields"]["Person.name"] = {"type": "String"}


def mutate_no_review(docs: dict[str, Any]) -> None:
    del item(docs, "P05")["review"]


def mutate_failed_review(docs: dict[str, Any]) -> None:
    item(docs, "P05")["review"] = {"reviewer": "x", "date": "2012-08-01", "result": "failed"}


def mutate_none_exposed(docs: dict[str, Any]) -> None:
    item(docs, "P07")["fields"] = {"Person.criminalRecord": {"type": "String"}}


def mutate_unmapped_field(docs: dict[str, Any]) -> None:
    del docs["mappings/gz-rsj.yaml"]["tables"][0]["columns"]["Person.socialInsurance.status"]


def mutate_bad_class(docs: dict[str, Any]) -> None:
    item(docs, "P01")["share_class"] = "sometimes"


def mutate_unknown_duty(docs: dict[str, Any]) -> None:
    item(docs, "P02")["duties"].append("xx.unknown")


def mutate_bad_identifier(docs: dict[str, Any]) -> None:
    docs["mappings/gz-swj.yaml"]["tables"][0]["table"] = "tax; DROP TABLE x"


def mutate_origin_unknown(docs: dict[str, Any]) -> None:
    columns = docs["mappings/gz-zfcxjsj.yaml"]["tables"][0]["columns"]
    columns["Person.housingSecurity.applicantMaritalStatus"]["origin"] = "P99"


CASES = [
    (mutate_unknown_provider, "catalog.yaml: item E04: unknown provider 'gz-nobody'"),
    (mutate_two_providers, "mappings/gz-mzj.yaml: mapping gz-mzj table marriage_registration: Person.name belongs to item P01 provided by gz-gab, not gz-mzj: one source per field (R-13)"),
    (mutate_two_items, "catalog.yaml: item P03: field Person.name is already published by item P01: one source per field (R-13)"),
    (mutate_no_review, "catalog.yaml: item P05: has no passed confidentiality review (R-16b)"),
    (mutate_failed_review, "catalog.yaml: item P05: has no passed confidentiality review (R-16b)"),
    (mutate_none_exposed, "catalog.yaml: item P07: a share class none item is never served and must not expose fields"),
    (mutate_unmapped_field, "catalog.yaml: item P06: field Person.socialInsurance.status has no column in gz-rsj's data-store mapping"),
    (mutate_bad_class, "catalog.yaml: item P01: 'share_class' is 'sometimes'; expected one of unconditional, conditional, none"),
    (mutate_unknown_duty, "catalog.yaml: item P02: duty 'xx.unknown' in scope is held by no registered agency"),
    (mutate_bad_identifier, "mappings/gz-swj.yaml: mapping gz-swj: 'tax; DROP TABLE x' is not a plain lower-case SQL identifier"),
    (mutate_origin_unknown, "declares origin 'P99', which is not a catalog item"),
]


@pytest.mark.parametrize(("mutate", "expected"), CASES, ids=[c[0].__name__.removeprefix("mutate_") for c in CASES])
def test_invalid_catalogs_name_file_entry_and_problem(mutate: Any, expected: str) -> None:
    docs = copy.deepcopy(demo_documents())
    mutate(docs)
    problems = problems_of(docs)
    assert any(expected in p for p in problems), problems


def test_column_missing_from_agency_database() -> None:
    bundle = load_bundle(demo_files())
    introspected = {a: {t.table: t.referenced_columns() for t in m.tables} for a, m in bundle.mappings.items()}
    assert check_store_columns(bundle, introspected) == []
    introspected["gz-rsj"]["insured_person"].discard("employer_uscc")
    del introspected["gz-swj"]["tax_credit_rating"]
    problems = [str(p) for p in check_store_columns(bundle, introspected)]
    assert problems == [
        "mappings/gz-rsj.yaml: mapping gz-rsj table insured_person: column insured_person.employer_uscc does not exist in gz-rsj's database",
        "mappings/gz-swj.yaml: mapping gz-swj table tax_credit_rating: table tax_credit_rating does not exist in gz-swj's database",
    ]


async def test_demo_mappings_match_the_real_databases(runtime: Any) -> None:
    introspected = {agency: await runtime.stores.columns(agency) for agency in runtime.bundle.mappings}
    assert check_store_columns(runtime.bundle, introspected) == []


def test_cli_validate_reports_problems(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["catalog", "validate", str(DEMO_CATALOG_DIR)])
    assert ok.exit_code == 0, ok.output
    assert "13 items" in ok.output
    broken = tmp_path / "catalog"
    (broken / "mappings").mkdir(parents=True)
    for path in catalog_files(DEMO_CATALOG_DIR):
        target = broken / path.relative_to(DEMO_CATALOG_DIR)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    catalog = broken / "catalog.yaml"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace("provider: gz-swj", "provider: gz-ghost"), encoding="utf-8")
    failed = runner.invoke(main, ["catalog", "validate", str(broken)])
    assert failed.exit_code == 1
    assert "item E04: unknown provider 'gz-ghost'" in failed.output


def test_schema_print_documents_the_catalog() -> None:
    result = CliRunner().invoke(main, ["schema", "print"])
    assert result.exit_code == 0
    sdl = result.output
    assert "person(idNumber: ResidentIdNumber!, snapshot: Boolean! = false): Person" in sdl
    assert "persons(idNumbers: [ResidentIdNumber!]!, snapshot: Boolean! = false): [Person]!" in sdl
    assert "legalEntity(uscc: UnifiedSocialCreditCode!, snapshot: Boolean! = false): LegalEntity" in sdl
    assert "Catalog item P03 婚姻登记信息; provider gz-mzj; share class conditional to gab.household, zj.housing-security; update cycle 3d" in sdl
    assert "criminal" not in sdl.lower()
