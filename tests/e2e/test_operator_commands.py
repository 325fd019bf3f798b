"""The operator's commands against a production configuration (`--config`), and the database
selection they share with `govshare demo`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from gateway.cli import _named_database, main
from tests.e2e.test_serve_command import production  # noqa: F401 - the fixture

# the selection must come from the command line alone, whatever the environment running the tests holds
CLEAN = {"GOVSHARE_CONTROL_DATABASE": None, "GOVSHARE_STORE_DATABASE_PREFIX": None}


async def cli(*args: str) -> Any:
    return await asyncio.to_thread(CliRunner(env=CLEAN).invoke, main, list(args))


@pytest.mark.parametrize(
    ("url", "database"),
    [
        ("postgresql://gw@db:5432/share_control", "share_control"),
        ("postgresql://gw@db/share%20control", "share control"),
        # the server alone, as `govshare demo --database-url` is given: the control database is govshare
        ("postgresql://postgres@db:5432/postgres", None),
        ("postgresql://gw@db:5432", None),
        ("postgresql://gw@db/", None),
        (None, None),
    ],
)
def test_the_database_a_url_names(url: str | None, database: str | None) -> None:
    assert _named_database(url) == database


async def test_monitor_audit_and_report_read_a_production_configuration(production: Path) -> None:  # noqa: F811
    config = str(production)
    monitored = await cli("monitor", "--format", "json", "--config", config)
    assert monitored.exception is None or isinstance(monitored.exception, SystemExit), repr(monitored.exception)
    kinds = {(f["kind"], f["agency"]) for f in json.loads(monitored.output)}
    # the stores are the file's store_urls, not <prefix><agency> on the control database's server
    assert not any(kind == "PROVIDER_UNAVAILABLE" for kind, _ in kinds), kinds
    assert ("HIDDEN_CATALOG_INFORMATION", "gz-rsj") in kinds and ("LATE_UPDATE", "gz-swj") in kinds

    verified = await cli("audit", "verify", "--config", config)
    assert verified.exit_code == 0 and "ledger intact" in verified.output, verified.output
    report = await cli("report", "usage", "--year", "2026", "--format", "csv", "--config", config)
    assert report.exit_code == 0 and report.output.startswith("year,agency,"), report.output

    both = await cli("audit", "verify", "--config", config, "--database-url", "postgresql://gw@db/share")
    assert both.exit_code == 2 and "--config names the databases; leave out --database-url" in both.output


async def test_the_database_named_in_database_url_is_the_control_database(production: Path) -> None:  # noqa: F811
    control = yaml.safe_load(production.read_text(encoding="utf-8"))["database_url"]
    verified = await cli("audit", "verify", "--database-url", control)
    assert verified.exit_code == 0 and "ledger intact: 0 events" in verified.output, verified.output
    report = await cli("report", "usage", "--year", "2026", "--format", "csv", "--database-url", control)
    assert report.exit_code == 0 and report.output.startswith("year,agency,"), report.output
    # --control-database, when given, still names it
    elsewhere = await cli("audit", "verify", "--database-url", control, "--control-database", control.rpartition("/")[2] + "_gone")
    assert elsewhere.exit_code == 1 and "_gone\" does not exist" in elsewhere.output, elsewhere.output


async def test_seal_rotation_names_an_unknown_agency(production: Path) -> None:  # noqa: F811
    unknown = await cli("keys", "rotate-seal", "nope", "--config", str(production))
    assert unknown.exit_code == 2 and "'nope' is not a registered agency; known: gz-gab" in unknown.output, unknown.output
    not_sealing = await cli("keys", "rotate-seal", "gz-rsj", "--config", str(production))
    assert not_sealing.exit_code == 2 and "gz-rsj has no seal key: only providers of licenses and documents seal (gz-" in not_sealing.output
    # the production control database has not been served yet: no gateway has made the key
    unborn = await cli("keys", "rotate-seal", "gz-scjgj", "--config", str(production))
    assert unborn.exit_code == 2 and "gz-scjgj has no seal key yet: a gateway makes one when it first starts" in unborn.output


def test_verify_says_which_key_sets_it_reads(tmp_path: Path) -> None:
    runner = CliRunner()
    assert "a JWKS file, or an https:// URL; plain http:// is refused" in " ".join(runner.invoke(main, ["verify", "--help"]).output.split())
    seals = tmp_path / "seals.txt"
    seals.write_text("a.b.c\n", encoding="utf-8")
    refused = runner.invoke(main, ["verify", str(seals), "--jwks", "http://127.0.0.1:1/.well-known/jwks.json"])
    assert refused.exit_code == 2 and "over https, or from a file" in refused.output
