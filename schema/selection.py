"""Which published leaf fields a GraphQL selection asks for, fragments and directives included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
)

from schema.spec import EntitySpec

__all__ = ["leaf_paths"]


def _included(node: Any, variables: Mapping[str, Any]) -> bool:
    """`@skip(if:)` and `@include(if:)` as execution applies them, with a literal or a variable.

    Validation has checked that `if` is a Boolean!; the variables are the operation's coerced
    values, defaults included. Evaluated here rather than through graphql-core's
    get_directive_values, whose variables argument changed form between its releases.
    """
    for directive in node.directives or ():
        name = directive.name.value
        if name == "skip" and _condition(directive, variables) is True:
            return False
        if name == "include" and _condition(directive, variables) is False:
            return False
    return True


def _condition(directive: Any, variables: Mapping[str, Any]) -> bool | None:
    for argument in directive.arguments or ():
        if argument.name.value == "if":
            value = argument.value
            if isinstance(value, BooleanValueNode):
                return value.value
            if isinstance(value, VariableNode):
                given = variables.get(value.name.value)
                return given if isinstance(given, bool) else None
    return None


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
    visited: set[tuple[str, str]],
) -> None:
    """`visited` holds the (prefix, fragment) pairs walked anywhere in this walk: a fragment
    yields the same paths wherever it is spread at one prefix, so it is walked once (a fragment
    spread twice per level would otherwise cost 2^depth walks; a cycle ends here too)."""
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
            if fragment is not None and (prefix, name) not in visited:
                visited.add((prefix, name))
                _walk(entity, prefix, fragment.selection_set, fragments, variables, found, visited)
