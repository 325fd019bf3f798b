"""Prepared operations: parsed and validated once per query text, bounded in count and text size, coded errors."""

from __future__ import annotations

import asyncio

import pytest
import strawberry
from graphql import GraphQLError
from graphql.validation import specified_rules

from schema.operations import OperationCache, PreparedOperations


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"hello {name}"


def _schema(prepared: PreparedOperations) -> strawberry.Schema:
    return strawberry.Schema(query=Query, extensions=[lambda: OperationCache(prepared)])


def test_a_text_is_parsed_once_and_its_document_reused() -> None:
    prepared = PreparedOperations(maxsize=4)
    first = prepared.document("{ hello }")
    again = prepared.document("{ hello }")
    assert first is again
    assert (prepared.misses, prepared.hits) == (1, 1)
    assert prepared.document("{ hello(name: \"x\") }") is not first


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    prepared = PreparedOperations(maxsize=2)
    a = prepared.document("{ a: hello }")
    prepared.document("{ b: hello }")
    prepared.document("{ a: hello }")  # a is now the most recent
    prepared.document("{ c: hello }")  # evicts b
    assert prepared.document("{ a: hello }") is a
    misses = prepared.misses
    prepared.document("{ b: hello }")
    assert prepared.misses == misses + 1


def test_the_texts_kept_are_bounded_in_total_not_only_in_number() -> None:
    # a text dense with tokens parses to hundreds of times its size: 512 of 16 kB would be gigabytes
    prepared = PreparedOperations(maxsize=512, max_text=1000, max_total_text=3000)
    texts = [f"# {n}\n{{ {'hello ' * 150}}}" for n in range(10)]  # ~910 characters each
    documents = [prepared.document(t) for t in texts]
    assert prepared.text_kept <= 3000
    assert prepared.document(texts[-1]) is documents[-1]  # the most recent are kept
    misses = prepared.misses
    prepared.document(texts[0])  # the oldest went to make room
    assert prepared.misses == misses + 1
    schema = _schema(prepared)
    for text in texts:
        assert schema.execute_sync(text).errors is None
    assert prepared.text_kept <= 3000
    prepared.clear()
    assert prepared.text_kept == 0 and prepared.document(texts[-1]) is not documents[-1]
    with pytest.raises(ValueError, match="max_total_text"):
        PreparedOperations(max_text=1000, max_total_text=999)


def test_syntax_errors_are_raised_every_time_and_not_kept() -> None:
    prepared = PreparedOperations(maxsize=2)
    for _ in range(2):
        with pytest.raises(GraphQLError, match="Syntax Error"):
            prepared.document("{ hello ")
    assert prepared.misses == 2 and prepared.hits == 0


def test_invalid_max_size_is_refused() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        PreparedOperations(maxsize=0)


def test_through_a_schema_valid_and_invalid_operations_answer_as_without_the_cache() -> None:
    prepared = PreparedOperations()
    cached, plain = _schema(prepared), strawberry.Schema(query=Query)

    async def both(query: str) -> list[tuple[object, list[str]]]:
        answers = []
        for schema in (cached, plain, cached):
            result = await schema.execute(query, variable_values={"n": "ann"})
            answers.append((result.data, [e.message for e in result.errors or []]))
        return answers

    for query in ("query Q($n: String!) { hello(name: $n) }", "{ hello nope }", "{ hello(name: 1) }", "{ hello "):
        first, reference, repeated = asyncio.run(both(query))
        assert first == reference == repeated, query
    assert asyncio.run(both("{ hello nope }"))[0][1] == ["Cannot query field 'nope' on type 'Query'."]
    assert prepared.hits > 0


RULES = tuple(specified_rules)


def test_errors_carry_codes_and_callers_get_their_own_lists() -> None:
    schema = strawberry.Schema(query=Query)
    prepared = PreparedOperations()
    with pytest.raises(GraphQLError) as raised:
        prepared.document("{ hello ")
    assert raised.value.extensions == {"code": "GRAPHQL_PARSE_FAILED"}
    with pytest.raises(GraphQLError, match="more than 10000 tokens") as raised:
        prepared.document("{ " + "hello " * 10_000 + "}")  # every request's loop would parse it
    assert raised.value.extensions == {"code": "GRAPHQL_PARSE_FAILED"}
    assert prepared.document("{ " + "hello " * 9_000 + "}") is not None
    document = prepared.document("{ nope }")
    errors = prepared.errors(schema._schema, "{ nope }", document, RULES)
    assert [e.extensions for e in errors] == [{"code": "GRAPHQL_VALIDATION_FAILED"}]
    errors.clear()  # a caller changing its list changes nothing for the next one
    assert len(prepared.errors(schema._schema, "{ nope }", document, RULES)) == 1
    valid = prepared.errors(schema._schema, "{ hello }", prepared.document("{ hello }"), RULES)
    valid.append(GraphQLError("injected"))
    assert prepared.errors(schema._schema, "{ hello }", prepared.document("{ hello }"), RULES) == []


def test_validation_is_reused_only_for_the_document_it_was_computed_for() -> None:
    schema = strawberry.Schema(query=Query)
    prepared = PreparedOperations()
    ours = prepared.document("{ hello }")
    assert prepared.errors(schema._schema, "{ hello }", ours, RULES) == []
    # another extension put a different document in place under the same text
    other = prepared.document("{ nope }")
    assert [e.message for e in prepared.errors(schema._schema, "{ hello }", other, RULES)] == ["Cannot query field 'nope' on type 'Query'."]


def test_long_texts_are_not_kept() -> None:
    prepared = PreparedOperations(max_text=20)
    long_text = "{ hello(name: \"" + "x" * 30 + "\") }"
    first = prepared.document(long_text)
    assert prepared.document(long_text) is not first
    assert prepared.misses == 2
    short = prepared.document("{ hello }")
    assert prepared.document("{ hello }") is short


def test_a_document_too_repetitive_to_validate_is_explained() -> None:
    prepared = PreparedOperations()
    text = "{ " + " ".join("hello" for _ in range(3000)) + " }"
    result = _schema(prepared).execute_sync(text)
    assert result.errors and result.errors[0].message.startswith("the document is too large or too repetitive to validate")
    assert result.errors[0].extensions == {"code": "GRAPHQL_VALIDATION_FAILED"}


def test_an_operation_has_at_most_fifty_root_fields_aliases_and_fragments_included() -> None:
    from schema.operations import MAX_ROOT_FIELDS

    schema = _schema(PreparedOperations())
    at_limit = "{ " + " ".join(f"a{n}: hello" for n in range(MAX_ROOT_FIELDS)) + " __typename }"
    assert schema.execute_sync(at_limit).errors is None
    beyond = "{ " + " ".join(f"a{n}: hello" for n in range(MAX_ROOT_FIELDS + 1)) + " }"
    result = schema.execute_sync(beyond)
    assert result.errors and result.errors[0].extensions == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert f"for {MAX_ROOT_FIELDS + 1}; split it" in result.errors[0].message
    through_fragments = (
        "query { ...A ... on Query { b: hello } } fragment A on Query { "
        + " ".join(f"a{n}: hello" for n in range(MAX_ROOT_FIELDS)) + " }"
    )
    assert "for 51; split it" in schema.execute_sync(through_fragments).errors[0].message
