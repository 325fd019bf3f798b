"""Loading and validating the declarative catalog: agencies, items, entities and store mappings."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
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
from gateway.catalog_problems import CatalogError, Problem, ProblemCollector
from gateway.store_mappings import check_store_columns, read_mapping
from resolvers.mapping import StoreMapping
from schema.spec import KEY_SCALARS, LEAF_TYPES, EntitySpec, FieldSpec, ObjectSpec, RootSpec, SchemaSpec

__all__ = ["CatalogBundle", "CatalogError", "Problem", "load_bundle", "bundle_from_documents", "demo_files", "check_store_columns"]

_DIVISION = re.compile(r"^\d{6}$")


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
    """The YAML files of a catalog directory; a directory that is not there is an error, not
    an empty catalog (which, published, would withdraw every item)."""
    if not directory.is_dir():
        raise CatalogError([Problem(str(directory), "catalog directory", "does not exist or is not a directory")])
    return sorted([*directory.glob("*.yaml"), *(directory / "mappings").glob("*.yaml")])


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (PyYAML keeps the last silently:
    a second `items:` would drop the whole first list)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read(path: Path, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader
    except OSError as exc:
        problems.append(Problem(str(path), "file", f"cannot be read: {exc.strerror}"))
        return None
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(path), "file", f"is not UTF-8 text (byte {exc.start})"))
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


def bundle_from_documents(documents: Mapping[str, Mapping[str, Any]]) -> CatalogBundle:
    """Validate the parsed files (name -> content) and build the catalog; raises CatalogError."""
    b = ProblemCollector()
    agencies: dict[str, Agency] = {}
    operators: set[str] = set()
    entities: dict[str, EntitySpec] = {}
    divisions: dict[str, DivisionRule] = {}
    items: dict[str, CatalogItem] = {}
    field_specs: dict[str, FieldSpec] = {}
    item_files: dict[str, str] = {}
    entity_files: dict[str, str] = {}
    mapping_docs: list[tuple[str, Mapping[str, Any]]] = []

    for file, doc in documents.items():
        known = {"agencies", "entities", "items", "review", "agency", "tables", "withheld", "excluded"}
        for key in doc:
            if key not in known:
                b.problem(file, str(key), f"unknown top-level key; expected some of {', '.join(sorted(known))}")
        for raw in _entries(b, file, doc, "agencies", list):
            with _shape(b, file, "agencies"):
                _agency(b, file, raw, agencies, operators)
        for name, raw in _entries(b, file, doc, "entities", dict):
            entity_files[str(name)] = file
            with _shape(b, file, f"entity {name}"):
                _entity(b, file, str(name), raw, entities, divisions)
        if "agency" in doc or "tables" in doc:
            mapping_docs.append((file, doc))

    for file, doc in documents.items():
        for raw in _entries(b, file, doc, "items", list):
            with _shape(b, file, f"item {raw.get('code', '?') if isinstance(raw, Mapping) else '?'}"):
                _item(b, file, raw, agencies, entities, items, field_specs, item_files)

    for item in items.values():
        for duty in sorted(item.duties_in_scope):
            if not any(a.holds(duty) for a in agencies.values()):
                b.problem(item_files[item.code], f"item {item.code}", f"duty {duty!r} in scope is held by no registered agency")

    mappings: dict[str, StoreMapping] = {}
    bound: dict[str, tuple[str, str]] = {}
    for file, doc in mapping_docs:
        mapping = None
        with _shape(b, file, "data-store mapping"):
            mapping = read_mapping(b, file, doc, agencies, items, field_specs, entities, bound)
        if mapping is not None:
            if mapping.agency in mappings:
                b.problem(file, f"agency {mapping.agency}", "a second data-store mapping for the same agency")
            mappings[mapping.agency] = mapping

    for path, spec in field_specs.items():
        item = items.get(spec.item)
        if item is not None and path not in bound:
            b.problem(item_files[item.code], f"item {item.code}", f"field {path} has no column in {item.provider}'s data-store mapping")

    for name, rule in divisions.items():
        # a wrong rule would put every record outside every district's division
        if rule.field is not None and (rule.field not in field_specs or field_specs[rule.field].entity != name or rule.field.count(".") != 1):
            b.problem(entity_files[name], f"entity {name}", f"division field {rule.field!r} is not a top-level published field of {name}")
        if rule.key_slice is not None:
            start, end = rule.key_slice
            if not 0 <= start < end or end - start != 6:
                b.problem(entity_files[name], f"entity {name}", f"division key_slice {[start, end]} does not cut a 6-digit division code out of the key")

    # an empty catalog is valid YAML but never a catalog: published, it would withdraw every
    # item at once, without the approval a change needs
    if not agencies:
        b.problem(", ".join(documents) or "(no files)", "catalog", "declares no agencies; give the catalog directory (catalog.yaml, agencies.yaml, mappings/)")
    elif not items:
        b.problem(", ".join(documents), "catalog", "declares no catalog items; give the catalog directory (catalog.yaml, agencies.yaml, mappings/)")
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


def _entries(b: ProblemCollector, file: str, doc: Mapping[str, Any], key: str, shape: type) -> list[Any]:
    """The entries under a top-level key: a list's items, or a mapping's (name, value) pairs."""
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, shape):
        b.problem(file, key, f"must be a {'list' if shape is list else 'mapping'}, not {type(value).__name__}")
        return []
    return list(value.items()) if shape is dict else list(value)


@contextlib.contextmanager
def _shape(b: ProblemCollector, file: str, entry: str) -> Iterator[None]:
    # a value of the wrong kind deep in an entry (a list where a mapping belongs, text where a
    # number does) is reported against its file and entry, never as a traceback
    try:
        yield
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        b.problem(file, entry, f"has a value of the wrong kind ({type(exc).__name__}: {exc}); compare it with the demo catalog's files")


def documents_for_digest(documents: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    return sorted((json.dumps(d, sort_keys=True, ensure_ascii=False, default=str) for d in documents.values()))


def _agency(b: ProblemCollector, file: str, raw: Any, agencies: dict[str, Agency], operators: set[str]) -> None:
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
        if b.flag(file, entry, raw, "operator"):
            operators.add(code)


def _entity(b: ProblemCollector, file: str, name: str, raw: Any, entities: dict[str, EntitySpec], divisions: dict[str, DivisionRule]) -> None:
    entry = f"entity {name}"
    if not isinstance(raw, Mapping):
        b.problem(file, entry, "expected a mapping")
        return
    key = raw.get("key") or {}
    root = raw.get("root") or {}
    if not key.get("field") or key.get("scalar") not in KEY_SCALARS:
        # subjects are identified by their legal identifiers, checked at the edge (R-16c)
        b.problem(file, entry, f"key needs a field name and an identifier scalar: one of {', '.join(sorted(KEY_SCALARS))}")
        return
    if not root.get("one") or not root.get("argument"):
        b.problem(file, entry, "root needs 'one' (the root field) and 'argument'")
        return
    objects = {}
    for oname, spec in (raw.get("objects") or {}).items():
        if not isinstance(spec, Mapping) or not spec.get("type"):
            b.problem(file, f"{entry}.objects.{oname}", "needs a 'type'")
            continue
        objects[str(oname)] = ObjectSpec(str(oname), str(spec["type"]), b.flag(file, f"{entry}.objects.{oname}", spec, "list"), str(spec.get("description", "")))
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


def _review(b: ProblemCollector, file: str, entry: str, raw: Any) -> ConfidentialityReview | None:
    if not isinstance(raw, Mapping):
        return None
    try:
        when = raw["date"] if isinstance(raw["date"], dt.date) else dt.date.fromisoformat(str(raw["date"]))
        return ConfidentialityReview(reviewer=str(raw["reviewer"]), date=when, result=str(raw["result"]))
    except (KeyError, ValueError):
        b.problem(file, entry, "review needs reviewer, date (YYYY-MM-DD) and result")
        return None


def _item(
    b: ProblemCollector,
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
            public=b.flag(file, entry, raw, "public"),
            review=review,
        )


def _field(
    b: ProblemCollector,
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
