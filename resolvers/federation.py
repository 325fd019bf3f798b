"""Fans a request out to the providers it touches, in parallel, one statement each."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from resolvers.mapping import StoreMapping, TableMapping
from resolvers.sql import DivisionGate, TableSelection, build_statement
from resolvers.stores import AgencyStores, ProviderUnavailable

__all__ = ["DivisionSource", "Fetched", "SubjectRecord", "fetch_subjects"]


@dataclass(frozen=True)
class DivisionSource:
    """Where the division of a record is read: a provider's column, or a slice of the key."""

    agency: str | None = None
    table: TableMapping | None = None
    column: str | None = None
    key_slice: tuple[int, int] | None = None


@dataclass(slots=True)
class SubjectRecord:
    key: str
    values: dict[str, Any] = field(default_factory=dict)
    found: bool = False


@dataclass
class Fetched:
    records: dict[str, SubjectRecord]
    out_of_division: set[str]
    unavailable: dict[str, ProviderUnavailable]
    row_counts: dict[str, int]

    @property
    def providers(self) -> list[str]:
        return sorted(self.row_counts.keys() | self.unavailable.keys())


def _group(mappings: Mapping[str, StoreMapping], paths: Iterable[str]) -> dict[str, list[TableSelection]]:
    by_table: dict[tuple[str, str], list[str]] = defaultdict(list)
    tables: dict[tuple[str, str], TableMapping] = {}
    for path in sorted(paths):
        for mapping in mappings.values():
            table = mapping.table_for(path)
            if table is not None:
                by_table[(mapping.agency, table.table)].append(path)
                tables[(mapping.agency, table.table)] = table
                break
    grouped: dict[str, list[TableSelection]] = defaultdict(list)
    for (agency, name), selected in sorted(by_table.items()):
        grouped[agency].append(TableSelection(tables[(agency, name)], tuple(selected)))
    return grouped


def _absorb(record: SubjectRecord, selections: Sequence[TableSelection], row: Any, first: int) -> int:
    """Takes one result row (its tables from column `first` on) into the record; returns how
    many agency rows it carried."""
    rows = 0
    values = record.values
    for index, selection in enumerate(selections):
        value = row[first + index]
        table = selection.table
        if value is None:
            if table.many:
                values[table.container or ""] = []
            continue
        record.found = True
        if table.many:
            values[table.container or ""] = [dict(zip(selection.paths, v, strict=True)) for v in value]
            rows += len(value)
        else:
            values.update(zip(selection.paths, value, strict=True))
            rows += 1
            if table.container:
                values[table.container] = True
    return rows


async def fetch_subjects(
    stores: AgencyStores,
    mappings: Mapping[str, StoreMapping],
    keys: Sequence[str],
    paths: Iterable[str],
    divisions: frozenset[str] = frozenset(),
    division_source: DivisionSource | None = None,
) -> Fetched:
    """Fetch the allowed `paths` for `keys`; with `divisions`, rows outside them are never read."""
    unique = list(dict.fromkeys(keys))
    records = {k: SubjectRecord(k) for k in unique}
    grouped = _group(mappings, paths)
    result = Fetched(records, set(), {}, {})

    async def run(agency: str, selections: list[TableSelection], subject_keys: list[str], gate: DivisionGate | None) -> list[Any]:
        statement = build_statement(subject_keys, selections, gate)
        rows = await stores.fetch(agency, statement.sql, statement.args)
        first = 2 if statement.gated else 1  # key, [in_division], t0, t1, ...
        result.row_counts[agency] = sum(_absorb(records[row[0]], selections, row, first) for row in rows)
        return rows

    remaining = unique
    if divisions:
        source = division_source or DivisionSource()
        ordered = tuple(sorted(divisions))
        if source.key_slice is not None:
            start, end = source.key_slice
            # the same predicate is pushed into every provider statement below
            gate_for_all = DivisionGate(ordered, key_slice=source.key_slice)
            result.out_of_division = {k for k in unique if any(k[start:end] != d for d in ordered)}
            remaining = [k for k in unique if k not in result.out_of_division]
            await _parallel(result, grouped, remaining, run, gate_for_all)
            return result
        if source.agency is None or source.table is None or source.column is None:
            result.out_of_division = set(unique)
            return result
        gate = DivisionGate(ordered, table=source.table, column=source.column)
        gate_selections = grouped.pop(source.agency, [])
        try:
            rows = await run(source.agency, gate_selections, unique, gate)
        except ProviderUnavailable as exc:
            result.unavailable[source.agency] = exc
            for agency in grouped:
                result.unavailable[agency] = ProviderUnavailable(agency, f"not queried: the division of the records could not be established ({exc.reason})")
            result.out_of_division = set()
            return result
        remaining = []
        for row in rows:
            if row["in_division"]:
                remaining.append(row["key"])
                records[row["key"]].found = True
        # a subject the division's provider holds no in-division record of is answered the
        # same way whether it is on record elsewhere or nowhere: a district agency must not
        # learn from the answer that a person outside its division exists (R-21a)
        result.out_of_division = set(unique).difference(remaining)
    await _parallel(result, grouped, remaining, run, None)
    return result


async def _parallel(result: Fetched, grouped: Mapping[str, list[TableSelection]], keys: list[str], run: Any, gate: DivisionGate | None) -> None:
    if not keys or not grouped:
        return
    agencies = list(grouped)
    outcomes = await asyncio.gather(*(run(a, grouped[a], keys, gate) for a in agencies), return_exceptions=True)
    for agency, outcome in zip(agencies, outcomes, strict=True):
        if isinstance(outcome, ProviderUnavailable):
            result.unavailable[agency] = outcome
        elif isinstance(outcome, BaseException):
            raise outcome
