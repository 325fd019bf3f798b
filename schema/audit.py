"""The disclosure ledger in the API: who read which fields of whom, under which duty (R-30, R-34)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from authz.codes import Code
from schema.errors import coded_error, plain_text
from schema.identifiers import InvalidIdentifier, parse_resident_id_number, parse_unified_social_credit_code

__all__ = ["audit_fields"]


@strawberry.type(description="One ledger event: an operation, allowed or denied, with its hash-chain position.")
class AuditEvent:
    seq: int
    time: dt.datetime
    request_id: str
    receipt_id: str | None
    agency: str
    client: str
    duty: str | None
    case_id: str | None
    on_behalf_of: list[str]
    operation_name: str | None
    operation_hash: str
    items: JSON = strawberry.field(description="per catalog item: provider, fields served, fields denied with codes")
    subject_count: int
    providers: list[str]
    row_count: int
    latency_ms: float
    outcome: str
    hash: str


@strawberry.type(description="A page of ledger events; pass `nextCursor` as `after` for the next page.")
class AuditEventPage:
    events: list[AuditEvent]
    next_cursor: int | None


@strawberry.type(description="An agency obtained data about the subject: when, which items, under which duty.")
class DisclosureRecord:
    time: dt.datetime
    agency: str
    duty: str | None
    case_id: str | None
    on_behalf_of: list[str]
    items: list[str]


@strawberry.type(description="A compliance finding (R-17, R-19b, R-22, R-32, R-34): who, which article, what, and the evidence.")
class ComplianceFinding:
    kind: str
    severity: str = strawberry.field(description="violation or warning")
    agency: str
    article: str
    object: str = strawberry.field(description="the item, table, column, event or case concerned")
    evidence: str


def _event(record: Any, provider: str | None = None) -> AuditEvent:
    """The event as the caller may see it: whole for the operator and for the agency that made
    the request; for a provider looking at who read its items, only its own items, and not the
    consumer's case id or operation name (what the consumer read elsewhere is not its business)."""
    e = record.event
    foreign = provider is not None and e.agency != provider
    items = [i for i in e.items if i.provider == provider] if foreign else list(e.items)
    return AuditEvent(
        seq=record.seq,
        time=e.time,
        request_id=e.request_id,
        receipt_id=e.receipt_id,
        agency=e.agency,
        client=e.client,
        duty=e.duty,
        case_id=None if foreign else e.case_id,
        on_behalf_of=list(e.on_behalf_of),
        operation_name=None if foreign else e.operation_name,
        operation_hash=e.operation_hash,
        items=[i.to_json() for i in items],
        subject_count=len(e.subjects),
        providers=[p for p in e.providers if p == provider] if foreign else list(e.providers),
        row_count=e.row_count,
        latency_ms=e.latency_ms,
        outcome=e.outcome,
        hash=record.hash,
    )


def _ledger(info: Info) -> Any:
    ledger = info.context.services.ledger
    if ledger is None:
        raise coded_error(Code.AUDIT_UNAVAILABLE, "the disclosure ledger is not enabled on this gateway")
    return ledger


def audit_fields() -> dict[str, Any]:
    async def audit_events(
        info: Info,
        agency: str | None = None,
        duty: str | None = None,
        item: str | None = None,
        subject: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        outcome: str | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> AuditEventPage:
        ledger = _ledger(info)
        caller = info.context.principal.agency
        operator = caller in info.context.services.bundle.operators
        provider = None
        if not operator:
            # an agency sees its own operations, and who read (or tried to read) its items
            if agency not in (None, caller):
                provider = caller
                catalog = info.context.services.bundle.catalog
                if item is not None and (item not in catalog.items or catalog.items[item].provider != caller):
                    raise coded_error(Code.FORBIDDEN, f"a provider sees the reads of its own items; {item} is not one of {caller}'s")
            elif agency is None:
                agency = caller
        if not 1 <= limit <= 1000:
            raise coded_error(Code.BAD_REQUEST, f"limit must be between 1 and 1000, got {limit}")
        if outcome is not None and outcome not in ("ok", "partial", "refused", "error"):
            raise coded_error(Code.BAD_REQUEST, f"outcome {outcome!r} is not one of ok, partial, refused, error")
        for name, value in (("agency", agency), ("duty", duty), ("item", item)):
            plain_text(value, name, required=False)
        since, until = _instant(since, "since"), _instant(until, "until")
        page = await info.context.services.audit_events(
            agency=agency,
            duty=duty,
            item=item,
            subject_hash=ledger.subject_hash(_identifier(subject)) if subject else None,
            since=since,
            until=until,
            outcome=outcome,
            provider=provider,
            after_seq=after,
            limit=limit,
        )
        return AuditEventPage(events=[_event(r, provider) for r in page.records], next_cursor=page.next_cursor)

    async def disclosures(info: Info, subject: str) -> list[DisclosureRecord]:
        ledger = _ledger(info)
        caller = info.context.principal.agency
        operator = caller in info.context.services.bundle.operators
        providers = {i.provider for i in info.context.services.bundle.catalog.items.values()}
        if not operator and caller not in providers:
            raise coded_error(Code.FORBIDDEN, "disclosures of a subject are shown to the operator and to the subject's providers")
        found = await info.context.services.disclosures(ledger.subject_hash(_identifier(subject)), provider=None if operator else caller)
        # the consumer's case id is for the operator; a provider sees who read which of its items, when and why
        return [
            DisclosureRecord(
                time=d.time, agency=d.agency, duty=d.duty, case_id=d.case_id if operator else None, on_behalf_of=list(d.on_behalf_of), items=list(d.items)
            )
            for d in found
        ]

    async def compliance(info: Info) -> list[ComplianceFinding]:
        caller = info.context.principal.agency
        if caller not in info.context.services.bundle.operators:
            raise coded_error(Code.FORBIDDEN, "the compliance report is the platform operator's (R-31, R-34)")
        return [ComplianceFinding(**f.as_dict()) for f in await info.context.services.compliance()]

    return {
        "compliance": strawberry.field(resolver=compliance, description="The operator's compliance report: every finding of the monitor, as `govshare monitor` prints it."),
        "auditEvents": strawberry.field(
            resolver=audit_events,
            name="auditEvents",
            description="Ledger events: the operator sees all; an agency its own, or (filtering by another agency) who read its items.",
        ),
        "disclosures": strawberry.field(
            resolver=disclosures,
            description="Who obtained data about this person (resident ID number) or entity (USCC), when, which items, under which duty.",
        ),
    }


def _identifier(value: str) -> str:
    """A subject: a resident ID number or a USCC (either may be all digits but the last)."""
    problems = []
    for parse in (parse_resident_id_number, parse_unified_social_credit_code):
        try:
            return parse(value)
        except InvalidIdentifier as exc:
            problems.append(str(exc))
    raise coded_error(
        Code.INVALID_IDENTIFIER, f"subject {value!r} is neither a resident ID number nor a unified social credit code: {'; '.join(problems)}"
    )


def _instant(value: dt.datetime | None, name: str) -> dt.datetime | None:
    """A time filter as UTC; one whose offset carries it outside years 1-9999 is the client's to fix."""
    if value is None:
        return value
    if value.tzinfo is None:  # a time without an offset is read as UTC, wherever the gateway runs
        value = value.replace(tzinfo=dt.timezone.utc)
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:
        raise coded_error(Code.BAD_REQUEST, f"{name} {value.isoformat()} lies outside years 1-9999 once converted to UTC") from None
