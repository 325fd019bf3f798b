"""Where a request's time goes inside the gateway process (bench/run.py --timings).

The launcher installs thin timing wrappers around a few stages of the real code path (no
gateway file is changed) and wraps the ASGI app so that `GET /__bench/timings` returns the
samples gathered since the previous call, then forgets them. Each wrapper costs about a
microsecond; requests take milliseconds.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

__all__ = ["HANDLER", "PARALLEL", "STAGES", "install", "summarise", "wrap_app"]

PATH = "/__bench/timings"

PARALLEL = "AgencyStores.fetch (one statement)"  # a request's statements run concurrently

# (label, module, attribute path, async?) in the order they are reported
STAGES: list[tuple[str, str, str, bool]] = [
    ("auth: TokenVerifier.verify", "gateway.auth.tokens", "TokenVerifier.verify", False),
    ("GraphQL: Schema.execute (incl. fetch)", "strawberry.schema.schema", "Schema.execute", True),
    ("fetch_subjects (providers in parallel)", "schema.subjects", "fetch_subjects", True),
    (PARALLEL, "resolvers.stores", "AgencyStores.fetch", True),
    ("ledger: LedgerWriter.append (wait)", "gateway.ledger.writer", "LedgerWriter.append", True),
    ("ledger: group commit transaction", "gateway.ledger.writer", "LedgerWriter._commit", True),
]
HANDLER = "whole /graphql request in the app"
LAG = "event loop: wake-up delay of a 1 ms timer"

_samples: dict[str, list[float]] = defaultdict(list)


def _timed(label: str, original: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    if is_async:

        @functools.wraps(original)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                _samples[label].append(time.perf_counter() - started)

        return async_wrapper

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _samples[label].append(time.perf_counter() - started)

    return wrapper


def install() -> list[str]:
    """Wraps the stages that exist in this version of the gateway; returns those skipped."""
    import importlib

    skipped = []
    for label, module_name, attribute, is_async in STAGES:
        try:
            owner: Any = importlib.import_module(module_name)
            *parents, name = attribute.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            original = getattr(owner, name)
        except (ImportError, AttributeError):
            skipped.append(label)
            continue
        setattr(owner, name, _timed(label, original, is_async))
    return skipped


def wrap_app(app: Any) -> Any:
    """The gateway's ASGI app, timed on /graphql, plus GET /__bench/timings."""

    monitor: list[Any] = []

    async def lag() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            _samples[LAG].append(time.perf_counter() - started - 0.001)

    async def timed_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not monitor and scope["type"] == "http":
            monitor.append(asyncio.get_running_loop().create_task(lag()))
        if scope["type"] == "http" and scope["path"] == PATH:
            body = json.dumps({k: v for k, v in _samples.items()}).encode()
            _samples.clear()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] == "http" and scope["path"] == "/graphql":
            started = time.perf_counter()
            try:
                await app(scope, receive, send)
            finally:
                _samples[HANDLER].append(time.perf_counter() - started)
            return
        await app(scope, receive, send)

    return timed_app


def summarise(samples: dict[str, list[float]]) -> list[tuple[str, int, float, float, float]]:
    """(label, calls per request, mean ms, p50 ms, share of the request's mean) per stage."""
    requests = len(samples.get(HANDLER, [])) or 1
    handler_mean = (sum(samples.get(HANDLER, [])) / requests) if samples.get(HANDLER) else 0.0
    rows = []
    for label in [HANDLER, *(s[0] for s in STAGES), LAG]:
        values = samples.get(label)
        if not values:
            continue
        ordered = sorted(values)
        mean = sum(values) / len(values)
        # statements of one request run in parallel: one statement's share, not their sum
        per_request = mean if label in (PARALLEL, LAG) else sum(values) / requests
        share = per_request / handler_mean if handler_mean else 0.0
        rows.append((label, len(values) / requests, mean * 1000, ordered[len(ordered) // 2] * 1000, share))
    return rows
