"""The usage report (R-30) in its three formats, and offline seal verification."""

from __future__ import annotations

import asyncio
import base64
import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from gateway.cli import main

ZHANG_WEI = "440106199001011235"


async def invoke(*args: str) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


def selection(pg_server: Any, demo_settings: Any) -> list[str]:
    return ["--database-url", pg_server.url, "--control-database", demo_settings.control_database]


async def test_usage_report_formats(agent: Any, pg_server: Any, demo_settings: Any, tmp_path: Path) -> None:
    for _ in range(2):
        await agent("gz-zfcxjsj").query(f'{{ person(idNumber: "{ZHANG_WEI}") {{ name maritalStatus }} }}', duty="zj.housing-security")
    await agent("gz-rsj").query(f'{{ person(idNumber: "{ZHANG_WEI}") {{ name maritalStatus }} }}', duty="rs.insurance")
    year = str(dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).year)
    base = ["report", "usage", "--year", year, *selection(pg_server, demo_settings)]

    as_csv = await invoke(*base, "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    housing = next(r for r in rows if (r["agency"], r["item"], r["duty"]) == ("gz-zfcxjsj", "P03", "zj.housing-security"))
    assert int(housing["requests"]) >= 2 and 1 <= int(housing["subjects"]) <= int(housing["requests"]) and housing["provider"] == "gz-mzj"
    insurance = next(r for r in rows if (r["agency"], r["item"], r["duty"]) == ("gz-rsj", "P03", "rs.insurance"))
    assert int(insurance["denials"]) >= 1

    markdown = await invoke(*base, "--format", "md", "--agency", "gz-rsj")
    assert markdown.exit_code == 0
    assert markdown.output.startswith(f"# Use of shared information {year}: gz-rsj 广州市人力资源和社会保障局")
    assert "| gz-rsj | P03 | gz-mzj | rs.insurance |" in markdown.output
    assert "gz-zfcxjsj" not in markdown.output

    page = tmp_path / "usage.html"
    as_html = await invoke(*base, "--format", "html", "--output", str(page))
    assert as_html.exit_code == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "<svg" in text and "广州市住房和城乡建设局" in text

    empty = await invoke("report", "usage", "--year", "2013", *selection(pg_server, demo_settings))
    assert "No shared information was requested" in empty.output
    unknown = await invoke(*base, "--agency", "gz-nobody")
    assert unknown.exit_code == 2 and "not a registered agency" in unknown.output


async def test_offline_seal_verification(agent: Any, client: Any, tmp_path: Path) -> None:
    body = (await agent("gz-gab").query('{ legalEntity(uscc: "91440106MA59C8K17D") { businessLicense { number seal } } }', duty="gab.household")).json()
    (tmp_path / "response.json").write_text(json.dumps(body), encoding="utf-8")
    (tmp_path / "jwks.json").write_text((await client.get("/.well-known/jwks.json")).text, encoding="utf-8")
    good = await invoke("verify", str(tmp_path / "response.json"), "--jwks", str(tmp_path / "jwks.json"))
    assert good.exit_code == 0, good.output
    assert good.output.startswith("valid: item E02 of gz-scjgj for 91440106MA59C8K17D")
    seal = body["data"]["legalEntity"]["businessLicense"]["seal"]
    head, payload, signature = seal.split(".")
    (tmp_path / "seals.txt").write_text(f"{head}.{payload}.{signature[::-1]}\n", encoding="utf-8")
    bad = await invoke("verify", str(tmp_path / "seals.txt"), "--jwks", str(tmp_path / "jwks.json"))
    assert bad.exit_code == 1 and "INVALID: bad signature" in bad.output


async def test_seal_key_rotation_keeps_old_seals_valid(agent: Any, runtime: Any, pg_server: Any, demo_settings: Any) -> None:
    query = '{ legalEntity(uscc: "91440103MA5D3N7W37") { businessLicense { seal } } }'
    old = (await agent("gz-gab").query(query, duty="gab.household")).json()["data"]["legalEntity"]["businessLicense"]["seal"]
    rotated = await invoke("keys", "rotate-seal", "gz-scjgj", *selection(pg_server, demo_settings))
    assert rotated.exit_code == 0, rotated.output
    kid = rotated.output.split()[3].rstrip(";")
    for _ in range(50):  # the running gateway hears of the new key
        if runtime.evidence.seals.active_key("gz-scjgj").kid == kid:
            break
        await asyncio.sleep(0.05)
    new = (await agent("gz-gab").query(query, duty="gab.household")).json()["data"]["legalEntity"]["businessLicense"]["seal"]
    verify = "query($s: String!) { verifySeal(seal: $s) { valid reason } }"
    for seal in (old, new):
        assert (await agent("gz-gab").query(verify, {"s": seal})).json()["data"]["verifySeal"] == {"valid": True, "reason": None}
    header = json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))
    assert header["kid"] == kid
    refused = await invoke("keys", "rotate-seal", "gz-rsj", *selection(pg_server, demo_settings))
    assert refused.exit_code == 2 and "no seal key" in refused.output


def test_csv_cells_are_never_spreadsheet_formulas() -> None:
    from gateway.report import UsageReport, UsageRow, render_csv

    row = UsageRow(agency="=HYPERLINK(\"http://x\")", item="+P01", provider="@gz-gab", duty="-mz.assistance", requests=1)
    rows = list(csv.reader(render_csv(UsageReport(2026, None, [row], {})).splitlines()))
    assert rows[1][1:5] == ["'=HYPERLINK(\"http://x\")", "'+P01", "'@gz-gab", "'-mz.assistance"]
    assert rows[1][5] == "1"
