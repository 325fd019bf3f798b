from __future__ import annotations

import contextlib
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

__all__ = ["DatabaseServer", "local_server_reachable", "quote_ident", "select_server", "start_embedded"]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@dataclass
class DatabaseServer:
    """A PostgreSQL server on which the gateway keeps its control database and the demo stores."""

    url: str
    embedded: Any = None

    def dsn(self, database: str) -> str:
        return with_database(self.url, database)

    @property
    def admin_dsn(self) -> str:
        return self.dsn("postgres")

    async def database_exists(self, name: str) -> bool:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    async def create_database(self, name: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
        finally:
            await conn.close()

    async def drop_database(self, name: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        finally:
            await conn.close()

    async def databases_with_prefix(self, prefix: str) -> list[str]:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            rows = await conn.fetch(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname", prefix
            )
            return [r["datname"] for r in rows]
        finally:
            await conn.close()

    def stop(self) -> None:
        if self.embedded is not None:
            with contextlib.suppress(Exception):
                self.embedded.cleanup()
            self.embedded = None


def local_server_reachable(host: str = "127.0.0.1", port: int = 5432, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def start_embedded(data_dir: Path) -> DatabaseServer:
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime directory at import; without XDG_RUNTIME_DIR
        # (a service account, a container) platformdirs warns and falls back to a private one
        warnings.filterwarnings("ignore", module="platformdirs")
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver  # imported lazily: it is only needed when no server is configured

    pgdata = data_dir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    return DatabaseServer(url=server.get_uri(), embedded=server)


def select_server(database_url: str | None, data_dir: Path) -> DatabaseServer:
    """`database_url` when given, else an embedded PostgreSQL kept in `data_dir`."""
    if database_url:
        return DatabaseServer(url=database_url)
    return start_embedded(data_dir)
