"""Garbage collection tuned for a long-running gateway process.

What the process holds after start-up (schema, catalog, policy caches, pools) lives as long
as it does, yet every full collection walked all of it; and with CPython's default
threshold a young collection ran whenever 700 more objects had been made than freed,
several times per request. Together that was about a tenth of a request's CPU. After
start-up the heap is frozen (moved to the permanent generation, never walked again) and a
young collection waits for 10,000. Requests make few reference cycles, so this changes when
their garbage goes, not whether.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

__all__ = ["THRESHOLDS", "settle_heap", "unsettle_heap"]

THRESHOLDS = (10_000, 20, 20)


def settle_heap(forget: Callable[[], None] | None = None) -> None:
    """Collect once, freeze what survives and raise the collection thresholds; call after start-up.

    `forget` drops what is kept only for a while (caches) before the freeze: frozen, an entry
    such a cache later evicts would never be collected (parsed documents hold reference cycles).
    """
    if forget is not None:
        forget()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def unsettle_heap(settle_after: float = 60.0, forget: Callable[[], None] | None = None) -> None:
    """Something frozen is being replaced (the schema of an older catalog version): let the
    collector see the frozen heap again, and settle it anew (after `forget`) once the requests
    that still hold the old objects are done."""
    gc.unfreeze()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    loop.call_later(settle_after, settle_heap, forget)
