"""The operator changes the catalog (R-8, R-9): widenings publish at once, removals wait for approval."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from authz.changes import ChangeError
from authz.changes import ChangeKind as Kind
from authz.codes import Code
from schema.errors import coded_error, plain_text, record_id

__all__ = ["catalog_change_fields"]

ChangeKind = strawberry.enum(Enum("CatalogChangeKind", {k.name: k.value for k in Kind}), description="What a catalog change does to an item.")  # type: ignore[misc]


@strawberry.type(description="A change to the catalog, with who, when, why, and the government approval it needed (R-9).")
class CatalogChange:
    id: strawberry.ID
    kind: str
    item: str
    duty: str | None
    reason: str
    requested_by: str
    requested_at: dt.datetime
    status: str = strawberry.field(description="awaiting-approval, published or rejected")
    approval_reference: str | None
    approved_by: str | None
    approved_at: dt.datetime | None
    version: int | None = strawberry.field(description="the catalog version that published it")


@strawberry.type(description="A published catalog version.")
class CatalogVersion:
    version: int
    digest: str
    author: str
    reason: str
    created_at: dt.datetime


def _as_type(change: Any) -> CatalogChange:
    return CatalogChange(**{**change.__dict__, "id": strawberry.ID(str(change.id))})


def _operator(info: Info) -> str:
    agency = info.context.principal.agency
    if agency not in info.context.services.bundle.operators:
        raise coded_error(Code.FORBIDDEN, f"only the platform operator compiles the catalog (R-8); {agency} is not the operator")
    return str(agency)


_STATUSES = ("awaiting-approval", "published", "rejected")


def catalog_change_fields() -> tuple[dict[str, Any], dict[str, Any]]:
    async def propose(info: Info, item: str, kind: ChangeKind, reason: str, duty: str | None = None) -> CatalogChange:  # type: ignore[valid-type]
        actor = _operator(info)
        if not reason.strip():
            raise coded_error(Code.BAD_REQUEST, "a catalog change needs a reason")
        reason = plain_text(reason, "reason") or ""
        operator = info.context.services.bundle.catalog.agencies.get(actor)
        if kind.value == "WIDEN_SCOPE" and duty and operator is not None and operator.holds(duty):
            # widenings publish at once: the operator would be deciding its own access
            raise coded_error(
                Code.BAD_REQUEST,
                f"{actor} holds duty {duty} itself and cannot widen an item's scope to it; its own need for {item} "
                "is an access request (requestAccess), decided by the government (R-19b)",
            )
        try:
            change = await info.context.services.propose_change(item=item, kind=Kind(kind.value), duty=duty, reason=reason, actor=actor)  # type: ignore[attr-defined]
        except ChangeError as exc:
            raise coded_error(Code.BAD_REQUEST, str(exc)) from None
        return _as_type(change)

    async def approve(info: Info, id: strawberry.ID, approval_reference: str) -> CatalogChange:
        actor = _operator(info)
        try:
            change = await info.context.services.approve_change(record_id(id, "catalog change"), reference=approval_reference, actor=actor)
        except LookupError as exc:
            raise coded_error(Code.NOT_FOUND, str(exc)) from None
        except (ChangeError, ValueError) as exc:
            raise coded_error(Code.BAD_REQUEST, str(exc)) from None
        return _as_type(change)

    async def reject(info: Info, id: strawberry.ID, decision_reference: str) -> CatalogChange:
        actor = _operator(info)
        try:
            change = await info.context.services.reject_change(record_id(id, "catalog change"), reference=decision_reference, actor=actor)
        except LookupError as exc:
            raise coded_error(Code.NOT_FOUND, str(exc)) from None
        except (ChangeError, ValueError) as exc:
            raise coded_error(Code.BAD_REQUEST, str(exc)) from None
        return _as_type(change)

    async def changes(info: Info, status: str | None = None) -> list[CatalogChange]:
        if status is not None and status not in _STATUSES:
            raise coded_error(Code.BAD_REQUEST, f"status {status!r} is not a catalog change status; use one of {', '.join(_STATUSES)}")
        return [_as_type(c) for c in await info.context.services.catalog_changes(status)]

    async def versions(info: Info) -> list[CatalogVersion]:
        return [CatalogVersion(**dict(r)) for r in await info.context.services.catalog_versions()]

    queries = {
        "catalogChanges": strawberry.field(resolver=changes, name="catalogChanges", description="Catalog changes, optionally by status."),
        "catalogVersions": strawberry.field(resolver=versions, name="catalogVersions", description="Every published catalog version with who, when and why."),
    }
    mutations = {
        "proposeCatalogChange": strawberry.field(
            resolver=propose,
            name="proposeCatalogChange",
            description="Operator: change an item. Widenings publish a new version at once; narrowings wait for approveCatalogChange (R-9).",
        ),
        "approveCatalogChange": strawberry.field(resolver=approve, name="approveCatalogChange", description="Operator: record the government approval of a narrowing and publish it."),
        "rejectCatalogChange": strawberry.field(resolver=reject, name="rejectCatalogChange", description="Operator: record that a narrowing was not approved."),
    }
    return queries, mutations
