"""Which published leaf fields a GraphQL selection asks for, fragments and directives included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.execution.values import get_directive_values

from schema.spec import EntitySpec

__all__ = ["leaf_paths"]


def _included(node: Any, variables: Mapping[str, Any]) -> bool:
    skip = get_directive_values(GraphQLSkipDirective, node, variables)
    if skip and skip.get("if") is True:
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, variables)
    return not (include and include.get("if") is False)


def leaf_paths(
    entity: EntitySpec,
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None = None,
) -> list[str]:
    """Paths such as `Person.name` and `Person.housingSecurity.status`, in document order."""
    found: dict[str, None] = {}
    _walk(entity, entity.name, selection_set, fragments, variables or {}, found, set())
    return list(found)


def _walk(
    entity: EntitySpec,
    prefix: str,
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    found: dict[str, None],
    visited: set[str],
) -> None:
    if selection_set is None:
        return
    for node in selection_set.selections:
        if not _included(node, variables):
            continue
        if isinstance(node, FieldNode):
            name = node.name.value
            if name.startswith("__") or (prefix == entity.name and name == entity.key_field):
                continue
            if prefix == entity.name and name in entity.objects:
                _walk(entity, f"{prefix}.{name}", node.selection_set, fragments, variables, found, visited)
            else:
                found[f"{prefix}.{name}"] = None
        elif isinstance(node, InlineFragmentNode):
            _walk(entity, prefix, node.selection_set, fragments, variables, found, visited)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in visited:
                _walk(entity, prefix, fragment.selection_set, fragments, variables, found, visited | {name})
