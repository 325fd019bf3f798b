"""Agencies' data-store mappings (R-7): validated against the catalog and their databases."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from authz.model import Agency, CatalogItem, ShareClass
from gateway.catalog_problems import Problem, ProblemCollector
from resolvers.mapping import OrderBy, StoreMapping, TableMapping
from schema.spec import EntitySpec, FieldSpec

if TYPE_CHECKING:
    from gateway.catalog_files import CatalogBundle

__all__ = ["check_store_columns", "read_mapping"]

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def read_mapping(
    b: ProblemCollector,
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


def _ident(b: ProblemCollector, file: str, entry: str, value: Any) -> str:
    text = str(value or "")
    if not _IDENT.match(text):
        b.problem(file, entry, f"{text!r} is not a plain lower-case SQL identifier")
    return text


def _table(
    b: ProblemCollector,
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
            if origin_item.share_class is ShareClass.NONE or origin_item.review is None or not origin_item.review.passed:
                # a copy of what is never shared would pass it on under the copy's own share class
                b.problem(file, entry, f"{path} declares origin {origin}, an item that is not shared (share class none or no passed review)")
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
