"""The gateway process settles its heap once it has started, and again after a schema change."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httpx

from gateway.garbage import THRESHOLDS, unsettle_heap


async def test_a_started_gateway_freezes_its_heap_and_collects_less_often(demo_settings: Any, demo_databases: Any) -> None:
    from gateway.app import create_app
    from gateway.runtime import Runtime

    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    app = create_app(lambda: Runtime.start(demo_settings, demo_databases.control_dsn, demo_databases.store_dsns))
    async with app.router.lifespan_context(app):
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > 0
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            assert (await http.get("/healthz")).status_code == 200


async def test_a_replaced_schema_is_not_kept_frozen() -> None:
    gc.freeze()
    assert gc.get_freeze_count() > 0
    unsettle_heap(settle_after=0.05)
    assert gc.get_freeze_count() == 0  # what the old schema held can be collected now
    await asyncio.sleep(0.3)
    assert gc.get_freeze_count() > 0 and gc.get_threshold() == THRESHOLDS


async def test_what_a_cache_keeps_is_forgotten_before_the_heap_is_frozen_again() -> None:
    # a cached entry frozen with the heap and evicted later would never be collected
    from schema.operations import PreparedOperations

    prepared = PreparedOperations(maxsize=8)
    prepared.document("{ a b c }")
    gc.freeze()
    unsettle_heap(settle_after=0.05, forget=prepared.clear)
    assert prepared.text_kept > 0  # kept while requests of the old schema may still run
    await asyncio.sleep(0.3)
    assert prepared.text_kept == 0 and gc.get_freeze_count() > 0
