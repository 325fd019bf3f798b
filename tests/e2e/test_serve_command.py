"""`govshare serve --config` and `govshare clients add`, as an operator runs them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml
from click.testing import CliRunner

from gateway.cli import main
from gateway.settings import DEMO_CATALOG_DIR
from tests.e2e.test_demo_command import free_port, wait_ready


async def test_serve_with_a_configuration_and_a_registered_client(tmp_path: Path, pg_server: Any, demo_settings: Any, demo_databases: Any) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": demo_databases.control_dsn,
                "catalog_dir": str(DEMO_CATALOG_DIR),
                "store_urls": demo_databases.store_dsns,
                "issuer": "https://share.example.gov.cn",
                "audience": "urn:govshare:api",
            }
        ),
        encoding="utf-8",
    )
    added = await asyncio.to_thread(CliRunner().invoke, main, ["clients", "add", "gz-swj", "--client-id", "gz-swj-tax-system", "--config", str(config)])
    assert added.exit_code == 0, added.output
    secret = next(line.split(": ", 1)[1] for line in added.output.splitlines() if line.startswith("client_secret: "))
    again = await asyncio.to_thread(CliRunner().invoke, main, ["clients", "add", "gz-swj", "--client-id", "gz-swj-tax-system", "--config", str(config)])
    assert again.exit_code == 1 and "already exists" in again.output

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}/readyz", process)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            refused = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-swj-tax-system", "wrong"))
            assert refused.status_code == 401
            token = (await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-swj-tax-system", secret))).json()["access_token"]
            body = (
                await http.post(
                    "/graphql",
                    json={"query": '{ legalEntity(uscc: "91440106MA59C8K17D") { legalRepresentativeIdNumber } }'},
                    headers={"Authorization": f"Bearer {token}", "X-Duty": "sw.collection"},
                )
            ).json()
            assert body["data"] == {"legalEntity": {"legalRepresentativeIdNumber": "440106199001011235"}}
            # production serves no demo secrets unless registered (the demo's control database has them)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, None, 30)
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_serve_in_several_processes(tmp_path: Path, demo_databases: Any) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump({"database_url": demo_databases.control_dsn, "catalog_dir": str(DEMO_CATALOG_DIR), "store_urls": demo_databases.store_dsns}),
        encoding="utf-8",
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}/readyz", process)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            token = (await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-gab", "demo-gz-gab"))).json()["access_token"]
            answers = await asyncio.gather(
                *(
                    http.post("/graphql", json={"query": '{ person(idNumber: "440106199001011235") { name } }'}, headers={"Authorization": f"Bearer {token}", "X-Duty": "gab.household"})
                    for _ in range(20)
                )
            )
        assert all(a.json()["data"] == {"person": {"name": "张伟"}} for a in answers)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, None, 30)
    assert process.returncode == 0, stderr.decode()[-2000:]


def test_serve_refuses_an_incomplete_configuration(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("database_url: postgresql://x@127.0.0.1:1/none\nstore_urls: {gz-gab: postgresql://x@127.0.0.1:1/none}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "store_urls lacks the data store of gz-mzj" in result.output
