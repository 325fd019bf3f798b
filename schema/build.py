"""Generates the unified GraphQL schema from the catalog and the data-store mappings."""

from __future__ import annotations

import datetime as dt
import decimal
import inspect
import json
import logging
from collections import defaultdict
from typing import Any, Optional

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from authz.codes import Code
from schema.access import access_plan_field, my_access_field
from schema.audit import audit_fields
from schema.catalog_changes import catalog_change_fields
from schema.catalog_types import AgencyType, CatalogItemType
from schema.consents import consent_mutations, consents_query
from schema.errors import coded_error
from schema.evidence import evidence_fields, sealed_containers
from schema.execution import RecordExecutionContext
from schema.identifiers import IDENTIFIER_SCALAR_MAP, OrganizationCode, ResidentIdNumber, UnifiedSocialCreditCode
from schema.operations import OperationCache, PreparedOperations
from schema.spec import EntitySpec, FieldSpec, SchemaSpec
from schema.subjects import load_subjects
from schema.workflows import workflow_fields

__all__ = ["build_schema", "describe_field", "prepared_operations"]

_PYTHON_TYPES: dict[str, Any] = {
    "String": str,
    "Int": int,
    "Float": float,
    "Boolean": bool,
    "Date": dt.date,
    "DateTime": dt.datetime,
    "Decimal": decimal.Decimal,
    "ResidentIdNumber": ResidentIdNumber,
    "UnifiedSocialCreditCode": UnifiedSocialCreditCode,
    "OrganizationCode": OrganizationCode,
}


def describe_field(spec: FieldSpec, bundle: Any) -> str:
    item = bundle.catalog.items[spec.item]
    scope = f" to {', '.join(sorted(item.duties_in_scope))}" if item.duties_in_scope else ""
    public = ", public" if item.public else ""
    binding = bundle.catalog.bindings.get(spec.path)
    copy = f" Shared copy of item {binding.origin}: served onward only with its provider's consent (R-25)." if binding and binding.origin else ""
    return (
        f"{spec.description}. Catalog item {item.code} {item.name}; provider {item.provider}; "
        f"share class {item.share_class}{scope}{public}; update cycle {item.cycle}.{copy}"
    ).lstrip(". ")


def _object_type(name: str, description: str, fields: dict[str, Any], annotations: dict[str, Any] | None = None) -> type:
    cls = type(name, (), {"__annotations__": dict(annotations or {}), **fields})
    return strawberry.type(cls, name=name, description=description)


def _record_type(name: str, description: str, fields: dict[str, tuple[Any, str]]) -> type:
    """A type whose fields are read as attributes of a `Record`: no resolver per field."""
    annotations = {field_name: annotation for field_name, (annotation, _) in fields.items()}
    members = {field_name: strawberry.field(description=text, name=field_name) for field_name, (_, text) in fields.items()}
    return _object_type(name, description, members, annotations)


def _leaf(spec: FieldSpec, bundle: Any) -> tuple[Any, str]:
    return Optional[_PYTHON_TYPES[spec.type]], describe_field(spec, bundle)  # noqa: UP045 - a runtime type


def _seal_field(item_code: str, bundle: Any) -> tuple[Any, str]:
    item = bundle.catalog.items[item_code]
    return Optional[str], (  # noqa: UP045
        f"Electronic seal of {item.provider} over this {item.name} record (R-23a): a compact JWS of the item, subject, "
        "every field value, provider and signing time; verify it with verifySeal or the keys at /.well-known/jwks.json."
    )


def _entity_type(entity: EntitySpec, specs: list[FieldSpec], bundle: Any, sealed: dict[str, str]) -> type:
    by_container: dict[str | None, list[FieldSpec]] = defaultdict(list)
    for spec in specs:
        by_container[spec.container].append(spec)
    fields: dict[str, tuple[Any, str]] = {
        entity.key_field: (_PYTHON_TYPES[entity.key_scalar], f"The identifier of this {entity.name} ({entity.key_scalar}, R-16c).")
    }
    for spec in by_container.get(None, []):
        fields[spec.name] = _leaf(spec, bundle)
    for name, obj in entity.objects.items():
        path = f"{entity.name}.{name}"
        members = by_container.get(path, [])
        if not members:
            continue
        items = sorted({s.item for s in members})
        member_fields = {s.name: _leaf(s, bundle) for s in members}
        if path in sealed:
            member_fields["seal"] = _seal_field(sealed[path], bundle)
        nested = _record_type(obj.type, f"{obj.description} (catalog item {', '.join(items)}).", member_fields)
        annotation = Optional[list[nested]] if obj.list else Optional[nested]  # type: ignore[valid-type]  # noqa: UP045
        fields[name] = (annotation, f"{obj.description}: catalog item {', '.join(items)}.")
    return _record_type(entity.name, entity.description, fields)


SNAPSHOT_ARGUMENT = inspect.Parameter("snapshot", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=False)


def _ask(info: Info, entity: EntitySpec, count: int) -> None:
    """Counts `count` more identifiers of `entity` against the request's limit (root.max),
    over every root field and alias: aliases must not multiply the limit."""
    asked = info.context.identifiers_asked
    total = asked.get(entity.name, 0) + count
    limit = entity.root.max
    if total > limit:
        field = entity.root.many or entity.root.one
        raise coded_error(
            Code.TOO_MANY_SUBJECTS,
            f"{field} takes at most {limit} identifiers per request, got {total} (aliases and single lookups count together); split the request",
        )
    asked[entity.name] = total


def _root_fields(entity: EntitySpec, entity_type: type, sealed: dict[str, str]) -> dict[str, Any]:
    key_type = _PYTHON_TYPES[entity.key_scalar]
    root = entity.root

    async def one(info: Info, snapshot: bool = False, **kwargs: Any) -> Any:
        _ask(info, entity, 1)
        info.context.snapshot_requested |= snapshot
        views = await load_subjects(info._raw_info, entity, [kwargs[root.argument]], sealed)
        view = views[0]
        if isinstance(view, GraphQLError):
            raise view
        return view

    one.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("info", inspect.Parameter.KEYWORD_ONLY, annotation=Info),
            inspect.Parameter(root.argument, inspect.Parameter.KEYWORD_ONLY, annotation=key_type),
            SNAPSHOT_ARGUMENT,
        ]
    )
    fields = {
        root.one: strawberry.field(
            resolver=one,
            graphql_type=Optional[entity_type],  # noqa: UP045
            description=f"One {entity.name} by {entity.key_field}; fields are served as the catalog allows for the request's duty.",
            name=root.one,
        )
    }
    if root.many and root.many_argument:
        many_argument = root.many_argument
        limit = root.max

        async def many(info: Info, snapshot: bool = False, **kwargs: Any) -> Any:
            keys = kwargs[many_argument]
            _ask(info, entity, len(keys))
            info.context.snapshot_requested |= snapshot
            return await load_subjects(info._raw_info, entity, keys, sealed)

        many.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [
                inspect.Parameter("info", inspect.Parameter.KEYWORD_ONLY, annotation=Info),
                inspect.Parameter(many_argument, inspect.Parameter.KEYWORD_ONLY, annotation=list[key_type]),  # type: ignore[valid-type]
                SNAPSHOT_ARGUMENT,
            ]
        )
        fields[root.many] = strawberry.field(
            resolver=many,
            graphql_type=list[Optional[entity_type]],  # type: ignore[valid-type]  # noqa: UP045
            description=f"Up to {limit} {entity.name} records in one request, in the order asked; one statement per provider whatever the number.",
            name=root.many,
        )
    return fields


def _catalog_fields() -> dict[str, Any]:
    def catalog(info: Info) -> list[CatalogItemType]:
        bundle = info.context.services.bundle
        agencies = dict(bundle.catalog.agencies)
        return [CatalogItemType.from_item(item, agencies) for item in bundle.catalog.items.values()]

    def agencies(info: Info) -> list[AgencyType]:
        return [AgencyType.from_agency(a) for a in info.context.services.bundle.catalog.agencies.values()]

    def catalog_version(info: Info) -> int:
        return int(info.context.services.bundle.catalog.version)

    return {
        "catalog": strawberry.field(resolver=catalog, description="The published sharing catalog: every item, its provider, share class, scope and update cycle."),
        "agencies": strawberry.field(resolver=agencies, description="The registered agencies, their divisions, duties and contacts."),
        "catalogVersion": strawberry.field(resolver=catalog_version, name="catalogVersion", description="The catalog version this gateway serves."),
    }


class GatewayMaskErrors(MaskErrors):
    """Errors without a stable code are internal: they are masked, with code INTERNAL, and
    logged whole (with the request id the client is given) for the operator to find."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        cause = error.original_error or error
        request_id = getattr(getattr(self.execution_context, "context", None), "request_id", None)
        _log.error(
            json.dumps({"event": "internal-error", "requestId": request_id, "path": error.path, "error": type(cause).__name__}, ensure_ascii=False),
            exc_info=(type(cause), cause, cause.__traceback__),
        )
        return GraphQLError(
            "Internal error; the gateway logged it with the request id",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": str(Code.INTERNAL)},
        )

    def _process_result(self, result: object) -> None:
        # the base class asks isinstance() of a runtime-checkable protocol, on every request
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


_log = logging.getLogger("govshare.graphql")


def _should_mask(error: GraphQLError) -> bool:
    return not (error.extensions and "code" in error.extensions)


def build_schema(bundle: Any, extensions: list[Any] | None = None) -> strawberry.Schema:
    spec: SchemaSpec = bundle.schema
    query_fields: dict[str, Any] = {}
    by_entity: dict[str, list[FieldSpec]] = defaultdict(list)
    for field_spec in spec.fields.values():
        by_entity[field_spec.entity].append(field_spec)
    sealed = sealed_containers(bundle)
    for entity in spec.entities.values():
        entity_type = _entity_type(entity, by_entity.get(entity.name, []), bundle, sealed)
        query_fields.update(_root_fields(entity, entity_type, sealed))
    query_fields.update(evidence_fields())
    query_fields.update(audit_fields())
    query_fields.update(_catalog_fields())
    query_fields["accessPlan"] = access_plan_field(spec)
    query_fields["myAccess"] = my_access_field()
    query_fields["onwardConsents"] = consents_query()
    change_queries, change_mutations = catalog_change_fields()
    workflow_queries, workflow_mutations = workflow_fields()
    query_fields.update(change_queries)
    query_fields.update(workflow_queries)
    query = _object_type("Query", "The unified schema of the government information sharing gateway.", query_fields)
    mutation = _object_type("Mutation", "Consents and workflows of the sharing platform.", {**consent_mutations(), **change_mutations, **workflow_mutations})
    prepared = PreparedOperations(maxsize=512)
    schema = strawberry.Schema(
        query=query,
        mutation=mutation,
        config=StrawberryConfig(scalar_map=IDENTIFIER_SCALAR_MAP, auto_camel_case=True),
        execution_context_class=RecordExecutionContext,
        extensions=[
            lambda: OperationCache(prepared),
            lambda: GatewayMaskErrors(should_mask_error=_should_mask),
            *(extensions or []),
        ],
    )
    schema._govshare_prepared = prepared  # type: ignore[attr-defined]
    return schema


def prepared_operations(schema: strawberry.Schema) -> PreparedOperations:
    """The parsed and validated operations `build_schema` keeps for `schema`."""
    return schema._govshare_prepared  # type: ignore[attr-defined,no-any-return]
