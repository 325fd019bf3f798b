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


def mutate_operator_as_text(docs: dict[str, Any]) -> None:
    next(a for a in docs["agencies.yaml"]["agencies"] if a["code"] == "gz-gab")["operator"] = "no"


def mutate_public_as_text(docs: dict[str, Any]) -> None:
    item(docs, "P03")["public"] = "false"


def mutate_items_not_a_list(docs: dict[str, Any]) -> None:
    docs["catalog.yaml"]["items"] = 5


def mutate_entities_as_a_list(docs: dict[str, Any]) -> None:
    docs["catalog.yaml"]["entities"] = list(docs["catalog.yaml"]["entities"])


def mutate_max_not_a_number(docs: dict[str, Any]) -> None:
    docs["catalog.yaml"]["entities"]["Person"]["root"]["max"] = "abc"


def mutate_key_as_text(docs: dict[str, Any]) -> None:
    docs["catalog.yaml"]["entities"]["Person"]["key"] = "idNumber"


def mutate_fields_as_a_list(docs: dict[str, Any]) -> None:
    item(docs, "P06")["fields"] = ["Person.socialInsurance.status"]


def mutate_division_field_typo(docs: dict[str, Any]) -> None:
    docs["catalog.yaml"]["entities"]["Person"]["division"] = {"field": "Person.domicileDivison"}


def mutate_division_slice_backwards(docs: dict[str, Any]) -> None:
    docs["catalog.yaml"]["entities"]["LegalEntity"]["division"] = {"key_slice": [8, 2]}


def mutate_copy_of_a_never_shared_item(docs: dict[str, Any]) -> None:
    columns = docs["mappings/gz-zfcxjsj.yaml"]["tables"][0]["columns"]
    columns["Person.housingSecurity.applicantMaritalStatus"]["origin"] = "P07"


def mutate_key_not_an_identifier(docs: dict[str, Any]) -> None:
    docs["catalog.yaml"]["entities"]["Person"]["key"]["scalar"] = "String"


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
    (mutate_operator_as_text, "agencies.yaml: agency gz-gab: 'operator' is 'no'; write true or false, without quotes"),
    (mutate_public_as_text, "catalog.yaml: item P03: 'public' is 'false'; write true or false"),
    (mutate_items_not_a_list, "catalog.yaml: items: must be a list, not int"),
    (mutate_entities_as_a_list, "catalog.yaml: entities: must be a mapping, not list"),
    (mutate_max_not_a_number, "catalog.yaml: entity Person: has a value of the wrong kind"),
    (mutate_key_as_text, "catalog.yaml: entity Person: has a value of the wrong kind"),
    (mutate_fields_as_a_list, "catalog.yaml: item P06: has a value of the wrong kind"),
    (mutate_division_field_typo, "catalog.yaml: entity Person: division field 'Person.domicileDivison' is not a top-level published field of Person"),
    (mutate_division_slice_backwards, "catalog.yaml: entity LegalEntity: division key_slice [8, 2] does not cut a 6-digit division code out of the key"),
    (mutate_copy_of_a_never_shared_item, "declares origin P07, an item that is not shared"),
    (mutate_key_not_an_identifier, "catalog.yaml: entity Person: key needs a field name and an identifier scalar: one of OrganizationCode, ResidentIdNumber, UnifiedSocialCreditCode"),
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


def test_cli_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    runner = CliRunner()
    latin = tmp_path / "catalog.yaml"
    latin.write_bytes(b"items: \xff\n")
    result = runner.invoke(main, ["catalog", "validate", str(latin)])
    assert result.exit_code == 1 and "is not UTF-8 text" in result.output and "Traceback" not in result.output
    for url, message in [
        ("not a url", "database_url: must start with postgresql://"),
        ("postgresql://gw:s3cret@127.0.0.1:abc/govshare", "database_url: the port 'abc' is not a number from 1 to 65535"),
    ]:
        bad_url = runner.invoke(main, ["audit", "verify", "--database-url", url])
        assert bad_url.exit_code == 1 and message in bad_url.output and "s3cret" not in bad_url.output
        assert isinstance(bad_url.exception, SystemExit)
    config = tmp_path / "gateway.yaml"
    config.write_text("database_url: [\n", encoding="utf-8")
    clients = runner.invoke(main, ["clients", "add", "gz-rsj", "--config", str(config)])
    assert clients.exit_code == 1 and "not valid YAML" in clients.output and isinstance(clients.exception, SystemExit)
    seals = tmp_path / "seals.txt"
    seals.write_bytes(b"\xff\xfe")
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}', encoding="utf-8")
    unreadable = runner.invoke(main, ["verify", str(seals), "--jwks", str(jwks)])
    assert unreadable.exit_code == 2 and "not UTF-8 text" in unreadable.output
    unreachable = runner.invoke(main, ["verify", str(seals), "--jwks", "https://127.0.0.1:1/jwks.json"])
    assert unreachable.exit_code == 2 and "--jwks:" in unreachable.output and isinstance(unreachable.exception, SystemExit)
    for keys, message in [("[1]", "key 1 of 'keys' is not a JSON object"), ('[{"alg": "EdDSA", "kty": "OKP"}]', "a key has no 'kid'")]:
        jwks.write_text(f'{{"keys": {keys}}}', encoding="utf-8")
        refused = runner.invoke(main, ["verify", str(seals), "--jwks", str(jwks)])
        assert refused.exit_code == 2 and message in refused.output and isinstance(refused.exception, SystemExit)


def test_schema_print_documents_the_catalog() -> None:
    result = CliRunner().invoke(main, ["schema", "print"])
    assert result.exit_code == 0
    sdl = result.output
    assert "person(idNumber: ResidentIdNumber!, snapshot: Boolean! = false): Person" in sdl
    assert "persons(idNumbers: [ResidentIdNumber!]!, snapshot: Boolean! = false): [Person]!" in sdl
    assert "legalEntity(uscc: UnifiedSocialCreditCode!, snapshot: Boolean! = false): LegalEntity" in sdl
    assert "Catalog item P03 婚姻登记信息; provider gz-mzj; share class conditional to gab.household, zj.housing-security; update cycle 3d" in sdl
    assert "criminal" not in sdl.lower()


def test_a_key_given_twice_in_a_file_is_refused(tmp_path: Path) -> None:
    # PyYAML keeps the last silently: a second `items:` would drop the whole first list
    path = tmp_path / "agencies.yaml"
    path.write_text("agencies: []\nagencies: []\n", encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_bundle([path])
    assert "key 'agencies' is given twice in one mapping" in str(caught.value)


def test_client_ids_are_checked(tmp_path: Path) -> None:
    runner = CliRunner()
    for bad in ("", "gz rsj", "gz:rsj", "x" * 65, "-gz"):
        result = runner.invoke(main, ["clients", "add", "gz-rsj", "--client-id", bad, "--data-dir", str(tmp_path / "none")])
        assert result.exit_code == 2 and "client id is 1-64 letters" in result.output, (bad, result.output)
