"""Prepared operations: each query text is parsed and validated once per schema.

Agency systems send the same few documents over and over with different variables. A
document is a pure function of its text, and its validation a pure function of the text,
the schema and the rules, so both are kept by query text, in a bounded LRU that belongs to
one schema (a new catalog version builds a new schema and with it a new cache). Unlike
strawberry's `ValidationCache`, which keys by the parsed document and so hashes every node
of it on every request, a hit costs one string lookup.

Parse errors are not kept: a malformed text is parsed again each time it comes, and unique
texts only churn a bounded cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

__all__ = ["OperationCache", "PreparedOperations"]


class PreparedOperations:
    """Parsed documents and validation results of one schema, by query text, the `maxsize` most recent."""

    def __init__(self, maxsize: int = 512) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self._documents: OrderedDict[tuple[str, tuple[tuple[str, Any], ...]], DocumentNode] = OrderedDict()
        self._errors: OrderedDict[tuple[str, tuple[Any, ...]], list[GraphQLError]] = OrderedDict()
        self.hits = self.misses = 0

    def document(self, query: str, options: dict[str, Any] | None = None) -> DocumentNode:
        """The parsed `query`; raises GraphQLError (a syntax error) as `graphql.parse` does."""
        key = (query, tuple(sorted(options.items())) if options else ())
        document = self._documents.get(key)
        if document is not None:
            self._documents.move_to_end(key)
            self.hits += 1
            return document
        self.misses += 1
        document = parse(query, **(options or {}))
        self._remember(self._documents, key, document)
        return document

    def errors(self, schema: GraphQLSchema, query: str, document: DocumentNode, rules: tuple[Any, ...]) -> list[GraphQLError]:
        """The validation errors of `document`, which is what `query` parses to (empty when valid)."""
        key = (query, rules)
        errors = self._errors.get(key)
        if errors is not None:
            self._errors.move_to_end(key)
            return errors
        errors = validate_document(schema, document, rules)
        self._remember(self._errors, key, errors)
        return errors

    def _remember(self, entries: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        entries[key] = value
        if len(entries) > self.maxsize:
            entries.popitem(last=False)


class OperationCache(SchemaExtension):
    """Parses and validates through the `PreparedOperations` shared by every request of a schema."""

    def __init__(self, prepared: PreparedOperations) -> None:
        super().__init__()
        self.prepared = prepared

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            context.graphql_document = self.prepared.document(context.query, dict(context.parse_options))
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and context.graphql_document is not None and context.validation_rules and context.pre_execution_errors is None:
            context.pre_execution_errors = self.prepared.errors(context.schema._schema, context.query, context.graphql_document, tuple(context.validation_rules))
        yield
