"""Loading and validating the declarative catalog: agencies, items, entities and store mappings."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from authz.model import (
    Agency,
    AgencyLevel,
    Catalog,
    CatalogItem,
    ConfidentialityReview,
    DivisionRule,
    FieldBinding,
    ItemKind,
    ShareClass,
    UpdateCycle,
)
from resolvers.mapping import OrderBy, StoreMapping, TableMapping
from schema.spec import LEAF_TYPES, EntitySpec, FieldSpec, ObjectSpec, RootSpec, SchemaSpec

__all__ = ["CatalogBundle", "CatalogError", "Problem", "load_bundle", "bundle_from_documents", "demo_files", "check_store_columns"]

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_DIVISION = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Problem:
    file: str
    entry: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: {self.message}"


class CatalogError(Exception):
    """The catalog files are not valid; `problems` lists every one found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class CatalogBundle:
    """Everything the gateway derives from one catalog version."""

    catalog: Catalog
    schema: SchemaSpec
    mappings: Mapping[str, StoreMapping]
    operators: frozenset[str]
    document: Mapping[str, Any]
    digest: str

    def with_version(self, version: int) -> CatalogBundle:
        return replace(self, catalog=replace(self.catalog, version=version))


def demo_files() -> list[Path]:
    from gateway.settings import DEMO_CATALOG_DIR

    return catalog_files(DEMO_CATALOG_DIR)


def catalog_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *(directory / "mappings").glob("*.yaml")])


def _read(path: Path, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(Problem(str(path), "file", f"cannot be read: {exc.strerror}"))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(str(path), "file", f"is not valid YAML: {exc}"))
        return None
    if not isinstance(document, dict):
        problems.append(Problem(str(path), "file", "expected a mapping at the top level"))
        return None
    return document


def load_bundle(paths: Iterable[Path]) -> CatalogBundle:
    problems: list[Problem] = []
    documents: dict[str, dict[str, Any]] = {}
    for path in map(Path, paths):
        document = _read(path, problems)
        if document is not None:
            # named as in a catalog directory, so that messages and stored versions agree
            documents[f"mappings/{path.name}" if path.parent.name == "mappings" else path.name] = document
    if problems:
        raise CatalogError(problems)
    return bundle_from_documents(documents)


class _Builder:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, file: str, entry: str, message: str) -> None:
        self.problems.append(Problem(file, entry, message))

    def text(self, file: str, entry: str, raw: Mapping[str, Any], key: str, required: bool = True) -> str:
        value = raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(file, entry, f"'{key}' is required")
            return ""
        return str(value)

    def choice(self, file: str, entry: str, raw: Mapping[str, Any], key: str, enum: type, default: Any = None) -> Any:
        value = raw.get(key, default)
        if value is None:
            self.problem(file, entry, f"'{key}' is required; one of {', '.join(e.value for e in enum)}")
            return None
        try:
            return enum(str(value))
        except ValueError:
            self.problem(file, entry, f"'{key}' is {value!r}; expected one of {', '.join(e.value for e in enum)}")
            return None


def bundle_from_documents(documents: Mapping[str, Mapping[str, Any]]) -> CatalogBundle:
    """Validate the parsed files (name -> content) and build the catalog; raises CatalogError."""
    b = _Builder()
    agencies: dict[str, Agency] = {}
    operators: set[str] = set()
    entities: dict[str, EntitySpec] = {}
    divisions: dict[str, DivisionRule] = {}
    items: dict[str, CatalogItem] = {}
    field_specs: dict[str, FieldSpec] = {}
    item_files: dict[str, str] = {}
    mapping_docs: list[tuple[str, Mapping[str, Any]]] = []

    for file, doc in documents.items():
        known = {"agencies", "entities", "items", "review", "agency", "tables", "withheld", "excluded"}
        for key in doc:
            if key not in known:
                b.problem(file, str(key), f"unknown top-level key; expected some of {', '.join(sorted(known))}")
        for raw in doc.get("agencies") or []:
            _agency(b, file, raw, agencies, operators)
        for name, raw in (doc.get("entities") or {}).items():
            _entity(b, file, str(name), raw, entities, divisions)
        if "agency" in doc or "tables" in doc:
            mapping_docs.append((file, doc))

    for file, doc in documents.items():
        for raw in doc.get("items") or []:
            _item(b, file, raw, agencies, entities, items, field_specs, item_files)

    for item in items.values():
        for duty in sorted(item.duties_in_scope):
            if not any(a.holds(duty) for a in agencies.values()):
                b.problem(item_files[item.code], f"item {item.code}", f"duty {duty!r} in scope is held by no registered agency")

    mappings: dict[str, StoreMapping] = {}
    bound: dict[str, tuple[str, str]] = {}
    for file, doc in mapping_docs:
        mapping = _mapping(b, file, doc, agencies, items, field_specs, entities, bound)
        if mapping is not None:
            if mapping.agency in mappings:
                b.problem(file, f"agency {mapping.agency}", "a second data-store mapping for the same agency")
            mappings[mapping.agency] = mapping

    for path, spec in field_specs.items():
        item = items.get(spec.item)
        if item is not None and path not in bound:
            b.problem(item_files[item.code], f"item {item.code}", f"field {path} has no column in {item.provider}'s data-store mapping")

    if b.problems:
        raise CatalogError(b.problems)

    bindings = {}
    for path, spec in field_specs.items():
        table = mappings[items[spec.item].provider].table_for(path)
        origin = table.origins.get(path) if table else None
        bindings[path] = FieldBinding(path=path, item=spec.item, origin=origin)
    for code, item in list(items.items()):
        items[code] = CatalogItem(**{**item.__dict__, "fields": tuple(p for p, s in field_specs.items() if s.item == code)})

    canonical = json.dumps(documents_for_digest(documents), sort_keys=True, ensure_ascii=False, default=str)
    catalog = Catalog(version=0, agencies=agencies, items=items, bindings=bindings, divisions=divisions)
    return CatalogBundle(
        catalog=catalog,
        schema=SchemaSpec(entities=entities, fields=field_specs),
        mappings=mappings,
        operators=frozenset(operators),
        document=dict(documents),
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def documents_for_digest(documents: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    return sorted((json.dumps(d, sort_keys=True, ensure_ascii=False, default=str) for d in documents.values()))


def _agency(b: _Builder, file: str, raw: Any, agencies: dict[str, Agency], operators: set[str]) -> None:
    if not isinstance(raw, Mapping):
        b.problem(file, "agencies", f"entry {raw!r} is not a mapping")
        return
    code = b.text(file, "agency ?", raw, "code")
    entry = f"agency {code or '?'}"
    if code in agencies:
        b.problem(file, entry, "agency code is registered twice")
    name = b.text(file, entry, raw, "name")
    level = b.choice(file, entry, raw, "level", AgencyLevel)
    division = str(raw.get("division", ""))
    if not _DIVISION.match(division):
        b.problem(file, entry, f"division {division!r} is not a 6-digit administrative division code")
    duties = raw.get("duties") or {}
    if not isinstance(duties, Mapping) or not duties:
        b.problem(file, entry, "duties must be a non-empty mapping of duty code to meaning")
        duties = {}
    contact = b.text(file, entry, raw, "contact")
    if code and level:
        agencies[code] = Agency(code, name, level, division, {str(k): str(v) for k, v in duties.items()}, contact)
        if raw.get("operator"):
            operators.add(code)


def _entity(b: _Builder, file: str, name: str, raw: Any, entities: dict[str, EntitySpec], divisions: dict[str, DivisionRule]) -> None:
    entry = f"entity {name}"
    if not isinstance(raw, Mapping):
        b.problem(file, entry, "expected a mapping")
        return
    key = raw.get("key") or {}
    root = raw.get("root") or {}
    if not key.get("field") or key.get("scalar") not in LEAF_TYPES:
        b.problem(file, entry, "key needs a field name and an identifier scalar")
        return
    if not root.get("one") or not root.get("argument"):
        b.problem(file, entry, "root needs 'one' (the root field) and 'argument'")
        return
    objects = {}
    for oname, spec in (raw.get("objects") or {}).items():
        if not isinstance(spec, Mapping) or not spec.get("type"):
            b.problem(file, f"{entry}.objects.{oname}", "needs a 'type'")
            continue
        objects[str(oname)] = ObjectSpec(str(oname), str(spec["type"]), bool(spec.get("list")), str(spec.get("description", "")))
    division = raw.get("division") or {}
    if "field" in division:
        divisions[name] = DivisionRule(field=str(division["field"]))
    elif "key_slice" in division:
        start, end = division["key_slice"]
        divisions[name] = DivisionRule(key_slice=(int(start), int(end)))
    entities[name] = EntitySpec(
        name=name,
        description=str(raw.get("description", "")),
        key_field=str(key["field"]),
        key_scalar=str(key["scalar"]),
        root=RootSpec(
            one=str(root["one"]),
            argument=str(root["argument"]),
            many=root.get("many"),
            many_argument=root.get("many_argument"),
            max=int(root.get("max", 100)),
        ),
        objects=objects,
    )


def _review(b: _Builder, file: str, entry: str, raw: Any) -> ConfidentialityReview | None:
    if not isinstance(raw, Mapping):
        return None
    try:
        when = raw["date"] if isinstance(raw["date"], dt.date) else dt.date.fromisoformat(str(raw["date"]))
        return ConfidentialityReview(reviewer=str(raw["reviewer"]), date=when, result=str(raw["result"]))
    except (KeyError, ValueError):
        b.problem(file, entry, "review needs reviewer, date (YYYY-MM-DD) and result")
        return None


def _item(
    b: _Builder,
    file: str,
    raw: Any,
    agencies: Mapping[str, Agency],
    entities: Mapping[str, EntitySpec],
    items: dict[str, CatalogItem],
    field_specs: dict[str, FieldSpec],
    item_files: dict[str, str],
) -> None:
    if not isinstance(raw, Mapping):
        b.problem(file, "items", f"entry {raw!r} is not a mapping")
        return
    code = b.text(file, "item ?", raw, "code")
    entry = f"item {code or '?'}"
    if code in items:
        b.problem(file, entry, "item code is listed twice")
        return
    name = b.text(file, entry, raw, "name")
    provider = b.text(file, entry, raw, "provider")
    if provider and provider not in agencies:
        b.problem(file, entry, f"unknown provider {provider!r}; registered agencies: {', '.join(sorted(agencies))}")
    share_class = b.choice(file, entry, raw, "share_class", ShareClass)
    kind = b.choice(file, entry, raw, "kind", ItemKind)
    cycle = None
    if share_class is not ShareClass.NONE:
        cycle = b.choice(file, entry, raw, "cycle", UpdateCycle)
    duties = frozenset(str(d) for d in raw.get("duties") or [])
    if share_class is ShareClass.CONDITIONAL and not duties:
        b.problem(file, entry, "a conditional item needs the duties in its scope")
    if share_class is not ShareClass.CONDITIONAL and duties:
        b.problem(file, entry, f"duties in scope are only meaningful for conditional items, not {share_class}")
    review = _review(b, file, entry, raw.get("review"))
    if review is None or not review.passed:
        b.problem(file, entry, "has no passed confidentiality review (R-16b): record reviewer, date and result: passed")
    fields = raw.get("fields") or {}
    if share_class is ShareClass.NONE and fields:
        b.problem(file, entry, "a share class none item is never served and must not expose fields")
        fields = {}
    for path, spec in fields.items():
        spec = {"type": spec} if isinstance(spec, str) else dict(spec or {})
        _field(b, file, entry, str(path), spec, code, entities, field_specs)
    item_files[code] = file
    if code and share_class and kind:
        items[code] = CatalogItem(
            code=code,
            name=name,
            provider=provider,
            share_class=share_class,
            duties_in_scope=duties,
            kind=kind,
            cycle=cycle,
            method=str(raw.get("method", "query")),
            public=bool(raw.get("public", False)),
            review=review,
        )


def _field(
    b: _Builder,
    file: str,
    entry: str,
    path: str,
    spec: Mapping[str, Any],
    code: str,
    entities: Mapping[str, EntitySpec],
    field_specs: dict[str, FieldSpec],
) -> None:
    parts = path.split(".")
    entity = entities.get(parts[0])
    if entity is None or len(parts) not in (2, 3):
        b.problem(file, entry, f"field {path!r} must be Entity.field or Entity.object.field of a declared entity")
        return
    if len(parts) == 3 and parts[1] not in entity.objects:
        b.problem(file, entry, f"field {path!r}: {parts[1]!r} is not a declared object of {parts[0]}")
        return
    if len(parts) == 2 and (parts[1] in entity.objects or parts[1] == entity.key_field):
        b.problem(file, entry, f"field {path!r} clashes with the key or an object of {parts[0]}")
        return
    if spec.get("type") not in LEAF_TYPES:
        b.problem(file, entry, f"field {path!r} has type {spec.get('type')!r}; expected one of {', '.join(sorted(LEAF_TYPES))}")
        return
    if path in field_specs:
        other = field_specs[path].item
        b.problem(file, entry, f"field {path} is already published by item {other}: one source per field (R-13)")
        return
    field_specs[path] = FieldSpec(path=path, type=str(spec["type"]), description=str(spec.get("description", "")), item=code)


def _mapping(
    b: _Builder,
    file: str,
    doc: Mapping[str, Any],
    agencies: Mapping[str, Agency],
    items: Mapping[str, CatalogItem],
    field_specs: Mapping[str, FieldSpec],
    entities: Mapping[str, EntitySpec],
    bound: dict[str, tuple[str, str]],
) -> StoreMapping | None:
    agency = str(doc.get("agency", ""))
    entry = f"mapping {agency or '?'}"
    if agency not in agencies:
        b.problem(file, entry, f"unknown agency {agency!r}")
        return None
    tables = []
    for raw in doc.get("tables") or []:
        table = _table(b, file, agency, raw, items, field_specs, entities, bound)
        if table is not None:
            tables.append(table)
    withheld = {}
    for raw in doc.get("withheld") or []:
        item = items.get(str(raw.get("item")))
        if item is None or item.share_class is not ShareClass.NONE or item.provider != agency:
            b.problem(file, f"{entry} withheld {raw.get('table')}", f"item {raw.get('item')!r} is not a share class none item of {agency}")
            continue
        withheld[_ident(b, file, entry, raw.get("table"))] = item.code
    excluded_tables, excluded_columns = set(), set()
    for raw in doc.get("excluded") or []:
        if not raw.get("reason"):
            b.problem(file, f"{entry} excluded", "every exclusion needs a reason")
        if "table" in raw:
            excluded_tables.add(_ident(b, file, entry, raw["table"]))
        elif "column" in raw and "." in str(raw["column"]):
            t, c = str(raw["column"]).split(".", 1)
            excluded_columns.add((_ident(b, file, entry, t), _ident(b, file, entry, c)))
        else:
            b.problem(file, f"{entry} excluded", "name a table or a table.column")
    return StoreMapping(agency, tuple(tables), withheld, frozenset(excluded_tables), frozenset(excluded_columns))


def _ident(b: _Builder, file: str, entry: str, value: Any) -> str:
    text = str(value or "")
    if not _IDENT.match(text):
        b.problem(file, entry, f"{text!r} is not a plain lower-case SQL identifier")
    return text


def _table(
    b: _Builder,
    file: str,
    agency: str,
    raw: Any,
    items: Mapping[str, CatalogItem],
    field_specs: Mapping[str, FieldSpec],
    entities: Mapping[str, EntitySpec],
    bound: dict[str, tuple[str, str]],
) -> TableMapping | None:
    table = _ident(b, file, f"mapping {agency}", raw.get("table"))
    entry = f"mapping {agency} table {table}"
    entity = str(raw.get("entity", ""))
    if entity not in entities:
        b.problem(file, entry, f"unknown entity {entity!r}")
        return None
    key = _ident(b, file, entry, raw.get("key"))
    updated_at = _ident(b, file, entry, raw["updated_at"]) if raw.get("updated_at") else None
    columns: dict[str, str] = {}
    origins: dict[str, str] = {}
    for path, spec in (raw.get("columns") or {}).items():
        path = str(path)
        column, origin = (spec, None) if isinstance(spec, str) else (spec.get("column"), spec.get("origin"))
        column = _ident(b, file, entry, column)
        fspec = field_specs.get(path)
        if fspec is None:
            b.problem(file, entry, f"{path} is not a published field of any catalog item")
            continue
        item = items.get(fspec.item)
        if item is not None and item.provider != agency:
            b.problem(file, entry, f"{path} belongs to item {item.code} provided by {item.provider}, not {agency}: one source per field (R-13)")
            continue
        if path in bound:
            b.problem(file, entry, f"{path} is already backed by {bound[path][0]}.{bound[path][1]}: one source per field (R-13)")
            continue
        if fspec.entity != entity:
            b.problem(file, entry, f"{path} is not a field of entity {entity}")
            continue
        if origin is not None:
            origin_item = items.get(str(origin))
            if origin_item is None:
                b.problem(file, entry, f"{path} declares origin {origin!r}, which is not a catalog item")
                continue
            if origin_item.provider == agency:
                b.problem(file, entry, f"{path} declares origin {origin}, but {agency} provides that item itself")
                continue
            origins[path] = origin_item.code
        columns[path] = column
        bound[path] = (agency, f"{table}.{column}")
    containers = {field_specs[p].container for p in columns}
    if len(containers) > 1:
        b.problem(file, entry, f"a table backs either top-level fields or one object's fields, not {sorted(c or entity for c in containers)}")
        return None
    container = next(iter(containers), None)
    many = False
    if container:
        many = entities[entity].objects[container.split(".")[1]].list
    order_by = None
    if raw.get("order_by"):
        words = str(raw["order_by"]).split()
        descending = len(words) == 2 and words[1].lower() == "desc"
        if len(words) not in (1, 2) or (len(words) == 2 and words[1].lower() not in {"asc", "desc"}):
            b.problem(file, entry, f"order_by {raw['order_by']!r} must be '<column>' or '<column> asc|desc'")
        else:
            order_by = OrderBy(_ident(b, file, entry, words[0]), descending)
    return TableMapping(agency, table, entity, key, updated_at, columns, origins, order_by, container, many)


def check_store_columns(bundle: CatalogBundle, introspected: Mapping[str, Mapping[str, set[str]]]) -> list[Problem]:
    """Every mapped table and column must exist in the agency's database (introspected: agency -> table -> columns)."""
    problems = []
    for agency, mapping in sorted(bundle.mappings.items()):
        tables = introspected.get(agency)
        if tables is None:
            problems.append(Problem(f"mappings/{agency}.yaml", f"mapping {agency}", "the agency's database could not be inspected"))
            continue
        for table in mapping.tables:
            present = tables.get(table.table)
            entry = f"mapping {agency} table {table.table}"
            if present is None:
                problems.append(Problem(f"mappings/{agency}.yaml", entry, f"table {table.table} does not exist in {agency}'s database"))
                continue
            for column in sorted(table.referenced_columns() - present):
                problems.append(Problem(f"mappings/{agency}.yaml", entry, f"column {table.table}.{column} does not exist in {agency}'s database"))
    return problems
