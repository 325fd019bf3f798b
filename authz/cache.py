from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from authz.context import RequestContext
from authz.model import Catalog
from authz.policy import Decision, decide_fields

__all__ = ["DecisionCache"]


class DecisionCache:
    """Memoises decision sets by operation fields, agency, duty, chain, day and catalog version."""

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, dict[str, Decision]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def decide(self, catalog: Catalog, ctx: RequestContext, paths: tuple[str, ...]) -> dict[str, Decision]:
        key = (catalog.version, catalog.consent_revision, id(catalog), ctx, paths)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry
        self.misses += 1
        entry = decide_fields(catalog, ctx, paths)
        self._entries[key] = entry
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return entry
