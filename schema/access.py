"""Explain and dry-run: decisions for a whole document, and what an agency may read per duty."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import FieldNode, FragmentDefinitionNode, GraphQLError, OperationDefinitionNode, parse
from strawberry.types import Info

from authz.context import RequestContext
from authz.policy import decide_duty, decide_fields, record_divisions
from schema.catalog_types import AccessPlan, DutyAccess, FieldDecision
from schema.operations import MAX_TOKENS
from schema.selection import leaf_paths
from schema.spec import SchemaSpec

__all__ = ["access_plan_field", "my_access_field"]


def access_plan_field(spec: SchemaSpec) -> Any:
    roots = {}
    for entity in spec.entities.values():
        roots[entity.root.one] = entity
        if entity.root.many:
            roots[entity.root.many] = entity

    def access_plan(info: Info, document: str, duty: str) -> AccessPlan:
        state = info.context
        catalog = state.services.bundle.catalog
        ctx = RequestContext(
            agency=state.policy.agency,
            duty=duty,
            granted_duties=state.policy.granted_duties,
            today=state.policy.today,
            on_behalf_of=state.policy.on_behalf_of,
        )
        errors: list[str] = []
        paths: list[str] = []
        try:
            parsed = parse(document, max_tokens=MAX_TOKENS)
        except GraphQLError as exc:
            parsed = None
            errors.append(f"the document does not parse: {exc.message}")
        if parsed is not None:
            fragments = {d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)}
            for definition in parsed.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                for node in definition.selection_set.selections:
                    if not isinstance(node, FieldNode) or node.name.value not in roots:
                        continue
                    for path in leaf_paths(roots[node.name.value], node.selection_set, fragments):
                        if path not in paths:
                            paths.append(path)
            unknown = [p for p in paths if p not in spec.fields]
            errors.extend(f"{p} is not a published field" for p in unknown)
        refusal = decide_duty(catalog, ctx)
        if refusal is not None:
            errors.append(f"{refusal.code}: {refusal.message} ({refusal.article})")
        decisions = decide_fields(catalog, ctx, paths)
        return AccessPlan(
            agency=ctx.agency,
            duty=duty,
            catalog_version=catalog.version,
            division_restricted_to=sorted(record_divisions(catalog, ctx)),
            fields=[FieldDecision.from_decision(decisions[p]) for p in paths],
            errors=errors,
        )

    return strawberry.field(
        resolver=access_plan,
        name="accessPlan",
        description="Decides every field of a GraphQL document for the caller's agency under `duty`, without touching any data store.",
    )


def my_access_field() -> Any:
    def my_access(info: Info) -> list[DutyAccess]:
        state = info.context
        catalog = state.services.bundle.catalog
        agency = catalog.agencies.get(state.policy.agency)
        if agency is None:
            return []
        paths = list(catalog.bindings)
        result = []
        for duty, meaning in sorted(agency.duties.items()):
            ctx = RequestContext(agency.code, duty, frozenset(agency.duties), state.policy.today)
            decisions = decide_fields(catalog, ctx, paths)
            allowed = [p for p in paths if decisions[p].allowed]
            items = sorted({decisions[p].item or "" for p in allowed})
            result.append(DutyAccess(duty=duty, meaning=meaning, items=items, fields=allowed))
        return result

    return strawberry.field(
        resolver=my_access,
        name="myAccess",
        description="The items and fields the caller's agency may read under each of its duties (before division and consent of each record).",
    )
