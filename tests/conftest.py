from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.database import DatabaseServer, local_server_reachable, start_embedded
from gateway.provision import DemoDatabases, provision_demo
from gateway.runtime import Runtime
from gateway.settings import Settings


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseServer]:
    """GOVSHARE_DATABASE_URL, else a server on 127.0.0.1:5432, else an embedded one."""
    url = os.environ.get("GOVSHARE_DATABASE_URL")
    if url:
        yield DatabaseServer(url)
    elif os.environ.get("GOVSHARE_TEST_EMBEDDED") != "1" and local_server_reachable():
        yield DatabaseServer("postgresql://postgres@127.0.0.1:5432/postgres")
    else:
        # outside pytest's temporary tree, whose permissions pytest tightens: the embedded
        # server runs as an unprivileged user that must keep reaching its data directory
        root = Path(tempfile.mkdtemp(prefix="govshare-test-pg-"))
        server = start_embedded(root)
        yield server
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def run_prefix() -> str:
    return f"gst_{secrets.token_hex(4)}_"


@pytest.fixture(scope="session")
def demo_settings(run_prefix: str) -> Settings:
    return Settings(
        demo=True,
        control_database=f"{run_prefix}control",
        store_database_prefix=run_prefix,
        provider_timeout=3.0,
        store_pool_size=4,
    )


@pytest.fixture(scope="session")
async def demo_databases(pg_server: DatabaseServer, demo_settings: Settings, run_prefix: str) -> AsyncIterator[DemoDatabases]:
    databases = await provision_demo(pg_server, demo_settings)
    yield databases
    for name in await pg_server.databases_with_prefix(run_prefix):
        await pg_server.drop_database(name)


@pytest.fixture(scope="session")
async def runtime_app(demo_settings: Settings, demo_databases: DemoDatabases) -> AsyncIterator[Any]:
    app = create_app(lambda: Runtime.start(demo_settings, demo_databases.control_dsn, demo_databases.store_dsns))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def client(runtime_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=runtime_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


@pytest.fixture(scope="session")
def runtime(runtime_app: Any) -> Runtime:
    return runtime_app.state.runtime  # type: ignore[no-any-return]


class Agent:
    """An agency's client: obtains a token and sends GraphQL requests."""

    def __init__(self, http: httpx.AsyncClient, agency: str) -> None:
        self.http = http
        self.agency = agency
        self.tokens: dict[str, str] = {}

    async def token(self, scope: str | None = None) -> str:
        key = scope or ""
        if key not in self.tokens:
            basic = base64.b64encode(f"{self.agency}:demo-{self.agency}".encode()).decode()
            data = {"grant_type": "client_credentials"}
            if scope:
                data["scope"] = scope
            response = await self.http.post("/oauth/token", data=data, headers={"Authorization": f"Basic {basic}"})
            assert response.status_code == 200, response.text
            self.tokens[key] = response.json()["access_token"]
        return self.tokens[key]

    async def query(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        duty: str | None = None,
        scope: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {await self.token(scope)}"}
        if duty:
            all_headers["X-Duty"] = duty
        all_headers.update(headers or {})
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers)


@pytest.fixture(scope="session")
def agent(client: httpx.AsyncClient) -> Any:
    cache: dict[str, Agent] = {}

    def make(agency: str) -> Agent:
        if agency not in cache:
            cache[agency] = Agent(client, agency)
        return cache[agency]

    return make


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def error_at(body: dict[str, Any], *path: Any) -> dict[str, Any]:
    for error in body.get("errors", []):
        if tuple(error.get("path") or ()) == path:
            return error  # type: ignore[no-any-return]
    raise AssertionError(f"no error at {path}: {body.get('errors')}")


__all__ = ["Agent", "codes", "error_at", "replace"]
