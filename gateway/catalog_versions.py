"""Catalog versions and changes (R-9): every change is a new version with who, when and why."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from authz.changes import ChangeError, ChangeKind, apply_change, needs_approval
from gateway.catalog_files import CatalogBundle, CatalogError, bundle_from_documents

if TYPE_CHECKING:
    from gateway.runtime import Runtime

__all__ = ["CatalogChange", "approve_change", "current_bundle", "published_bundle", "list_changes", "propose_change", "reject_change", "versions"]


@dataclass(frozen=True)
class CatalogChange:
    id: int
    kind: str
    item: str
    duty: str | None
    reason: str
    requested_by: str
    requested_at: datetime
    status: str
    approval_reference: str | None
    approved_by: str | None
    approved_at: datetime | None
    version: int | None


def _change(row: asyncpg.Record) -> CatalogChange:
    return CatalogChange(**{k: row[k] for k in CatalogChange.__dataclass_fields__})


async def current_bundle(conn: asyncpg.Connection, files: CatalogBundle) -> CatalogBundle:
    """The newest version built on the current catalog files; a new version when the files changed."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE catalog_versions IN EXCLUSIVE MODE")
        latest = await conn.fetchrow("SELECT version, base_digest, document FROM catalog_versions ORDER BY version DESC LIMIT 1")
        if latest is not None and latest["base_digest"] == files.digest:
            if latest["document"] is not None:
                return bundle_from_documents(json.loads(latest["document"])).with_version(latest["version"])
        version = (latest["version"] + 1) if latest else 1
        await _insert_version(conn, version, files, files.digest, "gateway start-up", "catalog files loaded" if latest is None else "catalog files changed")
        await conn.execute("SELECT pg_notify('govshare_catalog', $1)", str(version))  # delivered at commit, to running gateways
        return files.with_version(version)


async def published_bundle(conn: asyncpg.Connection, files: CatalogBundle) -> CatalogBundle:
    """Like `current_bundle` but read-only: the files themselves when they are newer than every version."""
    latest = await conn.fetchrow("SELECT version, base_digest, document FROM catalog_versions ORDER BY version DESC LIMIT 1")
    if latest is not None and latest["base_digest"] == files.digest and latest["document"] is not None:
        return bundle_from_documents(json.loads(latest["document"])).with_version(latest["version"])
    return files


async def _insert_version(conn: asyncpg.Connection, version: int, bundle: CatalogBundle, base_digest: str, author: str, reason: str) -> None:
    await conn.execute(
        "INSERT INTO catalog_versions (version, digest, base_digest, document, author, reason) VALUES ($1, $2, $3, $4::jsonb, $5, $6)",
        version,
        bundle.digest,
        base_digest,
        json.dumps(bundle.document, ensure_ascii=False, default=str),
        author,
        reason,
    )


def _with_item(document: dict[str, Any], bundle: CatalogBundle, item_code: str, kind: ChangeKind, duty: str | None) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    for content in changed.values():
        items = content.get("items") or []
        for index, raw in enumerate(items):
            if raw.get("code") == item_code:
                items[index] = apply_change(bundle.catalog.items[item_code], raw, kind, duty)
                return changed
    raise ChangeError(f"item {item_code} is not in the catalog")


async def _publish(conn: asyncpg.Connection, item: str, kind: ChangeKind, duty: str | None, author: str, reason: str) -> CatalogBundle:
    """Stores the newest version with the change applied; the caller installs it once its transaction commits.

    The change applies to the newest stored version, read under the lock that orders all
    versions (another gateway may have published one this one has not heard of yet)."""
    await conn.execute("LOCK TABLE catalog_versions IN EXCLUSIVE MODE")
    latest = await conn.fetchrow("SELECT version, base_digest, document FROM catalog_versions ORDER BY version DESC LIMIT 1")
    if latest is None or latest["document"] is None:
        raise ChangeError("no catalog version is stored yet to change")
    base = bundle_from_documents(json.loads(latest["document"]))
    document = _with_item(dict(base.document), base, item, kind, duty)
    try:
        changed = bundle_from_documents(document)
    except CatalogError as exc:
        raise ChangeError(f"the changed catalog would not be valid: {exc}") from None
    version = int(latest["version"]) + 1
    await _insert_version(conn, version, changed, latest["base_digest"], author, f"{kind} {item}{' ' + duty if duty else ''}: {reason}")
    await conn.execute("SELECT pg_notify('govshare_catalog', $1)", str(version))
    return changed.with_version(version)


async def propose_change(runtime: Runtime, *, item: str, kind: ChangeKind, duty: str | None, reason: str, actor: str) -> CatalogChange:
    bundle = runtime.bundle
    if item not in bundle.catalog.items:
        raise ChangeError(f"item {item} is not in the catalog")
    if duty is not None and not any(a.holds(duty) for a in bundle.catalog.agencies.values()):
        raise ChangeError(f"duty {duty} is held by no registered agency")
    if kind is ChangeKind.MAKE_PUBLIC:
        origins = sorted({b.origin for b in bundle.catalog.bindings.values() if b.item == item and b.origin})
        if origins:
            raise ChangeError(
                f"item {item} holds copies of {', '.join(origins)} obtained through sharing; it is not passed on without "
                "the provider's consent (R-25), so it cannot be made public: that is the origin item's provider's decision"
            )
    # validated now, so that an approval cannot fail later for a reason known today
    _with_item(dict(bundle.document), bundle, item, kind, duty)
    published = None
    async with runtime.control.acquire() as conn, conn.transaction():
        if needs_approval(kind):
            pending = await conn.fetchval(
                "SELECT id FROM catalog_changes WHERE status = 'awaiting-approval' AND kind = $1 AND item = $2 AND duty IS NOT DISTINCT FROM $3",
                str(kind), item, duty,
            )
            if pending is not None:
                raise ChangeError(f"catalog change {pending} already proposes this change and awaits approval")
            row = await conn.fetchrow(
                "INSERT INTO catalog_changes (kind, item, duty, reason, requested_by, status) VALUES ($1, $2, $3, $4, $5, 'awaiting-approval') RETURNING *",
                str(kind), item, duty, reason, actor,
            )
        else:
            published = await _publish(conn, item, kind, duty, actor, reason)
            row = await conn.fetchrow(
                "INSERT INTO catalog_changes (kind, item, duty, reason, requested_by, status, version) VALUES ($1, $2, $3, $4, $5, 'published', $6) RETURNING *",
                str(kind), item, duty, reason, actor, published.catalog.version,
            )
    if published is not None:
        runtime.install(published)  # only once it is stored: never a version that was not
    return _change(row)


def _reference(reference: str) -> str:
    if not reference.strip():
        raise ChangeError("name the government decision (its reference) that approves or rejects the change (R-9)")
    if "\x00" in reference:
        raise ChangeError("the decision reference must not contain NUL characters")
    return reference.strip()


async def approve_change(runtime: Runtime, change_id: int, *, reference: str, actor: str) -> CatalogChange:
    reference = _reference(reference)
    async with runtime.control.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT * FROM catalog_changes WHERE id = $1 FOR UPDATE", change_id)
        if row is None:
            raise LookupError(f"no catalog change {change_id}")
        if row["status"] != "awaiting-approval":
            raise ChangeError(f"catalog change {change_id} is {row['status']}, not awaiting approval")
        published = await _publish(conn, row["item"], ChangeKind(row["kind"]), row["duty"], actor, f"{row['reason']} (approved: {reference})")
        updated = await conn.fetchrow(
            "UPDATE catalog_changes SET status = 'published', approval_reference = $2, approved_by = $3, approved_at = now(), version = $4 WHERE id = $1 RETURNING *",
            change_id, reference, actor, published.catalog.version,
        )
    runtime.install(published)
    return _change(updated)


async def reject_change(runtime: Runtime, change_id: int, *, reference: str, actor: str) -> CatalogChange:
    reference = _reference(reference)
    row = await runtime.control.fetchrow(
        "UPDATE catalog_changes SET status = 'rejected', approval_reference = $2, approved_by = $3, approved_at = now()"
        " WHERE id = $1 AND status = 'awaiting-approval' RETURNING *",
        change_id, reference, actor,
    )
    if row is None:
        raise ChangeError(f"catalog change {change_id} does not exist or is not awaiting approval")
    return _change(row)


async def list_changes(pool: asyncpg.Pool, status: str | None = None) -> list[CatalogChange]:
    rows = await pool.fetch("SELECT * FROM catalog_changes WHERE $1::text IS NULL OR status = $1 ORDER BY id", status)
    return [_change(r) for r in rows]


async def versions(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT version, digest, author, reason, created_at FROM catalog_versions ORDER BY version")
