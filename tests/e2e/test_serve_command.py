"""`govshare serve --config` and `govshare clients add`, as an operator runs them."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from gateway.catalog_files import catalog_files, load_bundle
from gateway.cli import main
from gateway.provision import provision_demo
from gateway.settings import DEMO_CATALOG_DIR
from tests.e2e.test_demo_command import free_port, wait_ready


@pytest.fixture()
async def production(pg_server: Any, demo_settings: Any, demo_databases: Any, run_prefix: str, tmp_path: Path) -> Path:
    """A production configuration over the demo's stores and a control database of its own,
    which starts as the demo leaves it: with the demo clients and their public secrets."""
    settings = dataclasses.replace(demo_settings, control_database=f"{run_prefix}control_production_{secrets.token_hex(2)}")
    databases = await provision_demo(pg_server, settings)
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": databases.control_dsn,
                "catalog_dir": str(DEMO_CATALOG_DIR),
                "store_urls": databases.store_dsns,
                "issuer": "https://share.example.gov.cn",
                "audience": "urn:govshare:api",
            }
        ),
        encoding="utf-8",
    )
    return config


async def cli(*args: str) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


def printed_secret(output: str) -> str:
    return next(line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("client_secret: "))


async def retire_demo_secrets(config: Path) -> dict[str, str]:
    """Gives every demo client a new secret, as an operator must before serving; the new secrets by client."""
    fresh = {}
    for agency in sorted(load_bundle(catalog_files(DEMO_CATALOG_DIR)).catalog.agencies):
        rotated = await cli("clients", "rotate", agency, "--config", str(config))
        assert rotated.exit_code == 0, rotated.output
        fresh[agency] = printed_secret(rotated.output)
    return fresh


def serve(config: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def refused(config: Path, *extra: str) -> str:
    """What `govshare serve` says when it refuses to start: one line, exit status 1, no traceback."""
    process = serve(config, free_port(), *extra)
    _, stderr = await asyncio.to_thread(process.communicate, None, 60)
    message = stderr.decode()
    assert process.returncode == 1, message[-2000:]
    assert "Traceback" not in message and "Application startup failed" not in message, message[-2000:]
    assert message.startswith("Error: "), message
    return message


async def test_serve_refuses_clients_that_still_have_the_demo_secrets(production: Path) -> None:
    for extra in ((), ("--workers", "2")):
        message = await refused(production, *extra)
        assert "still have the public demo secret" in message and "gz-gab" in message and "govshare clients rotate" in message
    disabled = await cli("clients", "disable", "gz-gab", "--config", str(production))
    assert disabled.exit_code == 0 and "client gz-gab disabled" in disabled.output
    again = await cli("clients", "disable", "gz-gab", "--config", str(production))
    assert again.exit_code == 1 and "no enabled client gz-gab" in again.output
    assert (await cli("clients", "rotate", "gz-nobody", "--config", str(production))).exit_code == 1


async def test_a_disabled_client_is_enabled_again_with_a_new_secret(production: Path) -> None:
    import asyncpg

    from gateway.auth.secrets import verify_secret

    assert (await cli("clients", "disable", "gz-rsj", "--config", str(production))).exit_code == 0
    enabled = await cli("clients", "enable", "gz-rsj", "--config", str(production))
    assert enabled.exit_code == 0, enabled.output
    secret = printed_secret(enabled.output)
    control = yaml.safe_load(production.read_text(encoding="utf-8"))["database_url"]
    conn = await asyncpg.connect(control)
    try:
        row = await conn.fetchrow("SELECT secret_hash, disabled_at FROM clients WHERE client_id = 'gz-rsj'")
    finally:
        await conn.close()
    assert row["disabled_at"] is None
    assert verify_secret(secret, row["secret_hash"]) and not verify_secret("demo-gz-rsj", row["secret_hash"])
    again = await cli("clients", "enable", "gz-rsj", "--config", str(production))
    assert again.exit_code == 1 and "there is no disabled client gz-rsj" in again.output
    assert (await cli("clients", "enable", "gz-nobody", "--config", str(production))).exit_code == 1


async def test_serve_says_in_one_line_what_stops_the_start(production: Path) -> None:
    settings = yaml.safe_load(production.read_text(encoding="utf-8"))
    await retire_demo_secrets(production)
    missing = production.with_name("missing.yaml")
    missing.write_text(yaml.safe_dump({**settings, "database_url": settings["database_url"] + "_gone"}), encoding="utf-8")
    message = await refused(missing)
    assert "database_url (the control database) cannot be used" in message and "does not exist" in message
    unusable = production.with_name("unusable.yaml")
    unusable.write_text(yaml.safe_dump({**settings, "database_url": settings["database_url"] + "?sslmode=sometimes"}), encoding="utf-8")
    assert "`sslmode` parameter must be one of" in await refused(unusable)


async def test_serve_with_a_configuration_and_a_registered_client(production: Path) -> None:
    config = production
    added = await cli("clients", "add", "gz-swj", "--client-id", "gz-swj-tax-system", "--config", str(config))
    assert added.exit_code == 0, added.output
    secret = printed_secret(added.output)
    again = await cli("clients", "add", "gz-swj", "--client-id", "gz-swj-tax-system", "--config", str(config))
    assert again.exit_code == 1 and "already exists" in again.output
    fresh = await retire_demo_secrets(config)

    port = free_port()
    process = serve(config, port)
    try:
        await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}/readyz", process)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            refused = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-swj-tax-system", "wrong"))
            assert refused.status_code == 401
            demo = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-swj", "demo-gz-swj"))
            assert demo.status_code == 401  # the public demo secret no longer opens anything
            assert (await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-swj", fresh["gz-swj"]))).status_code == 200
            token = (await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-swj-tax-system", secret))).json()["access_token"]
            body = (
                await http.post(
                    "/graphql",
                    json={"query": '{ legalEntity(uscc: "91440106MA59C8K17D") { legalRepresentativeIdNumber } }'},
                    headers={"Authorization": f"Bearer {token}", "X-Duty": "sw.collection"},
                )
            ).json()
            assert body["data"] == {"legalEntity": {"legalRepresentativeIdNumber": "440106199001011235"}}
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, None, 30)
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_serve_in_several_processes(production: Path) -> None:
    fresh = await retire_demo_secrets(production)
    port = free_port()
    process = serve(production, port, "--workers", "2")
    try:
        await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}/readyz", process)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            token = (await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("gz-gab", fresh["gz-gab"]))).json()["access_token"]
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
