"""The compliance monitor (R-17, R-32, R-34): findings with agency, article, object and evidence."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from authz.freshness import is_late, next_update_due
from authz.model import ShareClass
from gateway.catalog_files import CatalogBundle
from resolvers.mapping import StoreMapping
from resolvers.stores import AgencyStores, ProviderUnavailable, newest_update

__all__ = ["Finding", "hidden_information", "late_updates", "unreachable_providers"]


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    agency: str
    article: str
    object: str
    evidence: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def hidden_information(mapping: StoreMapping, introspected: Mapping[str, set[str]]) -> list[Finding]:
    """Tables and columns an agency holds that its mapping neither publishes nor excludes (R-34(6))."""
    findings = []
    mapped: dict[str, set[str]] = {}
    for table in mapping.tables:
        mapped.setdefault(table.table, set()).update(table.referenced_columns())
    for table, columns in sorted(introspected.items()):
        if table in mapping.withheld or table in mapping.excluded_tables:
            continue
        if table not in mapped:
            findings.append(
                Finding(
                    "HIDDEN_CATALOG_INFORMATION", "violation", mapping.agency, "R-34(6)", f"table {table}",
                    f"{mapping.agency}'s database holds table {table} ({len(columns)} columns) that appears in neither its data-store mapping nor its exclusions",
                )
            )
            continue
        for column in sorted(columns - mapped[table]):
            if (table, column) not in mapping.excluded_columns:
                findings.append(
                    Finding(
                        "HIDDEN_CATALOG_INFORMATION", "violation", mapping.agency, "R-34(6)", f"column {table}.{column}",
                        f"column {table}.{column} is in {mapping.agency}'s database but neither mapped nor excluded",
                    )
                )
    return findings


def broken_mapping(mapping: StoreMapping, introspected: Mapping[str, set[str]]) -> list[Finding]:
    """Mapped tables and columns that the agency's database does not have (any more): the items
    they back cannot be provided (R-16a, R-32). A store down at start-up is checked only here."""
    findings = []
    for table in mapping.tables:
        present = introspected.get(table.table)
        missing = sorted(table.referenced_columns()) if present is None else sorted(table.referenced_columns() - present)
        for column in missing:
            findings.append(
                Finding(
                    "BROKEN_MAPPING", "violation", mapping.agency, "R-16a", f"column {table.table}.{column}",
                    f"{mapping.agency}'s data-store mapping reads {table.table}.{column}, which its database does not have"
                    f"{' (no such table)' if present is None else ''}; the fields it backs cannot be served",
                )
            )
    return findings


def _moment(value: dt.date | dt.datetime, zone: dt.tzinfo | None) -> dt.datetime:
    """A 'last updated' value as a moment in `zone`: a date is the end of that day there (updated
    some time that day), a timestamp without a time zone is read in that zone, as the agency keeps it."""
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time.max, tzinfo=zone)
    if value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value.astimezone(zone)


async def late_updates(bundle: CatalogBundle, stores: AgencyStores, now: dt.datetime) -> list[Finding]:
    """Items whose provider's newest update is older than the item's update cycle allows (R-17, R-34(5))."""
    findings = []
    for item in bundle.catalog.items.values():
        if item.share_class is ShareClass.NONE or item.cycle is None or not item.fields:
            continue
        mapping = bundle.mappings.get(item.provider)
        if mapping is None:
            continue
        tables = {t.table: t for t in (mapping.table_for(p) for p in item.fields) if t is not None and t.updated_at}
        newest = None
        for table in tables.values():
            try:
                value = await newest_update(stores, item.provider, table.table, table.updated_at or "")
            except ProviderUnavailable:
                continue
            if value is not None and (newest is None or value > newest):
                newest = value
        if newest is None:
            continue
        # deadlines are days of the Chinese calendar, not of UTC
        newest = _moment(newest, now.tzinfo)
        if is_late(item.cycle, newest, now):
            due = next_update_due(item.cycle, newest)
            findings.append(
                Finding(
                    "LATE_UPDATE", "violation", item.provider, "R-17", f"item {item.code} ({', '.join(sorted(tables))})",
                    f"newest update {newest.astimezone(now.tzinfo).isoformat(timespec='minutes')}; cycle {item.cycle} required the next by "
                    f"{due.astimezone(now.tzinfo).isoformat(timespec='minutes')}",
                )
            )
    return findings


async def unreachable_providers(agencies: Iterable[str], stores: AgencyStores) -> list[Finding]:
    findings = []
    for agency in sorted(agencies):
        if not await stores.ping(agency):
            findings.append(Finding("PROVIDER_UNAVAILABLE", "violation", agency, "R-32", f"data store of {agency}", "the store did not answer the monitor"))
    return findings
