from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

from authz.codes import Code
from authz.context import Recipient, RequestContext
from authz.model import AgencyLevel, Catalog, CatalogItem, FieldBinding, ShareClass

__all__ = ["Decision", "Onward", "decide_duty", "decide_fields", "division_holders", "record_divisions"]


@dataclass(frozen=True)
class Onward:
    """What the consumer may do with a served item: pass it on or not (R-25)."""

    prohibited: bool
    public: bool = False
    consented_until: date | None = None
    consented: bool = False
    consented_to: tuple[str, ...] | None = None
    """With `consented`: the only agencies it may be provided to, or None for any."""


@dataclass(frozen=True)
class Decision:
    field: str
    allowed: bool
    item: str | None = None
    provider: str | None = None
    code: Code | None = None
    message: str = ""
    article: str | None = None
    origin: str | None = None
    onward: Onward | None = None

    def for_field(self, field: str) -> Decision:
        # a copy with another field; the frozen __init__ would cost several times more per field
        clone = object.__new__(Decision)
        clone.__dict__.update(self.__dict__, field=field)
        return clone

    @property
    def extensions(self) -> dict[str, object]:
        ext: dict[str, object] = {"code": str(self.code), "article": self.article}
        if self.item:
            ext["item"] = self.item
        if self.provider:
            ext["provider"] = self.provider
        if self.origin:
            ext["originItem"] = self.origin
        return ext


def _deny(field: str, code: Code, message: str, article: str, item: CatalogItem | None = None, **extra: object) -> Decision:
    return Decision(
        field=field,
        allowed=False,
        item=item.code if item else None,
        provider=item.provider if item else None,
        code=code,
        message=message,
        article=article,
        **extra,  # type: ignore[arg-type]
    )


def decide_duty(catalog: Catalog, ctx: RequestContext) -> Decision | None:
    """The request-level checks; None when the duty (and every on-behalf-of link) stands."""
    agency = catalog.agencies.get(ctx.agency)
    if agency is None:
        return _deny("*", Code.FORBIDDEN, f"agency {ctx.agency!r} is not registered with the gateway", "R-2")
    if ctx.duty is None:
        return _deny(
            "*",
            Code.DUTY_REQUIRED,
            "every data request is made under one of the agency's duties: send it in the X-Duty header",
            "R-18",
        )
    if ctx.duty not in ctx.granted_duties:
        granted = ", ".join(sorted(ctx.granted_duties)) or "none"
        return _deny(
            "*",
            Code.DUTY_NOT_GRANTED,
            f"X-Duty {ctx.duty!r} is not a duty granted by this access token (granted: {granted})",
            "R-18",
        )
    if not agency.holds(ctx.duty):
        return _deny(
            "*",
            Code.DUTY_NOT_HELD,
            f"agency {agency.code} does not hold duty {ctx.duty!r} in the registry; the token grants a duty the agency no longer has",
            "R-18",
        )
    for recipient in ctx.on_behalf_of:
        other = catalog.agencies.get(recipient.agency)
        if other is None or not other.holds(recipient.duty):
            return _deny(
                "*",
                Code.INVALID_ON_BEHALF_OF,
                f"X-On-Behalf-Of {recipient}: {recipient.agency!r} is not a registered agency holding duty {recipient.duty!r}",
                "R-25",
            )
    return None


def _obtainable(catalog: Catalog, who: Recipient, binding: FieldBinding, today: date) -> Decision:
    path = binding.path
    item = catalog.items.get(binding.item)
    if item is None:
        return _deny(path, Code.NOT_IN_SCOPE, f"field {path} is not backed by a published catalog item", "R-8")
    if item.share_class is ShareClass.NONE:
        return _deny(
            path, Code.NOT_IN_SCOPE, f"item {item.code} ({item.name}) is listed as not shared (share class none) and is never served", "R-8", item
        )
    if item.review is None or not item.review.passed:
        return _deny(path, Code.NOT_IN_SCOPE, f"item {item.code} has no passed confidentiality review and is not offered", "R-16b", item)
    own = who.agency == item.provider
    if not own and item.share_class is ShareClass.CONDITIONAL and who.duty not in item.duties_in_scope:
        scope = ", ".join(sorted(item.duties_in_scope)) or "no duty"
        return _deny(
            path,
            Code.NOT_IN_SCOPE,
            f"item {item.code} ({item.name}) of {item.provider} is shared conditionally to {scope}; duty {who.duty} of {who.agency} is not in its scope",
            "R-18",
            item,
        )
    if binding.origin and not own:
        origin = catalog.items.get(binding.origin)
        if origin is None:
            return _deny(path, Code.REDISTRIBUTION_BLOCKED, f"field {path} is a shared copy of an unknown item {binding.origin}", "R-25", item)
        if origin.provider != who.agency and not origin.public:
            if not any(c.covers(origin.code, item.provider, who.agency, today) for c in catalog.consents):
                return _deny(
                    path,
                    Code.REDISTRIBUTION_BLOCKED,
                    f"item {item.code} ({item.name}) is {item.provider}'s shared copy of item {origin.code} ({origin.name}) "
                    f"provided by {origin.provider}; {origin.provider} has not consented to its onward provision to {who.agency}",
                    "R-25",
                    item,
                    origin=origin.code,
                )
    return Decision(field=path, allowed=True, item=item.code, provider=item.provider, origin=binding.origin)


def _onward(catalog: Catalog, item_code: str, holder: str, today: date) -> Onward:
    """What `holder` may do with `item_code` (for a shared copy: the item it was copied from,
    whose provider decides, R-25): public, consented (until when, to whom) or prohibited."""
    item = catalog.items[item_code]
    if item.public:
        return Onward(prohibited=False, public=True)
    consents = [c for c in catalog.consents if c.origin_item == item_code and c.holder == holder and (c.until is None or today <= c.until)]
    if consents:
        until = None if any(c.until is None for c in consents) else max(c.until for c in consents if c.until)
        anyone = any(c.recipient is None for c in consents)
        to = None if anyone else tuple(sorted({c.recipient for c in consents if c.recipient is not None}))
        return Onward(prohibited=False, consented=True, consented_until=until, consented_to=to)
    return Onward(prohibited=True)


def decide_fields(catalog: Catalog, ctx: RequestContext, fields: Iterable[str]) -> dict[str, Decision]:
    """A decision for every requested leaf field; deny by default.

    Fields of the same item (and provenance) share one evaluation of the rules.
    """
    decisions: dict[str, Decision] = {}
    refused = decide_duty(catalog, ctx)
    requester = Recipient(ctx.agency, ctx.duty or "")
    by_source: dict[tuple[str, str | None], Decision] = {}
    for path in fields:
        if path in decisions:
            continue
        if refused is not None:
            decisions[path] = Decision(field=path, allowed=False, code=refused.code, message=refused.message, article=refused.article)
            continue
        binding = catalog.bindings.get(path)
        if binding is None:
            decisions[path] = _deny(path, Code.NOT_IN_SCOPE, f"field {path} is not in the published catalog", "R-8")
            continue
        source = (binding.item, binding.origin)
        decided = by_source.get(source)
        if decided is None:
            decided = by_source[source] = _decide_source(catalog, ctx, requester, binding)
        decisions[path] = decided.for_field(path)
    return decisions


def _decide_source(catalog: Catalog, ctx: RequestContext, requester: Recipient, binding: FieldBinding) -> Decision:
    path = binding.path
    decision = _obtainable(catalog, requester, binding, ctx.today)
    if decision.allowed:
        for recipient in ctx.on_behalf_of:
            onward = _obtainable(catalog, recipient, binding, ctx.today)
            if not onward.allowed:
                return _deny(
                    path,
                    Code.REDISTRIBUTION_BLOCKED,
                    f"{ctx.agency} asks on behalf of {recipient}, which could not obtain this field itself: {onward.message}",
                    "R-25",
                    catalog.items.get(binding.item),
                    origin=onward.origin or binding.origin,
                )
        if decision.item:
            return replace(decision, onward=_onward(catalog, decision.origin or decision.item, ctx.agency, ctx.today))
    return decision


def record_divisions(catalog: Catalog, ctx: RequestContext) -> frozenset[str]:
    """Divisions every served record must belong to (R-21a); empty means no restriction."""
    return frozenset(division for _, division in division_holders(catalog, ctx))


def division_holders(catalog: Catalog, ctx: RequestContext) -> tuple[tuple[str, str], ...]:
    """(agency, division) of each district agency of the request: the requester and those it acts for."""
    holders = []
    for link in (Recipient(ctx.agency, ctx.duty or ""), *ctx.on_behalf_of):
        agency = catalog.agencies.get(link.agency)
        if agency is not None and agency.level is AgencyLevel.DISTRICT:
            holders.append((agency.code, agency.division))
    return tuple(holders)
