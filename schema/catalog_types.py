"""The catalog, access plans and consents as GraphQL types."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import strawberry

if TYPE_CHECKING:
    from authz.model import Agency, CatalogItem, OnwardConsent
    from authz.policy import Decision

__all__ = ["AccessPlan", "AgencyType", "CatalogItemType", "DutyAccess", "FieldDecision", "OnwardConsentType", "ReviewType"]


@strawberry.type(name="ConfidentialityReview", description="The confidentiality review an item passed before it was offered (R-16b).")
class ReviewType:
    reviewer: str
    date: dt.date
    result: str


@strawberry.type(name="CatalogItem", description="One published item of the sharing catalog (R-8).")
class CatalogItemType:
    code: str
    name: str
    provider: str
    provider_name: str
    share_class: str = strawberry.field(description="unconditional, conditional or none")
    duties_in_scope: list[str]
    method: str
    update_cycle: str | None = strawberry.field(description="realtime, 3d or quarterly (R-17); null for items never served")
    kind: str = strawberry.field(description="base, business, license or document")
    public: bool = strawberry.field(description="within government information disclosure: may be passed on (R-25)")
    fields: list[str] = strawberry.field(description="published GraphQL fields, as Type.field paths")
    review: ReviewType | None

    @classmethod
    def from_item(cls, item: CatalogItem, agencies: dict[str, Agency]) -> CatalogItemType:
        review = item.review
        return cls(
            code=item.code,
            name=item.name,
            provider=item.provider,
            provider_name=agencies[item.provider].name if item.provider in agencies else item.provider,
            share_class=str(item.share_class),
            duties_in_scope=sorted(item.duties_in_scope),
            method=item.method,
            update_cycle=str(item.cycle) if item.cycle else None,
            kind=str(item.kind),
            public=item.public,
            fields=list(item.fields),
            review=ReviewType(reviewer=review.reviewer, date=review.date, result=review.result) if review else None,
        )


@strawberry.type(name="Agency", description="A registered agency (R-29: with its designated contact for sharing).")
class AgencyType:
    code: str
    name: str
    level: str
    division: str
    duties: list[str]
    contact: str

    @classmethod
    def from_agency(cls, agency: Agency) -> AgencyType:
        return cls(
            code=agency.code,
            name=agency.name,
            level=str(agency.level),
            division=agency.division,
            duties=sorted(agency.duties),
            contact=agency.contact,
        )


@strawberry.type(description="The decision for one field: served, or denied with the code and the rule.")
class FieldDecision:
    field: str
    allowed: bool
    item: str | None
    provider: str | None
    code: str | None
    message: str | None
    article: str | None
    origin_item: str | None

    @classmethod
    def from_decision(cls, decision: Decision) -> FieldDecision:
        return cls(
            field=decision.field,
            allowed=decision.allowed,
            item=decision.item,
            provider=decision.provider,
            code=str(decision.code) if decision.code else None,
            message=decision.message or None,
            article=decision.article,
            origin_item=decision.origin,
        )


@strawberry.type(description="What a document would get under a duty, decided without touching any data store.")
class AccessPlan:
    agency: str
    duty: str
    catalog_version: int
    division_restricted_to: list[str] = strawberry.field(description="records are served only from these divisions (R-21a); empty: no restriction")
    fields: list[FieldDecision]
    errors: list[str] = strawberry.field(description="problems with the document itself (syntax, unknown fields)")


@strawberry.type(description="The items and fields an agency may read under one of its duties.")
class DutyAccess:
    duty: str
    meaning: str
    items: list[str]
    fields: list[str]


@strawberry.type(name="OnwardConsent", description="An origin provider's consent to the onward provision of its item (R-25).")
class OnwardConsentType:
    id: strawberry.ID
    origin_item: str
    holder: str
    recipient: str | None = strawberry.field(description="null: every agency the holder may serve")
    until: dt.date | None
    granted_by: str
    granted_at: dt.datetime
    withdrawn_at: dt.datetime | None

    @classmethod
    def from_row(cls, consent: OnwardConsent, granted_by: str, granted_at: dt.datetime, withdrawn_at: dt.datetime | None) -> OnwardConsentType:
        return cls(
            id=strawberry.ID(str(consent.id)),
            origin_item=consent.origin_item,
            holder=consent.holder,
            recipient=consent.recipient,
            until=consent.until,
            granted_by=granted_by,
            granted_at=granted_at,
            withdrawn_at=withdrawn_at,
        )
