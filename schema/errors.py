from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from authz.codes import Code
from authz.policy import Decision

__all__ = ["coded_error", "denial_error"]


def coded_error(code: Code, message: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": str(code), **{k: v for k, v in extensions.items() if v is not None}})


def denial_error(decision: Decision) -> GraphQLError:
    message = decision.message
    if decision.article:
        message = f"{message} ({decision.article})"
    return GraphQLError(message, extensions=decision.extensions)
