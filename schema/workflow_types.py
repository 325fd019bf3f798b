"""GraphQL types of the regulation's workflows: objections, access requests, complaints, materials."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry

__all__ = ["AccessRequestStatus", "AccessRequestType", "ComplaintType", "MaterialAvailabilityType", "ObjectionOutcome", "ObjectionReview", "ObjectionStatus", "ObjectionType", "OpenStepType", "ProviderFinding", "WorkflowStepType"]


@strawberry.enum(description="FILED: awaiting the operator's review; FORWARDED: awaiting the provider's check; CLOSED (R-22).")
class ObjectionStatus(Enum):
    FILED = "filed"
    FORWARDED = "forwarded"
    CLOSED = "closed"


@strawberry.enum(description="The operator's review (R-22): the value stands, a technical difference fixed, or forwarded to the provider.")
class ObjectionReview(Enum):
    CONFIRMED = "confirmed"
    CORRECTED_TECHNICAL = "corrected_technical"
    FORWARDED = "forwarded"


@strawberry.enum(description="The provider's check (R-22): its record is right, or it corrected its own record.")
class ProviderFinding(Enum):
    VALUE_CORRECT = "value_correct"
    RECORD_CORRECTED = "record_corrected"


@strawberry.enum(description="How a closed objection ended (R-22).")
class ObjectionOutcome(Enum):
    CONFIRMED = "confirmed"
    CORRECTED_TECHNICAL = "corrected_technical"
    VALUE_CORRECT = "value_correct"
    RECORD_CORRECTED = "record_corrected"


@strawberry.enum(description="GRANTED at once when in scope (R-19a); else AWAITING_DECISION by the government, AWAITING_SUPPLY after approval (R-19b), SUPPLIED or REJECTED.")
class AccessRequestStatus(Enum):
    GRANTED = "granted"
    AWAITING_DECISION = "awaiting_decision"
    AWAITING_SUPPLY = "awaiting_supply"
    SUPPLIED = "supplied"
    REJECTED = "rejected"


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
