"""Creates and seeds the demo world's databases on a server; reuses them when present."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import asyncpg

from gateway.auth.registry import demo_secret, register_client
from gateway.catalog_files import load_bundle, catalog_files
from gateway.database import DatabaseServer
from gateway.migrate import migrate
from gateway.runtime import store_database_name
from gateway.settings import DEMO_CATALOG_DIR, Settings

__all__ = ["DemoDatabases", "provision_demo", "demo_store_sql"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoDatabases:
    control_dsn: str
    store_dsns: dict[str, str]
    created: list[str]


def demo_store_sql() -> dict[str, str]:
    folder = resources.files("gateway").joinpath("demo").joinpath("stores")
    return {entry.name.removesuffix(".sql"): entry.read_text(encoding="utf-8") for entry in folder.iterdir() if entry.name.endswith(".sql")}


async def _seeded(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public')"))
    finally:
        await conn.close()


async def provision_demo(server: DatabaseServer, settings: Settings, progress: Progress = lambda _: None) -> DemoDatabases:
    created = []
    store_dsns = {}
    for agency, sql in sorted(demo_store_sql().items()):
        name = store_database_name(settings, agency)
        store_dsns[agency] = server.dsn(name)
        if await server.database_exists(name):
            if await _seeded(server.dsn(name)):
                progress(f"store of {agency}: reusing database {name}")
                continue
            # a start stopped while the store was being loaded (the load is one transaction)
            progress(f"store of {agency}: loading the empty database {name}")
        else:
            progress(f"store of {agency}: creating database {name}")
            await server.create_database(name)
        conn = await asyncpg.connect(server.dsn(name))
        try:
            async with conn.transaction():
                await conn.execute(sql)
        except BaseException:
            await conn.close()
            await server.drop_database(name)
            raise
        await conn.close()
        created.append(name)
    control = settings.control_database
    if not await server.database_exists(control):
        progress(f"control database: creating {control}")
        await server.create_database(control)
        created.append(control)
    conn = await asyncpg.connect(server.dsn(control))
    try:
        await migrate(conn)
        bundle = load_bundle(catalog_files(DEMO_CATALOG_DIR))
        for agency in bundle.catalog.agencies.values():
            if await register_client(conn, agency.code, agency.code, demo_secret(agency.code), sorted(agency.duties)):
                progress(f"demo client {agency.code} registered")
    finally:
        await conn.close()
    return DemoDatabases(server.dsn(control), store_dsns, created)
