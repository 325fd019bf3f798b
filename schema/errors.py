from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from authz.codes import Code
from authz.policy import Decision

__all__ = ["coded_error", "denial_error", "plain_text", "record_id", "with_code"]

_LARGEST_ID = 2**63 - 1  # the control database's ids are bigserial


def coded_error(code: Code, message: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": str(code), **{k: v for k, v in extensions.items() if v is not None}})


def with_code(error: GraphQLError, code: Code) -> GraphQLError:
    """`error` with `extensions.code` = `code`, unless it already has a code."""
    if error.extensions and "code" in error.extensions:
        return error
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions={**(error.extensions or {}), "code": str(code)},
    )


def denial_error(decision: Decision) -> GraphQLError:
    message = decision.message
    if decision.article:
        message = f"{message} ({decision.article})"
    return GraphQLError(message, extensions=decision.extensions)


MAX_TEXT = 10_000
"""Characters of free text a person writes (a reason, a note, an answer): a few pages."""


def plain_text(value: str | None, name: str, *, required: bool = True) -> str | None:
    """Free text a person wrote (a reason, a note, a reference), stripped; refused when empty
    (if required), longer than MAX_TEXT, or holding a NUL character, which PostgreSQL cannot store."""
    if value is None or not value.strip():
        if required:
            raise coded_error(Code.BAD_REQUEST, f"{name} must not be empty")
        return None
    if "\x00" in value:
        raise coded_error(Code.BAD_REQUEST, f"{name} must not contain NUL characters (\\u0000)")
    if len(value) > MAX_TEXT:
        raise coded_error(Code.BAD_REQUEST, f"{name} is {len(value):,} characters long; at most {MAX_TEXT:,} are kept")
    return value.strip()


def record_id(value: str, kind: str) -> int:
    """The number of a stored record (a consent, an objection, a catalog change...) as a client
    sent it in an `ID`; a number no bigint can hold names no record."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()):  # int() would also take "+5", "5_000" and other scripts' digits
        raise coded_error(Code.BAD_REQUEST, f"id {value!r} is not a number: {kind} ids are whole numbers such as 42")
    if len(text) > 19 or not 1 <= int(text) <= _LARGEST_ID:
        raise coded_error(Code.NOT_FOUND, f"no {kind} with id {text}")
    return int(text)
