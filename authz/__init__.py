"""The sharing policy: pure, I/O-free decisions about who may read which field of whom."""

from __future__ import annotations

from authz.codes import Code
from authz.context import Recipient, RequestContext
from authz.model import (
    Agency,
    AgencyLevel,
    Catalog,
    CatalogItem,
    ConfidentialityReview,
    DivisionRule,
    EntityKind,
    FieldBinding,
    OnwardConsent,
    ShareClass,
    UpdateCycle,
)
from authz.policy import Decision, decide_duty, decide_fields, record_divisions

__all__ = [
    "Agency",
    "AgencyLevel",
    "Catalog",
    "CatalogItem",
    "Code",
    "ConfidentialityReview",
    "Decision",
    "DivisionRule",
    "EntityKind",
    "FieldBinding",
    "OnwardConsent",
    "Recipient",
    "RequestContext",
    "ShareClass",
    "UpdateCycle",
    "decide_duty",
    "decide_fields",
    "record_divisions",
]
