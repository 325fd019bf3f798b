"""Seals and snapshots in the schema: `seal` on licenses and documents, `verifySeal`, `snapshot`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from authz.codes import Code
from authz.model import ItemKind
from schema.errors import coded_error, plain_text

__all__ = ["evidence_fields", "sealed_containers"]


def sealed_containers(bundle: Any) -> dict[str, str]:
    """Object paths (`Person.marriageCertificates`) whose fields are one license or document item."""
    by_container: dict[str, set[str]] = {}
    for spec in bundle.schema.fields.values():
        if spec.container:
            by_container.setdefault(spec.container, set()).add(spec.item)
    sealed = {}
    for container, items in by_container.items():
        if len(items) == 1:
            item = bundle.catalog.items[next(iter(items))]
            if item.kind in (ItemKind.LICENSE, ItemKind.DOCUMENT):
                sealed[container] = item.code
    return sealed


@strawberry.type(description="The result of verifying an electronic seal (R-23a, R-24a).")
class SealVerification:
    valid: bool
    item: str | None
    provider: str | None
    subject: str | None
    signed_at: dt.datetime | None
    fields: JSON | None
    reason: str | None = strawberry.field(description="why the seal is not valid")


@strawberry.type(description="One license or document record fixed in a snapshot, with its provider's seal.")
class SnapshotEntry:
    item: str
    provider: str
    subject: str
    fields: JSON
    served: list[str] = strawberry.field(description="the fields the request asked for and received")
    seal: str


@strawberry.type(description="A data snapshot: electronic evidence of what was obtained as the basis of an administrative act (R-23b).")
class Snapshot:
    id: strawberry.ID
    agency: str
    client: str
    duty: str
    case_id: str | None
    request_id: str
    created_at: dt.datetime
    entries: list[SnapshotEntry]
    signature: str = strawberry.field(description="the gateway's JWS over the whole snapshot")
    verified: bool
    verification_problem: str | None


def _snapshot(record: Any, problem: str | None) -> Snapshot:
    return Snapshot(
        id=strawberry.ID(record.id),
        agency=record.agency,
        client=record.client,
        duty=record.duty,
        case_id=record.case_id,
        request_id=record.request_id,
        created_at=record.created_at,
        entries=[SnapshotEntry(item=e["item"], provider=e["provider"], subject=e["subject"], fields=e["fields"], served=e.get("served", []), seal=e["seal"]) for e in record.records],
        signature=record.signature,
        verified=problem is None,
        verification_problem=problem,
    )


def evidence_fields() -> dict[str, Any]:
    def verify_seal(info: Info, seal: str) -> SealVerification:
        result = info.context.services.evidence.verify_seal(seal)
        return SealVerification(
            valid=result.valid,
            item=result.item,
            provider=result.provider,
            subject=result.subject,
            signed_at=result.signed_at,
            fields=result.fields,
            reason=result.reason,
        )

    def _visible(info: Info, record: Any) -> bool:
        agency = info.context.principal.agency
        return record.agency == agency or agency in info.context.services.bundle.operators

    async def snapshot(info: Info, id: strawberry.ID) -> Snapshot:
        record = await info.context.services.snapshots.get(str(id))
        if record is None or not _visible(info, record):
            raise coded_error(Code.NOT_FOUND, f"no snapshot {id} visible to {info.context.principal.agency}; snapshots are shown to the requesting agency and the operator")
        return _snapshot(record, info.context.services.evidence.verify_snapshot(record))

    async def snapshots(info: Info, case_id: str) -> list[Snapshot]:
        agency = info.context.principal.agency
        operator = agency in info.context.services.bundle.operators
        case = plain_text(case_id, "caseId") or ""
        records = await info.context.services.snapshots.by_case(case, None if operator else agency)
        return [_snapshot(r, info.context.services.evidence.verify_snapshot(r)) for r in records]

    return {
        "verifySeal": strawberry.field(resolver=verify_seal, name="verifySeal", description="Verifies an electronic seal: valid, item, provider, subject, signing time, or why not."),
        "snapshot": strawberry.field(resolver=snapshot, description="A data snapshot by id, with its verification status (requesting agency and operator)."),
        "snapshots": strawberry.field(resolver=snapshots, description="The snapshots of a business case, oldest first."),
    }
