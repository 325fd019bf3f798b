"""The gateway process settles its heap once it has started."""

from __future__ import annotations

import gc
from typing import Any

import httpx

from gateway.garbage import THRESHOLDS


async def test_a_started_gateway_freezes_its_heap_and_collects_less_often(client: httpx.AsyncClient, agent: Any) -> None:
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 0
    response = await agent("gz-rsj").query('{ person(idNumber: "440106199001011235") { name } }', duty="rs.insurance")
    assert response.status_code == 200 and response.json()["data"]["person"]["name"]
