"""Per-agency sharing metrics for the operator's evaluation (R-31), exported on /metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from schema.context import RequestState

__all__ = ["CONTENT_TYPE_LATEST", "observe", "render"]

REQUESTS = Counter("govshare_requests_total", "GraphQL operations by agency, duty and outcome", ["agency", "duty", "outcome"])
LATENCY = Histogram(
    "govshare_request_seconds", "GraphQL operation latency by agency", ["agency"], buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
)
SERVED = Counter("govshare_items_served_total", "Catalog items served, by consumer, provider and item", ["agency", "provider", "item"])
SUBJECTS = Counter("govshare_subjects_total", "Subjects whose data was served, by consumer", ["agency"])
DENIALS = Counter("govshare_denials_total", "Denied fields and requests by agency and code", ["agency", "code"])
UNAVAILABLE = Counter("govshare_provider_unavailable_total", "Requests that found a provider unavailable", ["provider"])


UNGRANTED_DUTY = "(not granted)"
"""The duty label of operations under a duty the client was not granted: the header is the
client's to write, and each distinct label value would be a new series kept for good."""

_children: dict[tuple[Any, tuple[str, ...]], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    # `labels()` validates and locks on every call; a labelled child never changes
    key = (metric, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def observe(state: RequestState, outcome: str, seconds: float) -> None:
    agency = state.principal.agency
    duty = state.policy.duty or ""
    if duty and duty not in state.policy.granted_duties:
        duty = UNGRANTED_DUTY
    _child(REQUESTS, agency, duty, outcome).inc()
    _child(LATENCY, agency).observe(seconds)
    for entry in state.served.values():
        _child(SERVED, agency, entry.provider, entry.item).inc()
    if state.subjects:
        _child(SUBJECTS, agency).inc(len(state.subjects))
    for decision in state.denied:
        _child(DENIALS, agency, str(decision.code)).inc()
    for provider in set(state.unavailable.values()):
        _child(UNAVAILABLE, provider).inc()


def render() -> bytes:
    return generate_latest()
