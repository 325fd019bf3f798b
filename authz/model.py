from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum

__all__ = [
    "Agency",
    "AgencyLevel",
    "Catalog",
    "CatalogItem",
    "ConfidentialityReview",
    "DivisionRule",
    "EntityKind",
    "FieldBinding",
    "ItemKind",
    "OnwardConsent",
    "ShareClass",
    "UpdateCycle",
]


class ShareClass(StrEnum):
    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NONE = "none"


class UpdateCycle(StrEnum):
    REALTIME = "realtime"
    THREE_DAYS = "3d"
    QUARTERLY = "quarterly"


class AgencyLevel(StrEnum):
    CITY = "city"
    DISTRICT = "district"


class ItemKind(StrEnum):
    BASE = "base"
    BUSINESS = "business"
    LICENSE = "license"
    DOCUMENT = "document"


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    level: AgencyLevel
    division: str
    duties: Mapping[str, str]
    contact: str = ""

    def holds(self, duty: str) -> bool:
        return duty in self.duties


@dataclass(frozen=True)
class ConfidentialityReview:
    reviewer: str
    date: date
    result: str

    @property
    def passed(self) -> bool:
        return self.result == "passed"


@dataclass(frozen=True)
class CatalogItem:
    code: str
    name: str
    provider: str
    share_class: ShareClass
    duties_in_scope: frozenset[str]
    kind: ItemKind
    cycle: UpdateCycle | None
    method: str = "query"
    public: bool = False
    review: ConfidentialityReview | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldBinding:
    """A published leaf field (`Person.housingSecurity.status`) and the item that backs it.

    `origin` names the catalog item this field is a shared copy of, when the provider
    obtained the value through sharing (provenance, R-13 and R-25).
    """

    path: str
    item: str
    origin: str | None = None


@dataclass(frozen=True)
class OnwardConsent:
    """The origin provider's consent that `holder` may provide `origin_item` onward."""

    id: int
    origin_item: str
    holder: str
    recipient: str | None
    until: date | None

    def covers(self, origin_item: str, holder: str, recipient: str, today: date) -> bool:
        return (
            self.origin_item == origin_item
            and self.holder == holder
            and (self.recipient is None or self.recipient == recipient)
            and (self.until is None or today <= self.until)
        )


class EntityKind(StrEnum):
    PERSON = "Person"
    LEGAL_ENTITY = "LegalEntity"


@dataclass(frozen=True)
class DivisionRule:
    """Where a record of an entity kind belongs: a field's value, or a slice of its key."""

    field: str | None = None
    key_slice: tuple[int, int] | None = None


@dataclass(frozen=True)
class Catalog:
    version: int
    agencies: Mapping[str, Agency]
    items: Mapping[str, CatalogItem]
    bindings: Mapping[str, FieldBinding]
    divisions: Mapping[str, DivisionRule] = field(default_factory=dict)
    consents: tuple[OnwardConsent, ...] = ()
    consent_revision: int = 0

    def with_consents(self, consents: tuple[OnwardConsent, ...], revision: int) -> Catalog:
        return replace(self, consents=consents, consent_revision=revision)
