"""Prepared operations: each query text is parsed and validated once per schema.

Agency systems send the same few documents over and over with different variables. A
document is a pure function of its text, and its validation a pure function of the
document, the schema and the rules, so both are kept by query text, in a bounded LRU that
belongs to one schema (a new catalog version builds a new schema and with it a new cache).
Unlike strawberry's `ValidationCache`, which keys by the parsed document and so hashes every
node of it on every request, a hit costs one string lookup. Validation results are reused
only for the very document they were computed for, so a document put in place by another
extension is always validated itself.

Only texts up to `max_text` characters are kept, and together at most `max_total_text`
characters: a parsed document keeps every token with its location, and a text dense with
tokens parses to some three hundred times its size (16 kB of `a a a ...` to 4.6 MB), so the
bound is on the texts, not only on their number. Longer texts, parse errors and malformed
texts are handled afresh each time, so no client can grow the cache beyond its bound.

Errors get stable codes: a syntax error is GRAPHQL_PARSE_FAILED, an operation that does not
fit the schema GRAPHQL_VALIDATION_FAILED. Without one they would be masked as INTERNAL, and
the developer who wrote the query would not learn what is wrong with it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from graphql import (
    DocumentNode, FieldNode, FragmentSpreadNode, GraphQLError, GraphQLSchema, InlineFragmentNode, OperationDefinitionNode,
    SelectionSetNode, ValidationRule, parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from authz.codes import Code
from schema.errors import coded_error, with_code

__all__ = ["MAX_ROOT_FIELDS", "MAX_TOKENS", "OperationCache", "PreparedOperations", "RootFieldLimit"]

V = TypeVar("V")


MAX_TOKENS = 10_000
"""Tokens of one GraphQL document: the full introspection query has ~300 and `persons` with
100 literal ids ~250; parsing 100,000 takes seconds of the event loop every request shares."""


class PreparedOperations:
    """Parsed documents and validation results of one schema, by query text, the `maxsize` most recent."""

    def __init__(self, maxsize: int = 512, max_text: int = 16_384, max_total_text: int = 262_144) -> None:
        if maxsize < 1 or max_text < 1 or max_total_text < max_text:
            raise ValueError("maxsize and max_text must be >= 1, max_total_text >= max_text")
        self.max_text = max_text
        self._documents = _TextLRU[DocumentNode](maxsize, max_total_text)
        self._errors = _TextLRU[tuple[DocumentNode, tuple[GraphQLError, ...]]](maxsize, max_total_text)
        self.hits = self.misses = 0

    @property
    def text_kept(self) -> int:
        """Characters of query text behind the kept documents and validations (each at most `max_total_text`)."""
        return max(self._documents.texts, self._errors.texts)

    def clear(self) -> None:
        self._documents.clear()
        self._errors.clear()

    def document(self, query: str, options: dict[str, Any] | None = None) -> DocumentNode:
        """The parsed `query`; raises GraphQLError with code GRAPHQL_PARSE_FAILED on a syntax error."""
        key = (query, tuple(sorted(options.items())) if options else ())
        document = self._documents.get(key)
        if document is not None:
            self.hits += 1
            return document
        self.misses += 1
        try:
            document = parse(query, **{"max_tokens": MAX_TOKENS, **(options or {})})
        except GraphQLError as error:
            raise with_code(error, Code.GRAPHQL_PARSE_FAILED) from None
        if len(query) <= self.max_text:
            self._documents.put(key, document)
        return document

    def errors(self, schema: GraphQLSchema, query: str, document: DocumentNode, rules: tuple[Any, ...]) -> list[GraphQLError]:
        """The validation errors of `document` (the parse of `query`), coded GRAPHQL_VALIDATION_FAILED; empty when valid."""
        key = (query, rules)
        entry = self._errors.get(key)
        if entry is not None and entry[0] is document:
            return list(entry[1])
        errors = tuple(with_code(_explained(e), Code.GRAPHQL_VALIDATION_FAILED) for e in validate_document(schema, document, rules))
        if len(query) <= self.max_text:
            self._errors.put(key, (document, errors))
        return list(errors)


_ABORTED = "Validation aborted."


def _explained(error: GraphQLError) -> GraphQLError:
    # graphql-core gives up on a document whose checks recurse too deep, and says only this
    if error.message != _ABORTED:
        return error
    return GraphQLError(
        "the document is too large or too repetitive to validate (validation aborted); ask for each field once and split the request",
        extensions=error.extensions,
    )


class _TextLRU(Generic[V]):
    """The most recently used entries by keys that start with a query text, at most `maxsize`
    of them and at most `max_total_text` characters of those texts together."""

    def __init__(self, maxsize: int, max_total_text: int) -> None:
        self.maxsize = maxsize
        self.max_total_text = max_total_text
        self.texts = 0
        self._entries: OrderedDict[tuple[Any, ...], V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[Any, ...]) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: tuple[Any, ...], value: V) -> None:
        if key not in self._entries:
            self.texts += len(key[0])
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize or self.texts > self.max_total_text:
            evicted, _ = self._entries.popitem(last=False)
            self.texts -= len(evicted[0])

    def clear(self) -> None:
        self._entries.clear()
        self.texts = 0


class OperationCache(SchemaExtension):
    """Parses and validates through the `PreparedOperations` shared by every request of a schema.

    Validation rules are part of the key: rules built anew for each request would never hit.
    """

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
        document = context.graphql_document
        # `operation_name` falls back to the first operation's name; what the client sent is this
        named = getattr(context, "_provided_operation_name", context.operation_name)
        if document is not None and named is None and _operations(document) > 1:
            # as the GraphQL specification says (strawberry would run the first): which
            # operation ran must never be a guess, least of all in the disclosure ledger
            message = "the document holds several operations; name the one to run in 'operationName'"
            context.pre_execution_errors = [coded_error(Code.GRAPHQL_VALIDATION_FAILED, message)]
        elif context.query and document is not None and context.validation_rules and context.pre_execution_errors is None:
            rules = (*context.validation_rules, RootFieldLimit)
            context.pre_execution_errors = self.prepared.errors(context.schema._schema, context.query, document, rules)
        yield


MAX_ROOT_FIELDS = 50


class RootFieldLimit(ValidationRule):
    """At most MAX_ROOT_FIELDS fields at the root of an operation, aliases and fragments
    included: each root field is work on the gateway, the stores or the ledger (a hundred
    aliases of `auditEvents(limit: 1000)` would be a hundred ledger scans)."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        keys: set[str] = set()
        _root_keys(node.selection_set, self.context, keys, set())
        if len(keys) > MAX_ROOT_FIELDS:
            self.report_error(
                GraphQLError(f"an operation asks for at most {MAX_ROOT_FIELDS} fields at its root (aliases count), this one for {len(keys)}; split it", node)
            )


def _root_keys(selection_set: SelectionSetNode | None, context: Any, keys: set[str], seen: set[str]) -> None:
    """The response keys at the root (a field asked twice under one key is one field)."""
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            if selection.name.value != "__typename":
                keys.add(selection.alias.value if selection.alias else selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            _root_keys(selection.selection_set, context, keys, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            fragment = context.get_fragment(selection.name.value)
            _root_keys(fragment.selection_set if fragment else None, context, keys, seen)


def _operations(document: DocumentNode) -> int:
    return sum(1 for d in document.definitions if isinstance(d, OperationDefinitionNode))
