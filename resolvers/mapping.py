from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["StoreMapping", "TableMapping", "OrderBy"]


@dataclass(frozen=True)
class OrderBy:
    column: str
    descending: bool = False


@dataclass(frozen=True)
class TableMapping:
    """One table of an agency's store and the published fields its columns back."""

    agency: str
    table: str
    entity: str
    key: str
    updated_at: str | None
    columns: Mapping[str, str]
    origins: Mapping[str, str] = field(default_factory=dict)
    order_by: OrderBy | None = None
    container: str | None = None
    many: bool = False

    def referenced_columns(self) -> set[str]:
        cols = {self.key, *self.columns.values()}
        if self.updated_at:
            cols.add(self.updated_at)
        if self.order_by:
            cols.add(self.order_by.column)
        return cols


@dataclass(frozen=True)
class StoreMapping:
    """An agency's filed data-store mapping (R-7): what backs each published field."""

    agency: str
    tables: tuple[TableMapping, ...]
    withheld: Mapping[str, str] = field(default_factory=dict)
    excluded_tables: frozenset[str] = frozenset()
    excluded_columns: frozenset[tuple[str, str]] = frozenset()

    def table_for(self, path: str) -> TableMapping | None:
        for table in self.tables:
            if path in table.columns:
                return table
        return None
