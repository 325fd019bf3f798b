"""Builds the one parameterised statement a provider gets per query level.

Identifiers come only from the validated mapping, never from the request; values are
always bind parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from resolvers.mapping import TableMapping

__all__ = ["DivisionGate", "ProviderStatement", "TableSelection", "build_statement", "quote"]


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class TableSelection:
    table: TableMapping
    paths: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.table.columns[p] for p in self.paths)


@dataclass(frozen=True)
class DivisionGate:
    """Records must belong to `divisions`: by a column of this provider's table, or a slice of the key."""

    divisions: tuple[str, ...]
    table: TableMapping | None = None
    column: str | None = None
    key_slice: tuple[int, int] | None = None


@dataclass(frozen=True)
class ProviderStatement:
    sql: str
    args: tuple[object, ...]
    selections: tuple[TableSelection, ...]
    gated: bool


def _division_join(gate: DivisionGate) -> tuple[str, str]:
    if gate.key_slice is not None:
        start, end = gate.key_slice
        expr = f"(substr(k.key, {int(start) + 1}, {int(end) - int(start)}) = ALL($2::text[]))"
        return expr, ""
    assert gate.table is not None and gate.column is not None
    t = gate.table
    join = (
        f" LEFT JOIN LATERAL (SELECT d.{quote(gate.column)} = ALL($2::text[]) AS in_division"
        f" FROM {quote(t.table)} d WHERE d.{quote(t.key)} = k.key LIMIT 1) g ON true"
    )
    return "g.in_division", join


def build_statement(keys: Sequence[str], selections: Sequence[TableSelection], gate: DivisionGate | None) -> ProviderStatement:
    args: list[object] = [list(keys)]
    outputs = ["k.key AS key"]
    join = ""
    condition = ""
    if gate is not None:
        args.append(list(gate.divisions))
        in_division, join = _division_join(gate)
        outputs.append(f"{in_division} AS in_division")
        condition = f" AND {in_division}"
    for index, selection in enumerate(selections):
        t = selection.table
        row = "ROW(" + ", ".join(f"t.{quote(c)}" for c in selection.columns) + ")"
        order = ""
        if t.order_by is not None:
            order = f" ORDER BY t.{quote(t.order_by.column)}{' DESC' if t.order_by.descending else ''}"
        where = f"t.{quote(t.key)} = k.key{condition}"
        if t.many:
            sub = f"(SELECT array_agg({row}{order}) FROM {quote(t.table)} t WHERE {where})"
        else:
            sub = f"(SELECT {row} FROM {quote(t.table)} t WHERE {where}{order} LIMIT 1)"
        outputs.append(f"{sub} AS t{index}")
    sql = f"SELECT {', '.join(outputs)} FROM unnest($1::text[]) AS k(key){join}"
    return ProviderStatement(sql=sql, args=tuple(args), selections=tuple(selections), gated=gate is not None)
