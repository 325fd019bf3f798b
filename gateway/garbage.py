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

import gc

__all__ = ["THRESHOLDS", "settle_heap"]

THRESHOLDS = (10_000, 20, 20)


def settle_heap() -> None:
    """Collect once, freeze what survives and raise the collection thresholds; call after start-up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
