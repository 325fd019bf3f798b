"""The `govshare` command line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from gateway.asgi import CONFIG_ENV, configure_logging
from gateway.settings import ConfigError, Settings, url_problem

if TYPE_CHECKING:
    from gateway.catalog_files import CatalogBundle
    from gateway.runtime import Runtime

__all__ = ["main"]

console = Console(stderr=True)


class _Commands(click.Group):
    """Errors a person can act on end a command with one line and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        import asyncpg

        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        except asyncpg.InterfaceError as exc:  # ClientConfigurationError (a bad URL) among them
            raise click.ClickException(f"the database selection cannot be used: {exc}") from None
        except BrokenPipeError:
            raise
        except (OSError, asyncpg.PostgresError) as exc:
            raise click.ClickException(f"the database or a file could not be reached: {exc}") from None
        except UnicodeDecodeError as exc:
            raise click.ClickException(f"a file given is not UTF-8 text (byte {exc.start})") from None


@click.group(cls=_Commands)
@click.version_option(package_name="govshare")
def main() -> None:
    """govshare: lawful, duty-scoped information sharing between government agencies."""


database_url_option = click.option(
    "--database-url",
    envvar="GOVSHARE_DATABASE_URL",
    help="PostgreSQL server URL (env GOVSHARE_DATABASE_URL); without it an embedded server runs in --data-dir.",
)
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".govshare"),
    envvar="GOVSHARE_DATA_DIR",
    show_default=True,
    help="Where the embedded PostgreSQL keeps its data (env GOVSHARE_DATA_DIR).",
)


control_database_option = click.option(
    "--control-database",
    envvar="GOVSHARE_CONTROL_DATABASE",
    default=None,
    help="Name of the gateway's control database on the server (env GOVSHARE_CONTROL_DATABASE);"
    " default: the database --database-url names, else govshare.",
)
config_option = click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    help="A production settings file (as for `govshare serve`): its database_url and store_urls; default: the demo selection.",
)


def state_selection(command: Any) -> Any:
    """The database selection every state-reading command shares with `govshare demo`, or a production file."""
    command = control_database_option(command)
    command = database_url_option(command)
    command = data_dir_option(command)
    return config_option(command)


def _named_database(database_url: str | None) -> str | None:
    """The database `database_url` names, if any; `postgres`, the server's maintenance database,
    names only the server (the demo's usual `--database-url`), whose control database is `govshare`."""
    if not database_url or url_problem(database_url):
        return None  # building the settings names the problem
    name = unquote(urlsplit(database_url).path.lstrip("/"))
    return name if name and name != "postgres" else None


def _bundle(settings: Settings) -> CatalogBundle:
    from gateway.catalog_files import CatalogError, catalog_files, load_bundle

    try:
        return load_bundle(catalog_files(settings.catalog_dir))
    except CatalogError as exc:
        raise click.ClickException(f"the catalog is not valid:\n{exc}") from None


def _configured(config_file: Path) -> tuple[str, dict[str, str], Settings]:
    """(control DSN, agency store DSNs, settings) of a production settings file."""
    ctx = click.get_current_context()
    given = [f"--{n.replace('_', '-')}" for n in ("data_dir", "database_url", "control_database") if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE]
    if given:
        raise click.UsageError(f"--config names the databases; leave out {', '.join(given)}")
    settings = Settings.from_file(config_file, os.environ)
    if not settings.database_url:
        raise click.UsageError(f"{config_file}: database_url (the control database) is required")
    bundle = _bundle(settings)
    missing = sorted(set(bundle.mappings) - set(settings.store_urls))
    if missing:
        raise click.UsageError(f"{config_file}: store_urls lacks the data store of {', '.join(missing)}")
    return settings.database_url, {a: settings.store_urls[a] for a in bundle.mappings}, settings


@contextlib.contextmanager
def _selected(
    data_dir: Path, database_url: str | None, control_database: str | None, config_file: Path | None = None
) -> Iterator[tuple[str, dict[str, str], Settings]]:
    """(control DSN, agency store DSNs, settings) of a production file or of the selected server; an embedded one stops afterwards."""
    from gateway.database import select_server
    from gateway.runtime import store_database_name

    if config_file is not None:
        yield _configured(config_file)
        return
    control_database = control_database or _named_database(database_url)
    settings = Settings.from_environ(os.environ, data_dir=data_dir, database_url=database_url, control_database=control_database)
    if not database_url and not (data_dir / "pgdata").exists():
        raise click.UsageError(f"no gateway state in {data_dir}: run `govshare demo --data-dir {data_dir}` first, or pass --database-url or --config")
    server = select_server(database_url, data_dir)
    try:
        bundle = _bundle(settings)
        stores = {a: server.dsn(store_database_name(settings, a)) for a in bundle.mappings}
        yield server.dsn(settings.control_database), stores, settings
    finally:
        server.stop()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@data_dir_option
@database_url_option
@control_database_option
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
def demo(host: str, port: int, data_dir: Path, database_url: str | None, control_database: str | None, log_level: str) -> None:
    """Create (or reuse) the demo world's databases and serve the gateway over them."""
    import uvicorn

    from gateway.app import create_app
    from gateway.database import select_server
    from gateway.provision import provision_demo
    from gateway.runtime import Runtime

    configure_logging(log_level)
    # the same selection as the commands that read state afterwards
    control_database = control_database or _named_database(database_url)
    settings = Settings.from_environ(os.environ, demo=True, data_dir=data_dir, database_url=database_url, control_database=control_database)
    with console.status("starting PostgreSQL" if not database_url else "connecting to PostgreSQL"):
        server = select_server(database_url, data_dir)
    try:
        # from here on, SIGINT/SIGTERM (during provisioning too) end in the `finally` below,
        # which stops the embedded PostgreSQL
        _exit_cleanly_on_signals()
        with console.status("preparing the demo databases") as status:
            databases = asyncio.run(provision_demo(server, settings, lambda m: status.update(m)))
        for name in databases.created:
            console.print(f"  created database [bold]{name}[/]")
        app = create_app(lambda: Runtime.start(settings, databases.control_dsn, databases.store_dsns), settings.cors_origins)
        _print_welcome(host, port)
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")).run()
    finally:
        server.stop()
        console.print("govshare demo stopped")


def _exit_cleanly_on_signals() -> None:
    # uvicorn shuts down gracefully, then re-raises the signal it caught; turning it into an
    # exit lets the embedded PostgreSQL be stopped on the way out
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _print_welcome(host: str, port: int) -> None:
    from gateway.catalog_files import demo_files, load_bundle

    base = f"http://{host}:{port}"
    bundle = load_bundle(demo_files())
    table = Table(title="demo clients (client_id / client_secret / duties)")
    table.add_column("client_id")
    table.add_column("client_secret")
    table.add_column("duties")
    for agency in bundle.catalog.agencies.values():
        table.add_row(agency.code, f"demo-{agency.code}", " ".join(agency.duties))
    console.print(table)
    console.print(f"GraphiQL: [bold]{base}/graphql[/]   JWKS: {base}/.well-known/jwks.json   ready: {base}/readyz")
    console.print("Try it:")
    console.print(
        f"  TOKEN=$(curl -s -u gz-zfcxjsj:demo-gz-zfcxjsj -d grant_type=client_credentials {base}/oauth/token"
        " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
        f"  curl -s {base}/graphql -H \"Authorization: Bearer $TOKEN\" -H 'X-Duty: zj.housing-security'"
        " -H 'Content-Type: application/json'"
        " -d '{\"query\": \"{ person(idNumber: \\\"440106199001011235\\\") { name maritalStatus socialInsurance { status } } }\"}'",
        soft_wrap=True,
        highlight=False,
    )
    console.print("Press Ctrl+C to stop.")


@main.command()
@click.option("--config", "config_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="YAML settings file.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Gateway processes; they share the ledger's chain and hear each other's catalog, consent and key changes.")
def serve(config_file: Path, host: str, port: int, workers: int) -> None:
    """Serve the gateway with a production configuration (control database and agency store URLs)."""
    import uvicorn

    from gateway.app import create_app

    try:
        control, _, settings = _configured(config_file)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging(settings.log_level)
    # the gateway is started before uvicorn takes over (in uvicorn's event loop): what stops it
    # (a database that does not exist, clients on the demo's secrets) ends the command in one
    # line, not in uvicorn's "Application startup failed" traceback
    if workers > 1:
        # each worker process builds its own app from the same configuration file, once this
        # process has seen that it starts
        async def check() -> None:
            await (await _started(settings, control)).close()

        asyncio.run(check())
        os.environ[CONFIG_ENV] = str(config_file.resolve())
        uvicorn.run("gateway.asgi:app_from_environment", factory=True, host=host, port=port, workers=workers, log_level="warning", proxy_headers=True)
        return
    started: list[Runtime] = []

    class Server(uvicorn.Server):
        async def serve(self, sockets: Any = None) -> None:
            started.append(await _started(settings, control))
            await super().serve(sockets)

    async def runtime() -> Runtime:
        return started.pop()

    app = create_app(runtime, settings.cors_origins)
    _exit_cleanly_on_signals()
    Server(uvicorn.Config(app, host=host, port=port, log_level="warning", proxy_headers=True)).run()


async def _started(settings: Settings, control: str) -> Runtime:
    """The gateway's runtime, started; what stops it from starting becomes a one-line error."""
    import asyncpg
    import httpx

    from gateway.catalog_files import CatalogError
    from gateway.runtime import Runtime

    try:
        return await Runtime.start(settings, control, settings.store_urls)
    except CatalogError as exc:
        raise click.ClickException(f"the catalog does not fit the data stores:\n{exc}") from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise click.ClickException(f"database_url (the control database) cannot be used: {exc}") from None
    except httpx.HTTPError as exc:
        raise click.ClickException(f"trusted_jwks cannot be read: {exc}") from None
    except ValueError as exc:  # Runtime.start's refusals: clients on the demo's secrets, incomplete trusted_* settings
        raise click.ClickException(str(exc)) from None


@main.group()
def catalog() -> None:
    """Work with the sharing catalog files."""


@catalog.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def catalog_validate(files: tuple[Path, ...]) -> None:
    """Check catalog, agency and mapping FILES (or directories of them) without starting anything."""
    from gateway.catalog_files import CatalogError, catalog_files, load_bundle

    paths: list[Path] = []
    for f in files:
        paths.extend(catalog_files(f) if f.is_dir() else [f])
    try:
        bundle = load_bundle(paths)
    except CatalogError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(1) from None
    c = bundle.catalog
    click.echo(f"ok: {len(c.agencies)} agencies, {len(c.items)} items, {len(c.bindings)} fields, {len(bundle.mappings)} data-store mappings")


@main.group()
def schema() -> None:
    """The unified GraphQL schema."""


@schema.command("print")
@click.option("--catalog-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, help="Catalog directory (default: the demo catalog).")
def schema_print(catalog_dir: Path | None) -> None:
    """Write the SDL generated from the catalog to standard output."""
    from gateway.catalog_files import CatalogError, catalog_files, demo_files, load_bundle
    from schema.build import build_schema

    try:
        bundle = load_bundle(catalog_files(catalog_dir) if catalog_dir else demo_files())
    except CatalogError as exc:
        raise click.ClickException(f"the catalog is not valid:\n{exc}") from None
    click.echo(build_schema(bundle).as_str())


# the operator's commands (audit, monitor, report, verify, clients, keys) join the group
from gateway import operator_cli  # noqa: E402, F401

if __name__ == "__main__":
    from gateway.cli import main as entry  # the module as imported, with every command

    entry()
