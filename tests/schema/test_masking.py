"""Errors without a stable code are internal: masked with code INTERNAL, nothing of them leaks."""

from __future__ import annotations

import asyncio
import logging

import pytest

import strawberry
from graphql import GraphQLError

from schema.build import GatewayMaskErrors, _should_mask


@strawberry.type
class Query:
    @strawberry.field
    def broken(self) -> str | None:
        raise RuntimeError('relation "population" does not exist at character 42')

    @strawberry.field
    def refused(self) -> str | None:
        raise GraphQLError("field P07 is not in scope of duty x", extensions={"code": "NOT_IN_SCOPE"})

    @strawberry.field
    def fine(self) -> str:
        return "ok"


def test_uncoded_errors_are_masked_and_coded_ones_kept(caplog: pytest.LogCaptureFixture) -> None:
    schema = strawberry.Schema(query=Query, extensions=[lambda: GatewayMaskErrors(should_mask_error=_should_mask)])
    result = asyncio.run(schema.execute("{ broken refused fine }"))
    assert result.data == {"broken": None, "refused": None, "fine": "ok"}
    by_path = {e.path[0]: e for e in result.errors or []}
    assert by_path["broken"].message.startswith("Internal error") and "population" not in by_path["broken"].message
    assert by_path["broken"].extensions == {"code": "INTERNAL"}
    assert by_path["refused"].message == "field P07 is not in scope of duty x"
    assert by_path["refused"].extensions == {"code": "NOT_IN_SCOPE"}
    # what the client is not told, the operator finds in the log under the request's id
    logged = [r for r in caplog.records if r.name == "govshare.graphql"]
    assert len(logged) == 1 and '"path": ["broken"]' in logged[0].getMessage() and '"error": "RuntimeError"' in logged[0].getMessage()
    assert logged[0].exc_info and "population" in str(logged[0].exc_info[1])
    clean = asyncio.run(schema.execute("{ fine }"))
    assert clean.errors is None and clean.data == {"fine": "ok"}
