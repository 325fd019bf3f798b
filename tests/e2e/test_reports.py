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


async def test_usage_counts_requests_once_and_refusals_as_a_whole(pg_server: Any, run_prefix: str) -> None:
    import asyncpg

    from gateway.ledger import DeniedField, DisclosureEvent, ItemDisclosure, LedgerWriter, subject_hash
    from gateway.migrate import migrate
    from gateway.report import collect_usage, render_csv, render_html, render_markdown

    name = f"{run_prefix}usage_ledger"
    await pg_server.create_database(name)
    pool = await asyncpg.create_pool(pg_server.dsn(name), min_size=1, max_size=2)
    key = b"k" * 32
    names = {"gz-rsj": "<script>alert(1)</script>=cmd|x", "gz-zfcxjsj": "广州市住房和城乡建设局", "th-mzj": "天河区民政局"}
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        writer = LedgerWriter(pool, hmac_key=key)
        await writer.start()

        def event(agency: str, duty: str, outcome: str, *items: ItemDisclosure, subjects: int = 1) -> DisclosureEvent:
            return DisclosureEvent(
                time=dt.datetime(2026, 5, 4, 10, tzinfo=dt.timezone.utc), request_id="r", agency=agency, client=agency, duty=duty,
                operation_hash="0" * 64, outcome=outcome, items=items, subjects=tuple(subject_hash(key, f"s{i}") for i in range(subjects)),  # type: ignore[arg-type]
            )

        def denied(item: str, provider: str, code: str) -> ItemDisclosure:
            return ItemDisclosure(item, provider, (), (DeniedField("*" if item == "*" else "Person.maritalStatus", code),))

        # the README's first request: one request, three items
        await writer.append(event("gz-zfcxjsj", "zj.housing-security", "ok", *(ItemDisclosure(i, p, ("f",)) for i, p in (("P01", "gz-gab"), ("P03", "gz-mzj"), ("P06", "gz-rsj")))))
        # one request, one item served and two denied
        await writer.append(event("gz-rsj", "rs.insurance", "partial", ItemDisclosure("P01", "gz-gab", ("f",)), denied("P03", "gz-mzj", "NOT_IN_SCOPE"), denied("P05", "gz-mzj", "NOT_IN_SCOPE")))
        for _ in range(3):  # refused as a whole for the duty
            await writer.append(event("gz-rsj", "mz.assistance", "refused", denied("*", "", "DUTY_NOT_GRANTED"), subjects=0))
        await writer.append(event("gz-rsj", "mz.assistance", "refused", subjects=0))  # the same, recorded before events said why
        await writer.append(event("th-mzj", "mz.assistance", "refused", denied("P01", "gz-gab", "OUT_OF_DIVISION"), subjects=0))
        await writer.close()
        async with pool.acquire() as conn:
            usage = await collect_usage(conn, 2026, None, names)
            empty = await collect_usage(conn, 2013, None, names)
    finally:
        await pool.close()
        await pg_server.drop_database(name)

    assert usage.ranking() == [("gz-rsj", 1, 1, 5), ("gz-zfcxjsj", 1, 1, 0), ("th-mzj", 0, 0, 1)]
    rows = {(r["agency"], r["item"], r["duty"]): r for r in csv.DictReader(io.StringIO(render_csv(usage)))}
    assert {k: (r["provider"], r["requests"], r["subjects"], r["denials"]) for k, r in rows.items() if k[0] != "gz-zfcxjsj"} == {
        ("gz-rsj", "P01", "rs.insurance"): ("gz-gab", "1", "1", "0"),
        ("gz-rsj", "P03", "rs.insurance"): ("gz-mzj", "0", "0", "1"),
        ("gz-rsj", "P05", "rs.insurance"): ("gz-mzj", "0", "0", "1"),
        ("gz-rsj", "*", "mz.assistance"): ("", "0", "0", "4"),
        ("th-mzj", "P01", "mz.assistance"): ("gz-gab", "0", "0", "1"),
    }
    assert [rows[("gz-zfcxjsj", i, "zj.housing-security")]["requests"] for i in ("P01", "P03", "P06")] == ["1", "1", "1"]

    markdown = render_markdown(usage)
    assert "| gz-rsj &lt;script&gt;alert(1)&lt;/script&gt;=cmd\\|x | 1 | 1 | 5 |" in markdown
    assert "| gz-zfcxjsj 广州市住房和城乡建设局 | 1 | 1 | 0 |" in markdown and "| th-mzj 天河区民政局 | 0 | 0 | 1 |" in markdown
    assert "| gz-rsj | * |  | mz.assistance | 0 | 0 | 4 |" in markdown and "<script>" not in markdown
    page = render_html(usage)
    assert "<title>5 denied</title>" in page and "<td>*</td><td></td><td>mz.assistance</td><td>0</td><td>0</td><td>4</td>" in page
    assert render_markdown(empty) == "# Use of shared information 2013: all agencies\n\nNo shared information was requested in this year.\n"


def test_markdown_cells_hold_catalog_text_as_text() -> None:
    from gateway.report import AgencyUsage, UsageReport, UsageRow, render_markdown

    agency = "a|b\\|c <i>&amp;\r\nd"
    row = UsageRow(agency=agency, item="P01", provider="gz-gab", duty="x|y", requests=1)
    text = render_markdown(UsageReport(2026, agency, [row], {agency: "<b>名</b>"}, {agency: AgencyUsage(requests=1)}))
    escaped = "a\\|b\\\\\\|c &lt;i&gt;&amp;amp;<br>d"
    assert text.startswith(f"# Use of shared information 2026: {escaped} &lt;b&gt;名&lt;/b&gt;\n")
    assert f"| {escaped} &lt;b&gt;名&lt;/b&gt; | 1 | 0 | 0 |" in text
    assert f"| {escaped} | P01 | gz-gab | x\\|y | 1 | 0 | 0 |" in text
