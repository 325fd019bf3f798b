"""Versioned SQL migrations of the control database, applied at start-up."""

from __future__ import annotations

from importlib import resources

import asyncpg

__all__ = ["migrate", "migrations"]


def migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("gateway").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply what is missing, each file in its own transaction; returns the names applied."""
    applied = []
    # one gateway at a time migrates; others wait here. The lock comes first: CREATE TABLE IF NOT
    # EXISTS run by several processes at once on a new database fails in all but one of them.
    await conn.execute("SELECT pg_advisory_lock(724101)")
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(724101)")
    return applied
