"""Root resolution: decide, fetch once per provider, and hand views of the subjects to the fields."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from authz.codes import Code
from authz.policy import Decision, decide_duty, division_holders, record_divisions
from resolvers.federation import DivisionSource, fetch_subjects
from resolvers.stores import ProviderUnavailable
from schema.context import RequestState
from schema.errors import coded_error, denial_error
from schema.selection import leaf_paths
from schema.spec import EntitySpec

__all__ = ["Access", "Record", "load_subjects"]


class Access:
    """What one request may see of an entity's records: shared by every record it returns."""

    __slots__ = ("entity", "denied", "unavailable", "blocked", "containers", "_paths")

    def __init__(self, entity: EntitySpec, denied: Mapping[str, Decision], unavailable: Mapping[str, ProviderUnavailable], requested: Sequence[str]) -> None:
        self.entity = entity
        self.denied = denied
        self.unavailable = unavailable
        self.blocked = frozenset(denied) | frozenset(unavailable)
        self._paths: dict[tuple[str, str], str] = {}
        # per object: (path, is a list, every requested field blocked, any blocked, the first blocked)
        self.containers: dict[str, tuple[str, bool, bool, bool, str | None]] = {}
        for name, spec in entity.objects.items():
            path = f"{entity.name}.{name}"
            under = [p for p in requested if p.startswith(path + ".")]
            blocked = [p for p in under if p in self.blocked]
            self.containers[name] = (path, spec.list, bool(under) and len(blocked) == len(under), bool(blocked), blocked[0] if blocked else None)

    def path(self, prefix: str, name: str) -> str:
        key = (prefix, name)
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = f"{prefix}.{name}"
        return path

    def error(self, path: str) -> GraphQLError:
        decision = self.denied.get(path)
        if decision is not None:
            return denial_error(decision)
        return unavailable_error(self.unavailable[path])


class Record:
    """A record (or an object nested in it) whose attributes are its published fields.

    The schema's fields are plain attributes (no resolver per field); a denied or
    unavailable field raises its error when read, so it is null with a code.
    """

    __slots__ = ("_access", "_key", "_prefix", "_values")

    def __init__(self, access: Access, key: str, prefix: str, values: Mapping[str, Any]) -> None:
        self._access = access
        self._key = key
        self._prefix = prefix
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            # protocol probes (graphql-core asks for __await__) are not fields
            raise AttributeError(name)
        return self.field(name)

    def field(self, name: str) -> Any:
        access = self._access
        if self._prefix == access.entity.name:
            if name == access.entity.key_field:
                return self._key
            container = access.containers.get(name)
            if container is not None:
                return self._container(container)
        path = access.path(self._prefix, name)
        if path in access.blocked:
            raise access.error(path)
        return self._values.get(path)

    def _container(self, container: tuple[str, bool, bool, bool, str | None]) -> Any:
        path, many, all_blocked, any_blocked, first_blocked = container
        if many:
            if all_blocked and first_blocked is not None:
                raise self._access.error(first_blocked)
            return [Record(self._access, self._key, path, {**self._values, **element}) for element in self._values.get(path) or []]
        if any_blocked or self._values.get(path):
            return Record(self._access, self._key, path, self._values)
        return None


def unavailable_error(exc: ProviderUnavailable) -> GraphQLError:
    return coded_error(
        Code.PROVIDER_UNAVAILABLE,
        f"provider {exc.agency} did not answer: {exc.reason}; its fields are null, the rest of the answer is served",
        provider=exc.agency,
    )


def _division_source(state: RequestState, entity: EntitySpec) -> DivisionSource:
    bundle = state.services.bundle
    rule = bundle.catalog.divisions.get(entity.name)
    if rule is None:
        return DivisionSource()
    if rule.key_slice is not None:
        return DivisionSource(key_slice=rule.key_slice)
    binding = bundle.catalog.bindings.get(rule.field or "")
    if binding is None:
        return DivisionSource()
    provider = bundle.catalog.items[binding.item].provider
    table = bundle.mappings[provider].table_for(binding.path)
    if table is None:
        return DivisionSource()
    return DivisionSource(agency=provider, table=table, column=table.columns[binding.path])


async def division_refusal(state: RequestState, entity: EntitySpec, key: str) -> GraphQLError | None:
    """OUT_OF_DIVISION when the request's divisions apply and subject `key` is not on record
    in them (the same rule and message as a read), PROVIDER_UNAVAILABLE when that cannot be
    established; None when no division applies or the subject lies within."""
    catalog = state.services.bundle.catalog
    divisions = record_divisions(catalog, state.policy)
    if not divisions:
        return None
    fetched = await fetch_subjects(state.services.stores, state.services.bundle.mappings, [key], (), divisions, _division_source(state, entity))
    for exc in fetched.unavailable.values():
        return coded_error(
            Code.PROVIDER_UNAVAILABLE, f"provider {exc.agency} did not answer ({exc.reason}), so the subject's division cannot be established; retry later",
            provider=exc.agency,
        )
    if key in fetched.out_of_division:
        return _out_of_division(state, entity, key)
    return None


def _out_of_division(state: RequestState, entity: EntitySpec, key: str) -> GraphQLError:
    holders = division_holders(state.services.bundle.catalog, state.policy)
    return coded_error(
        Code.OUT_OF_DIVISION,
        f"{entity.name} {key} is not on record in division "
        f"{', '.join(f'{division} of {agency}' for agency, division in holders)}; "
        "district agencies receive only records of their own division (R-21a)",
        article="R-21a",
    )


def _seal_records(state: RequestState, sealed: Mapping[str, str], containers: set[str], key: str, values: dict[str, Any], requested: list[str]) -> None:
    catalog = state.services.bundle.catalog
    now = dt.datetime.now(dt.timezone.utc)
    capture = state.snapshot_requested or state.case_id is not None
    for container in sorted(containers):
        item = catalog.items[sealed[container]]
        raw = values.get(container)
        rows: list[dict[str, Any]] = raw if isinstance(raw, list) else ([values] if raw else [])
        for row in rows:
            fields = {p.rsplit(".", 1)[1]: row.get(p) for p in item.fields}
            token = state.services.evidence.seal(item.code, item.provider, key, fields, now)
            row[f"{container}.seal"] = token
            if capture:
                served = sorted(p.rsplit(".", 1)[1] for p in requested if p.startswith(container + ".") and not p.endswith(".seal"))
                state.evidence.append({"item": item.code, "provider": item.provider, "subject": key, "fields": fields, "served": served, "seal": token})


async def load_subjects(
    info: GraphQLResolveInfo, entity: EntitySpec, keys: Sequence[str], sealed: Mapping[str, str] | None = None
) -> list[Record | GraphQLError | None]:
    state: RequestState = info.context
    sealed = sealed or {}
    catalog = state.services.bundle.catalog
    refusal = decide_duty(catalog, state.policy)
    if refusal is not None:
        state.denied.append(refusal)
        raise denial_error(refusal)
    requested: list[str] = []
    for node in info.field_nodes:
        requested.extend(p for p in leaf_paths(entity, node.selection_set, info.fragments, info.variable_values) if p not in requested)
    seal_paths = [p for p in requested if p.endswith(".seal") and p[: -len(".seal")] in sealed]
    data_paths = [p for p in requested if p not in seal_paths]
    capture = state.snapshot_requested or state.case_id is not None
    sealing = {p[: -len(".seal")] for p in seal_paths}
    if capture:
        sealing |= {c for c in sealed if any(p.startswith(c + ".") for p in data_paths)}
    fetch = list(data_paths)
    for container in sorted(sealing):
        fetch.extend(p for p in catalog.items[sealed[container]].fields if p not in fetch)
    decisions = dict(state.services.decide(state.policy, tuple(fetch)))
    for path in seal_paths:
        container = path[: -len(".seal")]
        blocking = [decisions[p] for p in catalog.items[sealed[container]].fields if not decisions[p].allowed]
        decisions[path] = blocking[0] if blocking else decisions[catalog.items[sealed[container]].fields[0]]
    state.fields_requested.update(data_paths)
    allowed = [p for p in fetch if decisions[p].allowed]
    denied = {p: d for p, d in decisions.items() if not d.allowed and (p in requested)}
    state.denied.extend(denied.values())
    sealing = {c for c in sealing if all(decisions[p].allowed for p in catalog.items[sealed[c]].fields)}
    divisions = record_divisions(catalog, state.policy)
    fetched = await fetch_subjects(
        state.services.stores,
        state.services.bundle.mappings,
        keys,
        allowed,
        divisions,
        _division_source(state, entity) if divisions else None,
    )
    state.providers.update(fetched.providers)
    state.rows += sum(fetched.row_counts.values())
    provider_of = {p: decisions[p].provider for p in [*allowed, *seal_paths] if decisions[p].allowed}
    unavailable = {p: fetched.unavailable[a] for p, a in provider_of.items() if a in fetched.unavailable}
    state.unavailable.update({p: e.agency for p, e in unavailable.items()})
    sealing = {c for c in sealing if catalog.items[sealed[c]].provider not in fetched.unavailable}
    served_any = False
    access = Access(entity, denied, unavailable, requested)
    views: list[Record | GraphQLError | None] = []
    for key in keys:
        if key in fetched.out_of_division:
            views.append(_out_of_division(state, entity, key))
            continue
        record = fetched.records[key]
        if allowed and not record.found and not unavailable:
            views.append(None)
            continue
        state.subjects.add(key)
        served_any = served_any or record.found
        if sealing and record.found:
            _seal_records(state, sealed, sealing, key, record.values, requested)
        views.append(Record(access, key, entity.name, record.values))
    if served_any:
        for path in data_paths:
            if path in provider_of and path not in unavailable:
                state.record_served(decisions[path])
        # a seal (and a snapshot) carries every field of its item, asked for or not: the ledger
        # records them all as served, as the requester can read them all from the seal
        for container in sorted(sealing):
            for path in catalog.items[sealed[container]].fields:
                state.record_served(decisions[path])
    return views
