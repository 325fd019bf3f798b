"""The operator's commands: the ledger, compliance, reports, seals, clients and keys."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from gateway.cli import _bundle, _selected, console, main, state_selection
from gateway.settings import Settings

__all__: list[str] = []


@main.group()
def audit() -> None:
    """The tamper-evident disclosure ledger."""


@audit.command("verify")
@state_selection
def audit_verify(config_file: Path | None, data_dir: Path, database_url: str | None, control_database: str | None) -> None:
    """Check the whole hash chain and every signed checkpoint; exit 1 naming the first broken event."""
    import asyncpg

    from gateway.ledger import jws_verifier, verify_ledger

    from gateway.compliance import signing_public_keys

    async def run(dsn: str) -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await verify_ledger(conn, jws_verifier(await signing_public_keys(conn)))
        finally:
            await conn.close()

    with _selected(data_dir, database_url, control_database, config_file) as (control, _, _settings):
        try:
            report = asyncio.run(run(control))
        except (OSError, asyncpg.PostgresError) as exc:
            raise click.ClickException(f"cannot read the ledger: {exc}") from None
    click.echo(report.describe())
    if not report.ok:
        raise SystemExit(1)


@main.command()
@state_selection
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def monitor(config_file: Path | None, data_dir: Path, database_url: str | None, control_database: str | None, output: str) -> None:
    """Report violations of the regulation (R-17, R-32, R-34); exit 1 when there are findings."""
    from gateway.compliance import run_monitor

    with _selected(data_dir, database_url, control_database, config_file) as (control, stores, settings):
        findings = asyncio.run(run_monitor(settings, control, stores))
    if output == "json":
        click.echo(json.dumps([f.as_dict() for f in findings], ensure_ascii=False, indent=2))
    else:
        table = Table(title=f"{len(findings)} finding(s)")
        for column in ("kind", "severity", "agency", "article", "object", "evidence"):
            table.add_column(column, overflow="fold")
        for f in findings:
            table.add_row(f.kind, f.severity, f.agency, f.article, f.object, f.evidence)
        Console().print(table)
    if findings:
        raise SystemExit(1)


@main.group()
def report() -> None:
    """Reports for the operator (R-30, R-31)."""


@report.command("usage")
@state_selection
@click.option("--year", type=click.IntRange(2000, 9998), required=True, help="Calendar year (China time).")
@click.option("--agency", default=None, help="One agency's report; default: all agencies, ranked.")
@click.option("--format", "output_format", type=click.Choice(["md", "csv", "html"]), default="md", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to a file instead of standard output.")
def report_usage(config_file: Path | None, data_dir: Path, database_url: str | None, control_database: str | None, year: int, agency: str | None, output_format: str, output: Path | None) -> None:
    """Each agency's annual use of shared information: per item, provider and duty."""
    import asyncpg

    from gateway.report import collect_usage, render_csv, render_html, render_markdown

    async def run(dsn: str, names: dict[str, str]) -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await collect_usage(conn, year, agency, names)
        finally:
            await conn.close()

    with _selected(data_dir, database_url, control_database, config_file) as (control, _, settings):
        names = {a.code: a.name for a in _bundle(settings).catalog.agencies.values()}
        if agency is not None and agency not in names:
            raise click.UsageError(f"--agency {agency!r} is not a registered agency; known: {', '.join(sorted(names))}")
        usage = asyncio.run(run(control, names))
    text = {"md": render_markdown, "csv": render_csv, "html": render_html}[output_format](usage)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--jwks", "jwks_source", required=True,
    help="The providers' public keys (the gateway's /.well-known/jwks.json): a JWKS file, or an https:// URL; plain http:// is refused.",
)
def verify(file: Path, jwks_source: str) -> None:
    """Verify the electronic seals in FILE offline (one seal per line, or any JSON holding seals)."""
    import httpx

    from gateway.auth.tokens import load_jwks
    from gateway.seals import SealKeyring, verify_seal

    try:
        document = load_jwks(jwks_source)
    except (OSError, ValueError, httpx.HTTPError) as exc:
        raise click.UsageError(f"--jwks: {str(exc) or type(exc).__name__}") from None
    try:
        keyring = SealKeyring.from_public_jwks({"keys": [k for k in document["keys"] if k.get("alg") == "EdDSA"]})
    except ValueError as exc:
        raise click.UsageError(f"--jwks: {jwks_source}: {exc}") from None
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.UsageError(f"{file} is not UTF-8 text (byte {exc.start}); give the file the seals were saved in") from None
    seals = _seals_in(text)
    if not seals:
        raise click.UsageError(f"{file} holds no seal (a compact JWS of type govshare-seal+jws)")
    failures = 0
    for token in seals:
        result = verify_seal(keyring, token)
        if result.valid:
            click.echo(f"valid: item {result.item} of {result.provider} for {result.subject}, signed {result.signed_at.isoformat() if result.signed_at else '?'}")
        else:
            failures += 1
            click.echo(f"INVALID: {result.reason}")
    if failures:
        raise SystemExit(1)


def _seals_in(text: str) -> list[str]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return [line.strip() for line in text.splitlines() if line.strip().count(".") == 2]
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "seal" and isinstance(inner, str):
                    found.append(inner)
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(document)
    return found


@main.group()
def clients() -> None:
    """OAuth2 clients of the agencies."""


def _with_registry(config_file: Path | None, data_dir: Path, database_url: str | None, control_database: str | None, change: Any) -> Any:
    """Runs `change(conn, settings)` on the control database of the production settings or of the demo selection."""
    import asyncpg

    from gateway.migrate import migrate

    async def run(dsn: str, settings: Settings) -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
            return await change(conn, settings)
        finally:
            await conn.close()

    with _selected(data_dir, database_url, control_database, config_file) as (control, _, settings):
        return asyncio.run(run(control, settings))


_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _client_id(value: str | None) -> str | None:
    """A client id travels in HTTP Basic credentials (no ':'), tokens and logs: plain ASCII."""
    if value is not None and not _CLIENT_ID.fullmatch(value):
        raise click.BadParameter("a client id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


@clients.command("add")
@click.argument("agency")
@state_selection
@click.option("--client-id", default=None, callback=lambda _c, _p, v: _client_id(v), help="Default: the agency code. Letters, digits, '.', '_' and '-', at most 64.")
def clients_add(agency: str, config_file: Path | None, data_dir: Path, database_url: str | None, control_database: str | None, client_id: str | None) -> None:
    """Register a client for AGENCY with every duty it holds; prints the secret once (only its hash is kept)."""
    from gateway.auth.registry import register_client
    from gateway.auth.secrets import new_secret
    from gateway.catalog_files import catalog_files, load_bundle

    secret = new_secret()

    async def register(conn: Any, settings: Settings) -> bool:
        registry = load_bundle(catalog_files(settings.catalog_dir)).catalog.agencies
        if agency not in registry:
            raise click.UsageError(f"{agency!r} is not a registered agency; known: {', '.join(sorted(registry))}")
        return await register_client(conn, client_id or agency, agency, secret, sorted(registry[agency].duties))

    if not _with_registry(config_file, data_dir, database_url, control_database, register):
        raise click.ClickException(f"client {client_id or agency} already exists")
    _print_secret(client_id or agency, secret, "Running gateways accept it at once.")


@clients.command("rotate")
@click.argument("client_id")
@state_selection
def clients_rotate(client_id: str, config_file: Path | None, data_dir: Path, database_url: str | None, control_database: str | None) -> None:
    """Give CLIENT_ID a new secret; prints it once. The old one stops working at once."""
    from gateway.auth.registry import rotate_client_secret
    from gateway.auth.secrets import new_secret

    secret = new_secret()
    if not _with_registry(config_file, data_dir, database_url, control_database, lambda conn, _: rotate_client_secret(conn, client_id, secret)):
        raise click.ClickException(f"there is no enabled client {client_id}")
    _print_secret(client_id, secret, "Tokens issued before stay valid until they expire.")


@clients.command("disable")
@click.argument("client_id")
@state_selection
def clients_disable(client_id: str, config_file: Path | None, data_dir: Path, database_url: str | None, control_database: str | None) -> None:
    """Disable CLIENT_ID: it gets no more tokens (those issued stay valid until they expire); `clients enable` undoes it."""
    from gateway.auth.registry import disable_client

    if not _with_registry(config_file, data_dir, database_url, control_database, lambda conn, _: disable_client(conn, client_id)):
        raise click.ClickException(f"there is no enabled client {client_id}")
    click.echo(f"client {client_id} disabled")


@clients.command("enable")
@click.argument("client_id")
@state_selection
def clients_enable(client_id: str, config_file: Path | None, data_dir: Path, database_url: str | None, control_database: str | None) -> None:
    """Enable the disabled CLIENT_ID again with a new secret, printed once; the secret it had stays refused."""
    from gateway.auth.registry import enable_client
    from gateway.auth.secrets import new_secret

    # a client is often disabled because its secret leaked: it never comes back with that one
    secret = new_secret()
    if not _with_registry(config_file, data_dir, database_url, control_database, lambda conn, _: enable_client(conn, client_id, secret)):
        raise click.ClickException(f"there is no disabled client {client_id}")
    _print_secret(client_id, secret, "Running gateways accept it at once.")


@main.group()
def keys() -> None:
    """Signing keys of the gateway and the providers' seals."""


@keys.command("rotate-seal")
@click.argument("agency")
@state_selection
def keys_rotate_seal(agency: str, config_file: Path | None, data_dir: Path, database_url: str | None, control_database: str | None) -> None:
    """Give AGENCY a new seal key; older keys stay published, so older seals keep verifying."""
    import asyncpg

    from authz.model import ItemKind
    from gateway.evidence import rotate_seal_key

    async def run(dsn: str) -> str:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            return await rotate_seal_key(pool, agency)
        except KeyError:
            raise click.UsageError(f"{agency} has no seal key yet: a gateway makes one when it first starts") from None
        finally:
            await pool.close()

    with _selected(data_dir, database_url, control_database, config_file) as (control, _, settings):
        catalog = _bundle(settings).catalog
        if agency not in catalog.agencies:
            raise click.UsageError(f"{agency!r} is not a registered agency; known: {', '.join(sorted(catalog.agencies))}")
        sealing = sorted({i.provider for i in catalog.items.values() if i.kind in (ItemKind.LICENSE, ItemKind.DOCUMENT)})
        if agency not in sealing:
            raise click.UsageError(f"{agency} has no seal key: only providers of licenses and documents seal ({', '.join(sealing)})")
        kid = asyncio.run(run(control))
    click.echo(f"new seal key {kid}; running gateways sign with it from now on")


def _print_secret(client_id: str, secret: str, then: str) -> None:
    """A client's new secret, shown once: the registry keeps only its hash."""
    click.echo(f"client_id: {client_id}")
    click.echo(f"client_secret: {secret}")
    console.print(f"Store the secret now: the gateway keeps only its hash. {then}")
