from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from authz.context import RequestContext
from authz.policy import Decision

if TYPE_CHECKING:
    import asyncpg

    from gateway.evidence import Evidence
    from resolvers.evidence import SnapshotStore
    from gateway.catalog_files import CatalogBundle
    from resolvers.control import ConsentStore
    from resolvers.stores import AgencyStores

__all__ = ["Principal", "RequestState", "Services", "ServedItem"]


class Services(Protocol):
    @property
    def bundle(self) -> CatalogBundle: ...

    @property
    def stores(self) -> AgencyStores: ...

    @property
    def consents(self) -> ConsentStore: ...

    def decide(self, ctx: RequestContext, paths: tuple[str, ...]) -> dict[str, Decision]: ...

    async def refresh_consents(self) -> None: ...

    @property
    def evidence(self) -> Evidence: ...

    @property
    def snapshots(self) -> SnapshotStore: ...

    @property
    def control(self) -> asyncpg.Pool: ...


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a registered client acting for an agency."""

    agency: str
    client_id: str
    duties: frozenset[str]
    token_id: str | None = None


@dataclass
class ServedItem:
    item: str
    provider: str
    onward_prohibited: bool
    public: bool
    consented: bool
    consented_until: date | None
    consented_to: tuple[str, ...] | None = None
    fields: set[str] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "provider": self.provider,
            "fields": sorted(self.fields),
            "onwardProvision": "public" if self.public else "consented" if self.consented else "prohibited",
            "onwardProhibited": self.onward_prohibited,
            "public": self.public,
            "consentedUntil": self.consented_until.isoformat() if self.consented_until else None,
            "consentedTo": list(self.consented_to) if self.consented and self.consented_to is not None else None,
        }


@dataclass
class RequestState:
    """Everything one GraphQL request carries, from authentication to the audit line."""

    services: Services
    principal: Principal
    policy: RequestContext
    request_id: str
    case_id: str | None = None
    receipt_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    served: dict[str, ServedItem] = field(default_factory=dict)
    denied: list[Decision] = field(default_factory=list)
    subjects: set[str] = field(default_factory=set)
    providers: set[str] = field(default_factory=set)
    rows: int = 0
    fields_requested: set[str] = field(default_factory=set)
    snapshot_requested: bool = False
    identifiers_asked: dict[str, int] = field(default_factory=dict)  # by entity, over all root fields and aliases
    unavailable: dict[str, str] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    snapshot_id: str | None = None

    def record_served(self, decision: Decision) -> None:
        if decision.item is None or decision.provider is None:
            return
        entry = self.served.get(decision.item)
        if entry is None:
            onward = decision.onward
            entry = ServedItem(
                item=decision.item,
                provider=decision.provider,
                onward_prohibited=onward.prohibited if onward else True,
                public=onward.public if onward else False,
                consented=onward.consented if onward else False,
                consented_until=onward.consented_until if onward else None,
                consented_to=onward.consented_to if onward else None,
            )
            self.served[decision.item] = entry
        entry.fields.add(decision.field)

    def sharing_extension(self) -> dict[str, Any] | None:
        if not self.served:
            return None
        return {
            "receiptId": self.receipt_id,
            "agency": self.principal.agency,
            "duty": self.policy.duty,
            "caseId": self.case_id,
            "onBehalfOf": [str(r) for r in self.policy.on_behalf_of],
            "items": [self.served[k].as_json() for k in sorted(self.served)],
        }
