"""Objections (R-22), access requests (R-19a/R-19b), complaints (R-33) and obtainable materials (R-24b)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from authz.changes import ChangeError, ChangeKind
from authz.codes import Code
from authz.model import Catalog, CatalogItem, ShareClass
from authz.policy import decide_duty, record_divisions
from resolvers.workflows import AccessRequest, Complaint, Objection, OpenRequestExists, Workflows, next_actions, next_status
from schema.errors import coded_error, denial_error, plain_text, record_id
from schema.identifiers import CHINA_TZ, InvalidIdentifier, parse_organization_code, parse_resident_id_number, parse_unified_social_credit_code
from schema.subjects import division_refusal
from schema.workflow_types import (
    AccessRequestStatus,
    AccessRequestType,
    ComplaintType,
    MaterialAvailabilityType,
    ObjectionOutcome,
    ObjectionReview,
    ObjectionStatus,
    ObjectionType,
    OpenStepType,
    ProviderFinding,
    WorkflowStepType,
)

__all__ = ["MATERIAL_SYNONYMS", "workflow_fields"]

# What public services call the materials they ask for, mapped to the catalog item that holds them.
MATERIAL_SYNONYMS: dict[str, str] = {
    "身份证": "P01", "居民身份证": "P01", "户口簿": "P02", "户口本": "P02", "居民户口簿": "P02", "户籍证明": "P02",
    "婚姻状况证明": "P03", "婚姻登记记录证明": "P03", "结婚登记证": "P04", "低保证": "P05", "低保证明": "P05",
    "最低生活保障证明": "P05", "社保证明": "P06", "参保证明": "P06", "社会保险参保证明": "P06", "无犯罪记录证明": "P07",
    "企业登记信息": "E01", "工商登记信息": "E01", "营业执照副本": "E02", "法定代表人身份证明": "E03",
    "纳税信用等级证明": "E04", "住房保障资格证明": "H01",
}
_PARSERS = {"ResidentIdNumber": parse_resident_id_number, "UnifiedSocialCreditCode": parse_unified_social_credit_code, "OrganizationCode": parse_organization_code}
_MAX_MATERIALS = 100


def _copy(cls: Any, record: Any, **extra: Any) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    steps = [WorkflowStepType(action=s.action, actor=s.actor, at=s.at, note=s.note) for s in record.steps]
    values = {k: v for k, v in vars(record).items() if k in names} | {"id": strawberry.ID(str(record.id)), "steps": steps} | extra
    return cls(**values)


def _objection(o: Objection, state: Any) -> ObjectionType:
    open_step = None
    if o.awaiting and o.due and o.step_started_on:
        operators = ", ".join(sorted(state.services.bundle.operators))
        open_step = OpenStepType(
            step="operator review" if o.status == "filed" else "provider check",
            awaiting=operators if o.awaiting == "operator" else o.awaiting,
            started_on=o.step_started_on, due=o.due, estimated=bool(o.due_estimated), overdue=o.overdue(state.policy.today),
        )
    outcome = ObjectionOutcome(o.outcome) if o.outcome else None
    return _copy(ObjectionType, o, status=ObjectionStatus(o.status), outcome=outcome, reread_required=o.outcome == "record_corrected",
                 open_step=open_step, overdue=o.overdue(state.policy.today))


def _request(r: AccessRequest, state: Any) -> AccessRequestType:
    return _copy(AccessRequestType, r, status=AccessRequestStatus(r.status), overdue=r.overdue(state.policy.today))  # type: ignore[no-any-return]


def _complaint(c: Complaint, state: Any) -> ComplaintType:
    return _copy(ComplaintType, c, answered=c.answer is not None)  # type: ignore[no-any-return]


def _text(value: str, name: str) -> str:
    return plain_text(value, name) or ""


def _note(value: str | None) -> str | None:
    return plain_text(value, "note", required=False)


def _is_operator(state: Any) -> bool:
    return state.principal.agency in state.services.bundle.operators


def _only_operator(state: Any, what: str, article: str) -> None:
    if not _is_operator(state):
        raise coded_error(Code.FORBIDDEN, f"only the platform operator ({', '.join(sorted(state.services.bundle.operators))}) {what} ({article})", article=article)


async def _visible(state: Any, workflow: str, kind: str, id: str) -> Any:
    record = await Workflows(state.services.control).get(workflow, record_id(id, kind))
    if record is None or not (_is_operator(state) or record.concerns(state.principal.agency)):
        raise coded_error(Code.NOT_FOUND, f"no {kind} {id} that concerns agency {state.principal.agency}")
    return record


def _check_step(workflow: str, kind: str, record: Any, status: str, action: str) -> None:
    if next_status(workflow, status, action) is None:
        allowed = ", ".join(next_actions(workflow, status)) or "none: it is finished"
        raise coded_error(Code.BAD_REQUEST, f"{kind} {record.id} is {status}: '{action}' is not a step it can take now (next steps: {allowed})", status=status)


def _changed(kind: str, record: Any) -> GraphQLError:
    return coded_error(Code.BAD_REQUEST, f"{kind} {record.id} changed while this request acted on it; read it again and retry")


def _subject(catalog_schema: Any, value: str) -> tuple[str, str]:
    """(entity, normalised key) of the first entity whose identifier the value is (R-16c)."""
    problems = []
    for entity in catalog_schema.entities.values():
        try:
            return entity.name, _PARSERS[entity.key_scalar](value)
        except InvalidIdentifier as exc:
            problems.append(f"as {entity.key_scalar}: {exc.reason}")
    raise InvalidIdentifier(" or ".join(e.key_scalar for e in catalog_schema.entities.values()), value, "; ".join(problems))


def _availability(state: Any, catalog: Catalog, entity: str, key: str, material: str) -> MaterialAvailabilityType:
    name = material.strip()
    item: CatalogItem | None = next((i for i in catalog.items.values() if i.name == name), None) or catalog.items.get(MATERIAL_SYNONYMS.get(name, name.upper()))
    if item is None:
        return MaterialAvailabilityType(material=material, item=None, item_name=None, provider=None, obtainable=False, code=None,
                                        reason="no catalog item matches this material: ask the applicant for it, or request the information (R-19b)")

    def answer(obtainable: bool, code: Code | None, reason: str) -> MaterialAvailabilityType:
        return MaterialAvailabilityType(material=material, item=item.code, item_name=item.name, provider=item.provider,
                                        obtainable=obtainable, code=str(code) if code else None, reason=reason)

    label = f"item {item.code} ({item.name}) of {item.provider}"
    if not item.fields or item.share_class is ShareClass.NONE:
        return answer(False, Code.NOT_IN_SCOPE, f"{label} is listed as not shared: it cannot be obtained by sharing (R-8)")
    kinds = sorted({p.split(".", 1)[0] for p in item.fields})
    if entity not in kinds:
        return answer(False, None, f"{label} describes a {' or '.join(kinds)}, and the subject is a {entity}")
    denied = next((d for d in state.services.decide(state.policy, item.fields).values() if not d.allowed), None)
    if denied is not None:
        return answer(False, denied.code, f"{denied.message} ({denied.article})")
    caveat = ""
    divisions, rule = record_divisions(catalog, state.policy), catalog.divisions.get(entity)
    # a record is served only when it lies in every division that applies (the requester's and those it acts for)
    if divisions and rule is not None and rule.key_slice is not None and any(key[slice(*rule.key_slice)] != d for d in divisions):
        return answer(False, Code.OUT_OF_DIVISION, f"the subject belongs to division {key[slice(*rule.key_slice)]}, outside {', '.join(sorted(divisions))} (R-21a)")
    if divisions and (rule is None or rule.key_slice is None):
        caveat = f", if the subject's record belongs to division {', '.join(sorted(divisions))} (R-21a)"
    return answer(True, None, f"{label} can be obtained by sharing under duty {state.policy.duty}{caveat}: do not ask the applicant for it (R-24b)")


async def _publish_scope(state: Any, request: Any) -> None:
    """The supplied item gains the approved duty in a new catalog version (R-19b, R-9)."""
    item = state.services.bundle.catalog.items.get(request.item)
    if item is None or request.duty in item.duties_in_scope or str(item.share_class) != "conditional":
        return
    try:
        await state.services.propose_change(
            item=request.item,
            kind=ChangeKind.WIDEN_SCOPE,
            duty=request.duty,
            reason=f"access request {request.id} approved ({request.decision_reference}) and supplied",
            actor=state.principal.agency,
        )
    except ChangeError as exc:
        raise coded_error(Code.BAD_REQUEST, f"the supply is recorded, but the catalog could not gain the scope: {exc}") from None


def workflow_fields() -> tuple[dict[str, Any], dict[str, Any]]:
    """(query fields, mutation fields) keyed by GraphQL name."""

    async def file_objection(info: Info, item: str, subject: str, field: str, claimed_value: str, reason: str) -> ObjectionType:
        state = info.context
        bundle, agency, duty = state.services.bundle, state.principal.agency, state.policy.duty
        entry = bundle.catalog.items.get(item)
        if entry is None:
            raise coded_error(Code.BAD_REQUEST, f"item {item!r} is not in the catalog")
        path = field if field in entry.fields else next((p for p in entry.fields if p.split(".", 1)[1] == field), None)
        if path is None:
            raise coded_error(Code.BAD_REQUEST, f"field {field!r} is not published by item {item} ({entry.name}); its fields: {', '.join(entry.fields) or 'none'}", item=item)
        if agency == entry.provider:
            raise coded_error(Code.BAD_REQUEST, f"{agency} is the provider of item {item}: correct your own record; an objection is a consumer's dispute (R-22)", item=item)
        entity = bundle.schema.entities[path.split(".", 1)[0]]
        key = _PARSERS[entity.key_scalar](subject)
        decision = state.services.decide(state.policy, (path,))[path]
        if not decision.allowed:
            raise GraphQLError(
                f"{agency} could not obtain {path} under duty {duty or '(none)'}, so it has no shared value to object to: {decision.message} ({decision.article})",
                extensions=decision.extensions,
            )
        # nor of a subject outside its division: the objection's outcome would tell it about the record (R-21a)
        refusal = await division_refusal(state, entity, key)
        if refusal is not None:
            raise refusal
        record = await Workflows(state.services.control).file_objection(
            item=item, provider=entry.provider, subject=key, field=path, claimed_value=_text(claimed_value, "claimedValue"),
            reason=_text(reason, "reason"), filed_by=agency, duty=duty, today=state.policy.today,
        )
        return _objection(record, state)

    async def advance(state: Any, record: Objection, action: str, note: str | None) -> ObjectionType:
        _check_step("objection", "objection", record, record.status, action)
        updated = await Workflows(state.services.control).advance_objection(record.id, record.status, action, state.principal.agency, _note(note), state.policy.today)
        if updated is None:
            raise _changed("objection", record)
        return _objection(updated, state)

    async def review_objection(info: Info, id: strawberry.ID, outcome: ObjectionReview, note: str | None = None) -> ObjectionType:
        _only_operator(info.context, "reviews objections", "R-22")
        return await advance(info.context, await _visible(info.context, "objection", "objection", id), outcome.value, note)

    async def answer_objection(info: Info, id: strawberry.ID, outcome: ProviderFinding, note: str | None = None) -> ObjectionType:
        state = info.context
        # NOT_FOUND for whoever may not see it yet, the provider included until it is forwarded
        record = await _visible(state, "objection", "objection", id)
        if record.provider != state.principal.agency:
            raise coded_error(Code.FORBIDDEN, f"only {record.provider}, the provider of item {record.item}, answers objection {id} (R-22)", article="R-22")
        return await advance(state, record, outcome.value, note)

    async def objection(info: Info, id: strawberry.ID) -> ObjectionType | None:
        return _objection(await _visible(info.context, "objection", "objection", id), info.context)

    async def objections(info: Info, status: ObjectionStatus | None = None, overdue: bool | None = None) -> list[ObjectionType]:
        state = info.context
        agency = None if _is_operator(state) else state.principal.agency
        records = await Workflows(state.services.control).objections(agency, status.value if status else None, overdue, state.policy.today)
        return [_objection(r, state) for r in records]

    async def request_access(info: Info, item: str, duty: str, justification: str) -> AccessRequestType:
        state = info.context
        catalog, code = state.services.bundle.catalog, state.principal.agency
        entry, agency = catalog.items.get(item), catalog.agencies.get(code)
        if entry is None:
            raise coded_error(Code.BAD_REQUEST, f"item {item!r} is not in the catalog; information outside the catalog is requested from the operator in writing")
        if agency is None or not agency.holds(duty):
            held = ", ".join(sorted(agency.duties)) if agency else "none"
            raise coded_error(Code.DUTY_NOT_HELD, f"{code} does not hold duty {duty!r} (its duties: {held}); access is requested under one of its own duties (R-18)", article="R-18")
        if duty not in state.principal.duties:
            granted = ", ".join(sorted(state.principal.duties)) or "none"
            raise coded_error(
                Code.DUTY_NOT_GRANTED,
                f"the access token does not grant duty {duty!r} (it grants: {granted}); obtain a token whose scope includes {duty}",
                article="R-18",
            )
        if entry.share_class is ShareClass.NONE:
            raise coded_error(Code.BAD_REQUEST, f"item {item} ({entry.name}) is listed as not shared; changing that is a catalog change (R-9), not an access request", item=item)
        because = None
        if code == entry.provider:
            because = f"{code} is the provider of item {item}: its own information"
        elif entry.share_class is ShareClass.UNCONDITIONAL or duty in entry.duties_in_scope:
            because = f"duty {duty} is in the scope of item {item} ({entry.share_class}): access opened at once (R-19a)"
        try:
            record = await Workflows(state.services.control).request_access(
                item=item, provider=entry.provider, duty=duty, requester=code, justification=_text(justification, "justification"), granted_because=because
            )
        except OpenRequestExists as exc:
            raise coded_error(Code.BAD_REQUEST, f"access request {exc.request_id} of {code} for item {item} under duty {duty} is still open; follow that one", request=str(exc.request_id)) from None
        return _request(record, state)

    async def decide_access_request(
        info: Info, id: strawberry.ID, approved: bool, decision_reference: str, note: str | None = None, decided_on: dt.date | None = None
    ) -> AccessRequestType:
        state = info.context
        _only_operator(state, "records the government's decision on an access request", "R-19b")
        record = await _visible(state, "access_request", "access request", id)
        action = "approved" if approved else "rejected"
        _check_step("access_request", "access request", record, record.status, action)
        reference = _text(decision_reference, "decisionReference")
        # the provider's 5 working days run from the government's decision, not from the day it is recorded
        decided = decided_on or state.policy.today
        requested = record.requested_at.astimezone(CHINA_TZ).date()
        if not requested <= decided <= state.policy.today:
            raise coded_error(Code.BAD_REQUEST, f"decidedOn {decided} must lie between the request ({requested}) and today ({state.policy.today})")
        updated = await Workflows(state.services.control).decide_access_request(record.id, approved, reference, state.principal.agency, _note(note), decided)
        if updated is None:
            raise _changed("access request", record)
        return _request(updated, state)

    async def confirm_supply(info: Info, id: strawberry.ID, note: str | None = None) -> AccessRequestType:
        state = info.context
        record = await _visible(state, "access_request", "access request", id)
        if record.provider != state.principal.agency:
            raise coded_error(Code.FORBIDDEN, f"only {record.provider}, the provider of item {record.item}, confirms its supply (R-19b)", article="R-19b")
        if record.status == "awaiting_decision":
            raise coded_error(
                Code.BAD_REQUEST,
                f"access request {record.id} awaits the government's decision, which the operator records; supply is confirmed once it is approved (R-19b)",
                status=record.status,
            )
        _check_step("access_request", "access request", record, record.status, "supplied")
        updated = await Workflows(state.services.control).confirm_supply(record.id, state.principal.agency, _note(note), state.policy.today)
        if updated is None:
            raise _changed("access request", record)
        await _publish_scope(state, updated)
        return _request(updated, state)

    async def access_request(info: Info, id: strawberry.ID) -> AccessRequestType | None:
        return _request(await _visible(info.context, "access_request", "access request", id), info.context)

    async def access_requests(info: Info, status: AccessRequestStatus | None = None) -> list[AccessRequestType]:
        state = info.context
        agency = None if _is_operator(state) else state.principal.agency
        return [_request(r, state) for r in await Workflows(state.services.control).access_requests(agency, status.value if status else None)]

    async def file_complaint(info: Info, against: str, description: str, article: str | None = None) -> ComplaintType:
        state = info.context
        agency = state.principal.agency
        if against not in state.services.bundle.catalog.agencies:
            raise coded_error(Code.BAD_REQUEST, f"against {against!r} is not a registered agency")
        if against == agency:
            raise coded_error(Code.BAD_REQUEST, f"{agency} cannot complain about itself")
        if against in state.services.bundle.operators:
            # the operator investigates and answers complaints: it cannot judge its own case
            raise coded_error(
                Code.BAD_REQUEST,
                f"{against} is the platform operator, which answers complaints (R-33); a complaint about the operator itself is made to the municipal government",
            )
        record = await Workflows(state.services.control).file_complaint(
            filed_by=agency, against=against, article=plain_text(article, "article", required=False), description=_text(description, "description")
        )
        return _complaint(record, state)

    async def answer_complaint(info: Info, id: strawberry.ID, answer: str) -> ComplaintType:
        state = info.context
        _only_operator(state, "answers complaints", "R-33")
        record = await _visible(state, "complaint", "complaint", id)
        if record.answer is not None:
            raise coded_error(Code.BAD_REQUEST, f"complaint {id} was answered by {record.answered_by} on {record.answered_at:%Y-%m-%d}; a written answer is kept as given (R-33)", status="answered")
        updated = await Workflows(state.services.control).answer_complaint(record.id, _text(answer, "answer"), state.principal.agency)
        if updated is None:
            raise _changed("complaint", record)
        return _complaint(updated, state)

    async def complaints(info: Info) -> list[ComplaintType]:
        state = info.context
        agency = None if _is_operator(state) else state.principal.agency
        return [_complaint(c, state) for c in await Workflows(state.services.control).complaints(agency)]

    def obtainable_materials(info: Info, subject: str, materials: list[str]) -> list[MaterialAvailabilityType]:
        state = info.context
        catalog = state.services.bundle.catalog
        refusal = decide_duty(catalog, state.policy)
        if refusal is not None:
            raise denial_error(refusal)
        if len(materials) > _MAX_MATERIALS:
            raise coded_error(Code.BAD_REQUEST, f"at most {_MAX_MATERIALS} materials per request, got {len(materials)}")
        entity, key = _subject(state.services.bundle.schema, subject)
        return [_availability(state, catalog, entity, key, m) for m in materials]

    def f(resolver: Any, name: str, description: str) -> Any:
        return strawberry.field(resolver=resolver, name=name, description=description)

    query = {
        "objection": f(objection, "objection", "One objection the caller filed, reviews (operator) or checks (provider, once forwarded)."),
        "objections": f(objections, "objections", "Objections that concern the caller (all, for the operator); `overdue`: open steps past their due date."),
        "accessRequest": f(access_request, "accessRequest", "One access request the caller made or must supply (any, for the operator)."),
        "accessRequests": f(access_requests, "accessRequests", "Access requests the caller made or must supply (all, for the operator)."),
        "complaints": f(complaints, "complaints", "Complaints filed by or against the caller (all, for the operator), with the written answers (R-33)."),
        "obtainableMaterials": f(obtainable_materials, "obtainableMaterials", "Which materials a service asks citizens for can be obtained by sharing for `subject` under the request's duty (X-Duty), so that they are not demanded again (R-24b)."),
    }
    mutation = {
        "fileObjection": f(file_objection, "fileObjection", "A consumer disputes a value it can obtain under the request's duty (X-Duty); the operator reviews within 3 working days (R-22)."),
        "reviewObjection": f(review_objection, "reviewObjection", "The operator confirms the value, fixes a technical difference, or forwards the objection to the provider (R-22)."),
        "answerObjection": f(answer_objection, "answerObjection", "The provider reports its check of a forwarded objection within 3 working days (R-22)."),
        "requestAccess": f(request_access, "requestAccess", "Ask for an item under one of the agency's duties: granted at once when in scope (R-19a), else referred to the government (R-19b)."),
        "decideAccessRequest": f(decide_access_request, "decideAccessRequest", "The operator records the government's decision; an approval widens the item's scope and gives the provider 5 working days to supply (R-19b)."),
        "confirmSupply": f(confirm_supply, "confirmSupply", "The provider confirms it supplies the approved information to the platform (R-19b)."),
        "fileComplaint": f(file_complaint, "fileComplaint", "Complain to the operator about another agency's violation of the regulation (R-33)."),
        "answerComplaint": f(answer_complaint, "answerComplaint", "The operator answers a complaint in writing; the answer is final (R-33)."),
    }
    return query, mutation
