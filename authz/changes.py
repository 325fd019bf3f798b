"""What a catalog change does, and whether it needs government approval first (R-9)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from authz.model import CatalogItem, ShareClass

__all__ = ["ChangeKind", "ChangeError", "apply_change", "needs_approval"]


class ChangeKind(StrEnum):
    WIDEN_SCOPE = "WIDEN_SCOPE"
    NARROW_SCOPE = "NARROW_SCOPE"
    MAKE_UNCONDITIONAL = "MAKE_UNCONDITIONAL"
    MAKE_CONDITIONAL = "MAKE_CONDITIONAL"
    MAKE_PUBLIC = "MAKE_PUBLIC"
    MAKE_NOT_PUBLIC = "MAKE_NOT_PUBLIC"


class ChangeError(ValueError):
    """The change cannot apply to the item as it stands."""


_REMOVES = {ChangeKind.NARROW_SCOPE, ChangeKind.MAKE_CONDITIONAL, ChangeKind.MAKE_NOT_PUBLIC}


def needs_approval(kind: ChangeKind) -> bool:
    """A change that removes information from what is shared waits for government approval."""
    return kind in _REMOVES


def apply_change(item: CatalogItem, raw: Mapping[str, Any], kind: ChangeKind, duty: str | None) -> dict[str, Any]:
    """The item's catalog entry (as in the catalog file) after the change."""
    entry = dict(raw)
    duties = list(entry.get("duties") or [])
    if kind in (ChangeKind.WIDEN_SCOPE, ChangeKind.NARROW_SCOPE):
        if item.share_class is not ShareClass.CONDITIONAL:
            raise ChangeError(f"item {item.code} is {item.share_class}; scopes apply to conditional items")
        if not duty:
            raise ChangeError(f"{kind} needs the duty")
        if kind is ChangeKind.WIDEN_SCOPE:
            if duty in duties:
                raise ChangeError(f"duty {duty} is already in the scope of {item.code}")
            duties.append(duty)
        else:
            if duty not in duties:
                raise ChangeError(f"duty {duty} is not in the scope of {item.code}")
            if len(duties) == 1:
                raise ChangeError(f"{duty} is the last duty in the scope of {item.code}; a conditional item needs at least one")
            duties.remove(duty)
        entry["duties"] = duties
    elif kind is ChangeKind.MAKE_UNCONDITIONAL:
        if item.share_class is not ShareClass.CONDITIONAL:
            raise ChangeError(f"item {item.code} is {item.share_class}, not conditional")
        entry["share_class"] = "unconditional"
        entry.pop("duties", None)
    elif kind is ChangeKind.MAKE_CONDITIONAL:
        if item.share_class is not ShareClass.UNCONDITIONAL or not duty:
            raise ChangeError(f"item {item.code} must be unconditional and the change must name the one duty to keep in scope")
        entry["share_class"] = "conditional"
        entry["duties"] = [duty]
    elif kind in (ChangeKind.MAKE_PUBLIC, ChangeKind.MAKE_NOT_PUBLIC):
        public = kind is ChangeKind.MAKE_PUBLIC
        if public and item.share_class is ShareClass.NONE:
            raise ChangeError(f"item {item.code} is share class none: it is never shared, so it cannot be made public")
        if item.public is public:
            raise ChangeError(f"item {item.code} is already {'public' if public else 'not public'}")
        entry["public"] = public
    return entry
