"""Onward consents: the origin provider records and withdraws them (R-25)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.types import Info

from authz.codes import Code
from schema.catalog_types import OnwardConsentType
from schema.errors import coded_error, record_id

__all__ = ["consent_mutations", "consents_query"]


def _as_type(record: Any) -> OnwardConsentType:
    return OnwardConsentType.from_row(record.consent, record.granted_by, record.granted_at, record.withdrawn_at)


def consent_mutations() -> dict[str, Any]:
    async def grant_onward_consent(
        info: Info, origin_item: str, holder: str, recipient: str | None = None, until: dt.date | None = None
    ) -> OnwardConsentType:
        state = info.context
        catalog = state.services.bundle.catalog
        item = catalog.items.get(origin_item)
        if item is None:
            raise coded_error(Code.BAD_REQUEST, f"originItem {origin_item!r} is not a catalog item")
        if item.provider != state.principal.agency:
            raise coded_error(
                Code.FORBIDDEN,
                f"only {item.provider}, the provider of {origin_item}, may consent to its onward provision (R-25)",
                item=origin_item,
            )
        for code, role in ((holder, "holder"), (recipient, "recipient")):
            if code is not None and code not in catalog.agencies:
                raise coded_error(Code.BAD_REQUEST, f"{role} {code!r} is not a registered agency")
        if holder == item.provider:
            raise coded_error(Code.BAD_REQUEST, f"holder {holder} is the provider of {origin_item} itself; consent is for other holders")
        if recipient == holder:
            raise coded_error(Code.BAD_REQUEST, f"recipient {recipient} is the holder itself; consent is for passing {origin_item} on to another agency (R-25)")
        if until is not None and until < state.policy.today:
            raise coded_error(Code.BAD_REQUEST, f"until {until.isoformat()} is in the past")
        record = await state.services.consents.grant(origin_item, holder, recipient, until, state.principal.agency)
        await state.services.refresh_consents()
        return _as_type(record)

    async def withdraw_onward_consent(info: Info, id: strawberry.ID) -> OnwardConsentType:
        state = info.context
        consent_id = record_id(id, "onward consent")
        record = await state.services.consents.get(consent_id)
        if record is None:
            raise coded_error(Code.NOT_FOUND, f"no onward consent with id {consent_id}")
        item = state.services.bundle.catalog.items.get(record.consent.origin_item)
        if item is None or item.provider != state.principal.agency:
            raise coded_error(Code.FORBIDDEN, f"only the provider of {record.consent.origin_item} may withdraw this consent (R-25)")
        withdrawn = await state.services.consents.withdraw(consent_id, state.principal.agency)
        await state.services.refresh_consents()
        return _as_type(withdrawn or record)

    return {
        "grantOnwardConsent": strawberry.field(
            resolver=grant_onward_consent,
            name="grantOnwardConsent",
            description="The origin provider consents that `holder` may provide `originItem` onward to `recipient` (every agency when omitted) until a date.",
        ),
        "withdrawOnwardConsent": strawberry.field(
            resolver=withdraw_onward_consent,
            name="withdrawOnwardConsent",
            description="The origin provider withdraws a consent; it stops applying from the next request.",
        ),
    }


def consents_query() -> Any:
    async def onward_consents(info: Info) -> list[OnwardConsentType]:
        state = info.context
        catalog = state.services.bundle.catalog
        agency = state.principal.agency
        records = await state.services.consents.listing()
        visible = [
            r
            for r in records
            if agency in state.services.bundle.operators
            or r.consent.holder == agency
            or r.consent.recipient == agency
            or catalog.items.get(r.consent.origin_item, None) is not None
            and catalog.items[r.consent.origin_item].provider == agency
        ]
        return [_as_type(r) for r in visible]

    return strawberry.field(resolver=onward_consents, name="onwardConsents", description="Onward consents that concern the caller's agency (all, for the operator).")
