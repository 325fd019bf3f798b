from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["Recipient", "RequestContext", "parse_on_behalf_of"]


@dataclass(frozen=True)
class Recipient:
    """An agency, and the duty under which it will use what it receives."""

    agency: str
    duty: str

    def __str__(self) -> str:
        return f"{self.agency}:{self.duty}"


@dataclass(frozen=True)
class RequestContext:
    """Who asks, under which duty, and for whom (the on-behalf-of chain, nearest first)."""

    agency: str
    duty: str | None
    granted_duties: frozenset[str]
    today: date
    on_behalf_of: tuple[Recipient, ...] = ()


def parse_on_behalf_of(header: str) -> tuple[Recipient, ...]:
    """`agency:duty[, agency:duty ...]`; raises ValueError naming the malformed entry."""
    recipients = []
    for entry in header.split(","):
        entry = entry.strip()
        agency, sep, duty = entry.partition(":")
        if not sep or not agency.strip() or not duty.strip():
            raise ValueError(f"X-On-Behalf-Of entry {entry!r} is not of the form <agency code>:<duty code>")
        recipients.append(Recipient(agency.strip(), duty.strip()))
    return tuple(recipients)
