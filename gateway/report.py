"""The annual usage report of shared information (R-30) and the operator's summary (R-31)."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from collections import defaultdict
from dataclasses import dataclass, field

import asyncpg
import orjson

from gateway.audit import WHOLE_REQUEST

__all__ = ["AgencyUsage", "UsageRow", "UsageReport", "collect_usage", "render_csv", "render_html", "render_markdown"]


@dataclass
class UsageRow:
    agency: str
    item: str
    provider: str
    duty: str
    requests: int = 0
    denials: int = 0
    subjects: set[str] = field(default_factory=set)


@dataclass
class AgencyUsage:
    """An agency's requests, each counted once however many items it touched."""

    requests: int = 0
    denials: int = 0
    subjects: set[str] = field(default_factory=set)


@dataclass
class UsageReport:
    year: int
    agency: str | None
    rows: list[UsageRow]
    names: dict[str, str]
    agencies: dict[str, AgencyUsage] = field(default_factory=dict)

    def ranking(self) -> list[tuple[str, int, int, int]]:
        """(agency, requests served, distinct subjects, requests denied in whole or in part), most active first."""
        ranked = [(a, u.requests, len(u.subjects), u.denials) for a, u in self.agencies.items()]
        return sorted(ranked, key=lambda r: (-r[1], r[0]))


async def collect_usage(conn: asyncpg.Connection, year: int, agency: str | None, names: dict[str, str]) -> UsageReport:
    since = dt.datetime(year, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    until = since.replace(year=year + 1)
    rows: dict[tuple[str, str, str, str], UsageRow] = {}
    agencies: dict[str, AgencyUsage] = {}
    async with conn.transaction(readonly=True):
        cursor = conn.cursor(
            "SELECT agency, coalesce(duty, '') AS duty, outcome, subjects, items FROM disclosure_events"
            " WHERE time >= $1 AND time < $2 AND ($3::text IS NULL OR agency = $3)",
            since,
            until,
            agency,
            prefetch=2000,
        )
        async for record in cursor:
            entries = orjson.loads(record["items"])
            if not entries and record["outcome"] == "refused":
                # refused as a whole before events recorded the refusal's code
                entries = [{"item": WHOLE_REQUEST, "provider": "", "served": [], "denied": [WHOLE_REQUEST]}]
            usage = agencies.setdefault(record["agency"], AgencyUsage())
            served = denied = False
            for entry in entries:
                key = (record["agency"], entry["item"], entry["provider"], record["duty"])
                row = rows.setdefault(key, UsageRow(*key))
                if entry["served"]:
                    row.requests += 1
                    row.subjects.update(record["subjects"])
                    served = True
                if entry["denied"]:
                    row.denials += 1
                    denied = True
            if served:
                usage.requests += 1
                usage.subjects.update(record["subjects"])
            if denied:
                usage.denials += 1
    ordered = sorted(rows.values(), key=lambda r: (r.agency, r.item, r.duty))
    return UsageReport(year, agency, ordered, names, agencies)


def _title(report: UsageReport) -> str:
    who = f"{report.agency} {report.names.get(report.agency, '')}".strip() if report.agency else "all agencies"
    return f"Use of shared information {report.year}: {who}"


def render_markdown(report: UsageReport) -> str:
    lines = [f"# {_md(_title(report))}", ""]
    if not report.rows:
        return "\n".join([*lines, "No shared information was requested in this year."]) + "\n"
    lines += ["## Ranking", "", "| agency | requests served | subjects | denials |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {_md(a)} {_md(report.names.get(a, ''))} | {r} | {s} | {d} |" for a, r, s, d in report.ranking()]
    lines += ["", "## By item, provider and duty", "", "| agency | item | provider | duty | requests | subjects | denials |", "| --- | --- | --- | --- | ---: | ---: | ---: |"]
    lines += [
        f"| {_md(r.agency)} | {_md(r.item)} | {_md(r.provider)} | {_md(r.duty)} | {r.requests} | {len(r.subjects)} | {r.denials} |" for r in report.rows
    ]
    if _refused_whole(report):
        lines += ["", _WHOLE_NOTE]
    return "\n".join(lines) + "\n"


_WHOLE_NOTE = f"Item {WHOLE_REQUEST}: requests refused as a whole, for no one item (a duty the token does not grant, a mutation of another role)."
_MARKDOWN = str.maketrans({"\\": "\\\\", "|": "\\|", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "<br>", "\n": "<br>"})


def _refused_whole(report: UsageReport) -> bool:
    return any(r.item == WHOLE_REQUEST for r in report.rows)


def _md(text: str) -> str:
    """Catalog text in a Markdown table cell: no raw HTML, no column break, one line."""
    return text.replace("\r\n", "\n").translate(_MARKDOWN)


def render_csv(report: UsageReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["year", "agency", "item", "provider", "duty", "requests", "subjects", "denials"])
    for r in report.rows:
        writer.writerow([report.year, _cell(r.agency), _cell(r.item), _cell(r.provider), _cell(r.duty), r.requests, len(r.subjects), r.denials])
    return out.getvalue()


def _cell(text: str) -> str:
    # a spreadsheet runs a cell that starts with one of these as a formula
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _bars(values: list[tuple[str, int, int]], width: int = 640) -> str:
    """A horizontal bar chart (served and denied) as inline SVG."""
    if not values:
        return "<p>No requests.</p>"
    top = max(max(s, d) for _, s, d in values) or 1
    row, label = 26, 190
    height = row * len(values) + 10
    parts = [f'<svg role="img" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12">']
    for i, (name, served, denied) in enumerate(values):
        y = 5 + i * row
        scale = (width - label - 60) / top
        parts.append(f'<text x="0" y="{y + 14}">{html.escape(name)}</text>')
        parts.append(f'<rect x="{label}" y="{y}" width="{served * scale:.1f}" height="10" fill="#2b6cb0"><title>{served} served</title></rect>')
        parts.append(f'<rect x="{label}" y="{y + 11}" width="{denied * scale:.1f}" height="8" fill="#c53030"><title>{denied} denied</title></rect>')
        parts.append(f'<text x="{label + served * scale + 4:.1f}" y="{y + 10}">{served}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: UsageReport) -> str:
    title = html.escape(_title(report))
    ranking = report.ranking()
    sections = [
        f"<h1>{title}</h1>",
        f"<p>Blue: requests served; red: requests denied in whole or in part.{' ' + _WHOLE_NOTE if _refused_whole(report) else ''}</p>",
        "<h2>Agencies</h2>",
        _bars([(f"{a} {report.names.get(a, '')}", r, d) for a, r, _, d in ranking]),
    ]
    by_agency: dict[str, list[UsageRow]] = defaultdict(list)
    for row in report.rows:
        by_agency[row.agency].append(row)
    for agency, rows in sorted(by_agency.items()):
        sections.append(f"<h2>{html.escape(agency)} {html.escape(report.names.get(agency, ''))}</h2>")
        sections.append(_bars([(f"{r.item} · {r.duty}", r.requests, r.denials) for r in rows]))
        table = "".join(
            f"<tr><td>{html.escape(r.item)}</td><td>{html.escape(r.provider)}</td><td>{html.escape(r.duty)}</td>"
            f"<td>{r.requests}</td><td>{len(r.subjects)}</td><td>{r.denials}</td></tr>"
            for r in rows
        )
        sections.append(f"<table><tr><th>item</th><th>provider</th><th>duty</th><th>requests</th><th>subjects</th><th>denials</th></tr>{table}</table>")
    style = "body{font-family:sans-serif;max-width:60rem;margin:2rem auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}"
    return f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title><style>{style}</style></head><body>{"".join(sections)}</body></html>\n'
