"""Objections (R-22), access requests (R-19a/R-19b), complaints (R-33) and obtainable materials (R-24b)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from authz.codes import Code
from authz.model import Catalog, CatalogItem, ShareClass
from authz.policy import decide_duty, record_divisions
from resolvers.workflows import AccessRequest, Complaint, Objection, OpenRequestExists, Workflows, next_actions, next_status
from schema.errors import coded_error, denial_error
from schema.identifiers import InvalidIdentifier, parse_resident_id_number, parse_unified_social_credit_code

__all__ = ["MATERIAL_SYNONYMS", "workflow_fields"]

# What public services call the materials they ask for, mapped to the catalog item that holds them.
MATERIAL_SYNONYMS: dict[str, str] = {
    "身份证": "P01", "居民身份证": "P01", "户口簿": "P02", "户口本": "P02", "居民户口簿": "P02", "户籍证明": "P02",
    "婚姻状况证明": "P03", "婚姻登记记录证明": "P03", "结婚登记证": "P04", "低保证": "P05", "低保证明": "P05",
    "最低生活保障证明": "P05", "社保证明": "P06", "参保证明": "P06", "社会保险参保证明": "P06", "无犯罪记录证明": "P07",
    "企业登记信息": "E01", "工商登记信息": "E01", "营业执照副本": "E02", "法定代表人身份证明": "E03",
    "纳税信用等级证明": "E04", "住房保障资格证明": "H01",
}  # fmt: skip
_PARSERS = {"ResidentIdNumber": parse_resident_id_number, "UnifiedSocialCreditCode": parse_unified_social_credit_code}
_MAX_MATERIALS = 100


@strawberry.enum(description="FILED: awaiting the operator's review; FORWARDED: awaiting the provider's check; CLOSED (R-22).")
class ObjectionStatus(Enum):
    FILED, FORWARDED, CLOSED = "filed", "forwarded", "closed"


@strawberry.enum(description="The operator's review (R-22): the value stands, a technical difference fixed, or forwarded to the provider.")
class ObjectionReview(Enum):
    CONFIRMED, CORRECTED_TECHNICAL, FORWARDED = "confirmed", "corrected_technical", "forwarded"


@strawberry.enum(description="The provider's check (R-22): its record is right, or it corrected its own record.")
class ProviderFinding(Enum):
    VALUE_CORRECT, RECORD_CORRECTED = "value_correct", "record_corrected"


@strawberry.enum(description="How a closed objection ended (R-22).")
class ObjectionOutcome(Enum):
    CONFIRMED, CORRECTED_TECHNICAL = "confirmed", "corrected_technical"
    VALUE_CORRECT, RECORD_CORRECTED = "value_correct", "record_corrected"


@strawberry.enum(description="GRANTED at once when in scope (R-19a); else AWAITING_DECISION by the government, AWAITING_SUPPLY after approval (R-19b), SUPPLIED or REJECTED.")
class AccessRequestStatus(Enum):
    GRANTED, AWAITING_DECISION, AWAITING_SUPPLY = "granted", "awaiting_decision", "awaiting_supply"
    SUPPLIED, REJECTED = "supplied", "rejected"


@strawberry.type(name="WorkflowStep", description="One recorded step of a workflow: who did what, and when (append-only).")
class WorkflowStepType:
    action: str
    actor: str = strawberry.field(description="an agency code, or `platform` for what the gateway did by itself")
    at: dt.datetime
    note: str | None


@strawberry.type(name="OpenStep", description="The step an objection waits for, and its deadline in working days (R-22).")
class OpenStepType:
    step: str = strawberry.field(description="operator review, or provider check")
    awaiting: str = strawberry.field(description="the agency that must act")
    started_on: dt.date
    due: dt.date = strawberry.field(description="the 3rd working day after the step started (Chinese official calendar)")
    estimated: bool = strawberry.field(description="the official calendar does not cover the period yet: Monday-Friday was assumed")
    overdue: bool


@strawberry.type(name="Objection", description="A consumer's dispute of a shared value (R-22); visible to its filer, the operator and, once forwarded, the provider.")
class ObjectionType:
    id: strawberry.ID
    item: str
    provider: str
    subject: str
    field: str
    claimed_value: str
    reason: str
    filed_by: str
    duty: str
    status: ObjectionStatus
    outcome: ObjectionOutcome | None
    reread_required: bool = strawberry.field(description="the provider corrected its record: holders of the value must re-read it through the gateway, which never writes agency stores (R-26)")
    filed_at: dt.datetime
    closed_at: dt.datetime | None
    open_step: OpenStepType | None
    overdue: bool
    steps: list[WorkflowStepType]


@strawberry.type(name="AccessRequest", description="An agency's request to obtain an item under a duty (R-19a, R-19b).")
class AccessRequestType:
    id: strawberry.ID
    item: str
    provider: str
    duty: str
    requester: str
    justification: str
    status: AccessRequestStatus
    decision_reference: str | None = strawberry.field(description="the government decision the operator recorded")
    decided_on: dt.date | None
    supply_due: dt.date | None = strawberry.field(description="the 5th working day after the approval (R-19b)")
    supply_due_estimated: bool | None
    supplied_on: dt.date | None
    supplied_late: bool | None
    overdue: bool = strawberry.field(description="approved, not supplied, and past the supply deadline (R-32)")
    requested_at: dt.datetime
    steps: list[WorkflowStepType]


@strawberry.type(name="Complaint", description="A complaint about another agency's violation and the operator's written answer (R-33); both are kept as given.")
class ComplaintType:
    id: strawberry.ID
    filed_by: str
    against: str
    article: str | None
    description: str
    filed_at: dt.datetime
    answered: bool
    answer: str | None
    answered_by: str | None
    answered_at: dt.datetime | None
    steps: list[WorkflowStepType]


@strawberry.type(name="MaterialAvailability", description="Whether a material a service asks citizens for can be obtained by sharing instead (R-24b).")
class MaterialAvailabilityType:
    material: str
    item: str | None
    item_name: str | None
    provider: str | None
    obtainable: bool
    code: str | None = strawberry.field(description="the denial code when not obtainable")
    reason: str


def _copy(cls: Any, record: Any, **extra: Any) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    steps = [WorkflowStepType(action=s.action, actor=s.actor, at=s.at, note=s.note) for s in record.steps]
    return cls(**{k: v for k, v in vars(record).items() if k in names}, **{"id": strawberry.ID(str(record.id)), "steps": steps, **extra})


def _objection(o: Objection, state: Any) -> ObjectionType:
    open_step = None
    if o.awaiting and o.due and o.step_started_on:
        operators = ", ".join(sorted(state.services.bundle.operators))
        open_step = OpenStepType(
            step="operator review" if o.status == "filed" else "provider check",
            awaiting=operators if o.awaiting == "operator" else o.awaiting,
            started_on=o.step_started_on, due=o.due, estimated=bool(o.due_estimated), overdue=o.overdue(state.policy.today),
        )  # fmt: skip
    outcome = ObjectionOutcome(o.outcome) if o.outcome else None
    return _copy(ObjectionType, o, status=ObjectionStatus(o.status), outcome=outcome, reread_required=o.outcome == "record_corrected",
                 open_step=open_step, overdue=o.overdue(state.policy.today))  # fmt: skip


def _request(r: AccessRequest, state: Any) -> AccessRequestType:
    return _copy(AccessRequestType, r, status=AccessRequestStatus(r.status), overdue=r.overdue(state.policy.today))  # type: ignore[no-any-return]


def _complaint(c: Complaint, state: Any) -> ComplaintType:
    return _copy(ComplaintType, c, answered=c.answer is not None)  # type: ignore[no-any-return]


def _case_id(id: str, kind: str) -> int:
    try:
        return int(id)
    except ValueError:
        raise coded_error(Code.BAD_REQUEST, f"id {id!r} is not an {kind} id (a number)") from None


def _text(value: str, name: str) -> str:
    if not value.strip():
        raise coded_error(Code.BAD_REQUEST, f"{name} must not be empty")
    return value.strip()


def _is_operator(state: Any) -> bool:
    return state.principal.agency in state.services.bundle.operators


def _only_operator(state: Any, what: str, article: str) -> None:
    if not _is_operator(state):
        raise coded_error(Code.FORBIDDEN, f"only the platform operator ({', '.join(sorted(state.services.bundle.operators))}) {what} ({article})", article=article)


async def _visible(state: Any, workflow: str, kind: str, id: str) -> Any:
    record = await Workflows(state.services.control).get(workflow, _case_id(id, kind))
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
        except (KeyError, InvalidIdentifier) as exc:
            problems.append(f"as {entity.key_scalar}: {getattr(exc, 'reason', 'no parser')}")
    raise InvalidIdentifier(" or ".join(_PARSERS), value, "; ".join(problems))


def _availability(state: Any, catalog: Catalog, entity: str, key: str, material: str) -> MaterialAvailabilityType:
    name = material.strip()
    item: CatalogItem | None = next((i for i in catalog.items.values() if i.name == name), None) or catalog.items.get(MATERIAL_SYNONYMS.get(name, name.upper()))
    if item is None:
        return MaterialAvailabilityType(material=material, item=None, item_name=None, provider=None, obtainable=False, code=None,
                                        reason="no catalog item matches this material: ask the applicant for it, or request the information (R-19b)")  # fmt: skip

    def answer(obtainable: bool, code: Code | None, reason: str) -> MaterialAvailabilityType:
        return MaterialAvailabilityType(material=material, item=item.code, item_name=item.name, provider=item.provider,
                                        obtainable=obtainable, code=str(code) if code else None, reason=reason)  # fmt: skip

    label = f"item {item.code} ({item.name}) of {item.provider}"
    if not item.fields or item.share_class is ShareClass.NONE:
        return answer(False, Code.NOT_IN_SCOPE, f"{label} is listed as not shared: it cannot be obtained by sharing (R-8)")
    kinds = sorted({p.split(".", 1)[0] for p in item.fields})
    if entity not in kinds:
        return answer(False, Code.BAD_REQUEST, f"{label} describes a {' or '.join(kinds)}, and the subject is a {entity}")
    denied = next((d for d in state.services.decide(state.policy, item.fields).values() if not d.allowed), None)
    if denied is not None:
        return answer(False, denied.code, f"{denied.message} ({denied.article})")
    caveat = ""
    divisions, rule = record_divisions(catalog, state.policy), catalog.divisions.get(entity)
    if divisions and rule is not None and rule.key_slice is not None and key[slice(*rule.key_slice)] not in divisions:
        return answer(False, Code.OUT_OF_DIVISION, f"the subject belongs to division {key[slice(*rule.key_slice)]}, outside {', '.join(sorted(divisions))} (R-21a)")
    if divisions and (rule is None or rule.key_slice is None):
        caveat = f", if the subject's record belongs to division {', '.join(sorted(divisions))} (R-21a)"
    return answer(True, None, f"{label} can be obtained by sharing under duty {state.policy.duty}{caveat}: do not ask the applicant for it (R-24b)")
