from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["EntitySpec", "FieldSpec", "KEY_SCALARS", "LEAF_TYPES", "ObjectSpec", "RootSpec", "SchemaSpec"]

LEAF_TYPES = frozenset({"String", "Int", "Float", "Boolean", "Date", "DateTime", "Decimal", "ResidentIdNumber", "UnifiedSocialCreditCode", "OrganizationCode"})
KEY_SCALARS = frozenset({"ResidentIdNumber", "UnifiedSocialCreditCode", "OrganizationCode"})
"""What an entity may be keyed by: the legal identifiers, validated at the edge (R-16c)."""


@dataclass(frozen=True)
class FieldSpec:
    """A published leaf field and what GraphiQL says about it."""

    path: str
    type: str
    description: str
    item: str

    @property
    def entity(self) -> str:
        return self.path.split(".", 1)[0]

    @property
    def container(self) -> str | None:
        parts = self.path.split(".")
        return ".".join(parts[:2]) if len(parts) == 3 else None

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[1]


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    type: str
    list: bool
    description: str


@dataclass(frozen=True)
class RootSpec:
    one: str
    argument: str
    many: str | None = None
    many_argument: str | None = None
    max: int = 100


@dataclass(frozen=True)
class EntitySpec:
    name: str
    description: str
    key_field: str
    key_scalar: str
    root: RootSpec
    objects: Mapping[str, ObjectSpec]


@dataclass(frozen=True)
class SchemaSpec:
    entities: Mapping[str, EntitySpec]
    fields: Mapping[str, FieldSpec]
