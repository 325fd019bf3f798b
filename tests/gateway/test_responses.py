"""The /graphql answer's encoder gives the document the standard encoder gives."""

from __future__ import annotations

import json

from starlette.responses import JSONResponse

from gateway.app import GraphQLResponse


def test_same_document_as_the_standard_encoder() -> None:
    body = {
        "data": {"persons": [{"name": "张三", "marriage": None, "capital": 1234567.5, "months": 128, "flags": [True, False]}, None]},
        "errors": [{"message": "字段 \"x\"\n不在范围内", "path": ["persons", 0, "name"], "extensions": {"code": "NOT_IN_SCOPE"}}],
        "extensions": {"requestId": "r-1", "sharing": {"items": ["P01"]}},
    }
    fast = GraphQLResponse(body).body
    assert json.loads(fast) == json.loads(JSONResponse(body).body) == body
    assert "张三".encode() in fast  # UTF-8, not \\u escapes


def test_values_outside_orjson_fall_back_to_the_standard_encoder() -> None:
    body = {"data": {"big": 2**70, "keys": {1: "one"}}}
    assert json.loads(GraphQLResponse(body).body) == {"data": {"big": 2**70, "keys": {"1": "one"}}}
