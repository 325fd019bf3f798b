"""`govshare demo` as a new user runs it: embedded PostgreSQL, serve, stop on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"govshare demo exited early with {process.returncode}")
        try:
            response = httpx.get(url, timeout=1)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("govshare demo did not become ready")


@pytest.mark.e2e
def test_demo_serves_on_embedded_postgres_and_stops_cleanly() -> None:
    port = free_port()
    # not under pytest's temporary tree (see the pg_server fixture)
    root = Path(tempfile.mkdtemp(prefix="govshare-demo-test-"))
    data_dir = root / "data"
    env = {k: v for k, v in os.environ.items() if k != "GOVSHARE_DATABASE_URL"}
    command = [sys.executable, "-m", "gateway.cli", "demo", "--port", str(port), "--data-dir", str(data_dir)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        assert all(ready.json()["checks"].values())
        token = httpx.post(
            f"http://127.0.0.1:{port}/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-gab", "demo-gz-gab")
        ).json()["access_token"]
        answer = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": '{ person(idNumber: "440106199001011235") { name } }'},
            headers={"Authorization": f"Bearer {token}", "X-Duty": "gab.household"},
        ).json()
        assert answer["data"] == {"person": {"name": "张伟"}}
        assert (data_dir / "pgdata" / "postmaster.pid").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()[-2000:]
    output = stderr.decode()
    assert "GraphiQL" in output and "demo-gz-mzj" in output and "curl" in output
    assert '"event": "graphql"' in output and '"agency": "gz-gab"' in output
    assert "440106199001011235" not in output.split("Press Ctrl+C to stop.")[1], "identifiers must not reach the log"
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), "the embedded server must stop with the demo"

    # a second start reuses the databases
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", process)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "created database" not in stderr.decode()
    shutil.rmtree(root, ignore_errors=True)


async def test_a_store_left_empty_by_an_interrupted_start_is_loaded_on_the_next(pg_server: Any, demo_settings: Any, run_prefix: str) -> None:
    import dataclasses
    import secrets

    import asyncpg

    from gateway.provision import provision_demo
    from gateway.runtime import store_database_name

    settings = dataclasses.replace(
        demo_settings, store_database_prefix=f"{run_prefix}again_{secrets.token_hex(2)}_", control_database=f"{run_prefix}again_control_{secrets.token_hex(2)}"
    )
    empty = store_database_name(settings, "gz-mzj")
    await pg_server.create_database(empty)  # what a start stopped during the store's load leaves
    try:
        databases = await provision_demo(pg_server, settings)
        conn = await asyncpg.connect(databases.store_dsns["gz-mzj"])
        try:
            assert await conn.fetchval("SELECT count(*) FROM marriage_registration") > 0
        finally:
            await conn.close()
    finally:
        for name in [*await pg_server.databases_with_prefix(settings.store_database_prefix), settings.control_database]:
            if await pg_server.database_exists(name):
                await pg_server.drop_database(name)
