"""Completes records without a resolver call per field.

Every field of a `Record` is a plain value (or the error that denies it), so the generic
per-field machinery (resolve info, resolver wrapper, awaitable checks) is pure overhead on
answers with hundreds of fields, such as `persons` with 100 ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from graphql import GraphQLError, GraphQLObjectType, GraphQLOutputType, is_leaf_type, is_list_type, is_non_null_type, is_object_type
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from authz.codes import Code
from schema.errors import with_code
from schema.subjects import Record

__all__ = ["RecordExecutionContext"]

_KINDS: dict[Any, str] = {}


def _kind(field_type: GraphQLOutputType) -> str:
    if is_non_null_type(field_type):
        return "non-null"
    if is_list_type(field_type):
        return "list"
    if is_leaf_type(field_type):
        return "leaf"
    if is_object_type(field_type):
        return "object"
    return "other"


class RecordExecutionContext(StrawberryGraphQLCoreExecutionContext):
    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        # variable values that do not fit their declared types (a missing required variable, a
        # string for an Int) are the client's to correct: coded, they are not masked as INTERNAL
        built = super().build(*args, **kwargs)
        if isinstance(built, list):
            return [with_code(error, Code.BAD_REQUEST) for error in built]
        return built

    def execute_collected_subfields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path,
        grouped_field_set: Any,
        new_defer_usages: Sequence[Any],
        position_context: Any,
    ) -> Any:
        if type(source_value) is not Record:
            return super().execute_collected_subfields(parent_type, source_value, path, grouped_field_set, new_defer_usages, position_context)
        result: dict[str, Any] = {}
        fields = parent_type.fields
        for response_key, details in grouped_field_set.items():
            name = details[0].node.name.value
            if name == "__typename":
                result[response_key] = parent_type.name
                continue
            field_type = fields[name].type
            try:
                result[response_key] = self._complete(field_type, details, path, response_key, parent_type.name, source_value.field(name))
            except Exception as error:  # noqa: BLE001 - as graphql-core does: the field is null, the error reported
                self.handle_field_error(error, field_type, details, path.add_key(response_key, parent_type.name))
                result[response_key] = None
        return result

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        info: Any,
        path: Path,
        items: Iterable[Any],
        position_context: Any,
    ) -> Any:
        # a root list of records (`persons`): each item completed directly, without the
        # per-item awaitable checks and object-completion layers of the generic path
        if (
            type(items) is not list
            or not all(type(item) is Record or item is None or isinstance(item, GraphQLError) for item in items)
            or self.get_stream_usage(field_details_list, path) is not None
        ):
            return super().complete_iterable_value(item_type, field_details_list, info, path, items, position_context)
        completed = []
        for index, item in enumerate(items):
            try:
                completed.append(self._complete(item_type, field_details_list, path, index, None, item))
            except Exception as error:  # noqa: BLE001 - the item is null, the error reported (or raised on for a non-null item)
                self.handle_field_error(error, item_type, field_details_list, path.add_key(index, None))
                completed.append(None)
        return completed

    def _complete(self, field_type: GraphQLOutputType, details: Any, parent: Path, key: str | int, typename: str | None, value: Any) -> Any:
        # the field's own path is built only where it is needed: below it, or for an error
        if isinstance(value, Exception):
            raise value
        kind = _KINDS.get(field_type)
        if kind is None:
            kind = _KINDS[field_type] = _kind(field_type)
        if kind == "leaf":
            return None if value is None else self.complete_leaf_value(field_type, value)  # type: ignore[arg-type]
        if kind == "non-null":
            completed = self._complete(field_type.of_type, details, parent, key, typename, value)  # type: ignore[attr-defined]
            if completed is None:
                raise GraphQLError(f"Cannot return null for non-nullable field {typename}.{details[0].node.name.value}.")
            return completed
        if value is None:
            return None
        path = parent.add_key(key, typename)
        if kind == "list":
            item_type = field_type.of_type  # type: ignore[attr-defined]
            items = []
            for index, item in enumerate(value):
                try:
                    items.append(self._complete(item_type, details, path, index, None, item))
                except Exception as error:  # noqa: BLE001
                    self.handle_field_error(error, item_type, details, path.add_key(index, None))
                    items.append(None)
            return items
        if kind == "object":
            grouped, defers, _ = self.collect_subfields(field_type, details)  # type: ignore[arg-type]
            return self.execute_collected_subfields(field_type, value, path, grouped, defers, None)  # type: ignore[arg-type]
        raise TypeError(f"cannot complete a record field of type {field_type}")
