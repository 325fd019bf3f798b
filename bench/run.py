"""Performance baseline: the gateway versus the same reads issued directly with asyncpg.

    .venv/bin/python bench/run.py [--database-url URL] [--persons 100000] [--entities 20000]
                                  [--duration 10] [--round 10] [--concurrency 1,16] [--keep] [--calibrate]

Provisions the demo under a unique database prefix, seeds bulk synthetic data with valid
identifiers, starts the real gateway (uvicorn, separate process, loopback only) and
measures, side by side, requests/s and p50/p99 latency of
  (a) one person across 4 providers, (b) `persons` with 100 ids, (c) one legal entity,
through the gateway and directly against the agency databases. It prints figures and
the issue's targets as PASS/MISS lines; it never fails because of a miss.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.http1 import Http1  # noqa: E402
from bench.synth import COLUMNS, Dataset, generate  # noqa: E402
from gateway.database import DatabaseServer, local_server_reachable, select_server  # noqa: E402
from gateway.provision import provision_demo  # noqa: E402
from gateway.settings import Settings  # noqa: E402

console = Console(width=None if sys.stdout.isatty() else 170)

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CLIENT = "gz-zfcxjsj"
DUTY = "zj.housing-security"
TARGET_RATIO = 3.0
TARGET_RPS = 150.0
# alternating rounds per side in the ledger on / off comparison, each of --round seconds
LEDGER_ROUNDS = 6
LATENCY_ROUND = 3.0  # seconds per side and round for the latency at concurrency 1 (a few thousand requests)
# the gateway's connections per agency store; the direct reads get pools of the same size
POOL_SIZE = Settings.from_environ(os.environ).store_pool_size

PERSON_FIELDS = "name maritalStatus socialInsurance { status contributionMonths } housingSecurity { status }"
PERSON_QUERY = f"query Person($id: ResidentIdNumber!) {{ person(idNumber: $id) {{ {PERSON_FIELDS} }} }}"
PERSONS_QUERY = f"query Persons($ids: [ResidentIdNumber!]!) {{ persons(idNumbers: $ids) {{ idNumber {PERSON_FIELDS} }} }}"
ENTITY_QUERY = "query Entity($uscc: UnifiedSocialCreditCode!) { legalEntity(uscc: $uscc) { name status registeredCapital } }"

# the reads the gateway needs, written by hand: one statement per provider
SQL_ONE = {
    "gz-gab": "SELECT name FROM population WHERE id_number = $1",
    "gz-mzj": "SELECT marital_status FROM marriage_registration WHERE id_number = $1",
    "gz-rsj": "SELECT status, contribution_months FROM insured_person WHERE id_number = $1",
    "gz-zfcxjsj": "SELECT status FROM housing_security_application WHERE applicant_id_number = $1",
}
SQL_MANY = {
    "gz-gab": "SELECT id_number, name FROM population WHERE id_number = ANY($1::text[])",
    "gz-mzj": "SELECT id_number, marital_status FROM marriage_registration WHERE id_number = ANY($1::text[])",
    "gz-rsj": "SELECT id_number, status, contribution_months FROM insured_person WHERE id_number = ANY($1::text[])",
    "gz-zfcxjsj": "SELECT applicant_id_number, status FROM housing_security_application WHERE applicant_id_number = ANY($1::text[])",
}
SQL_ENTITY = "SELECT name, status, registered_capital FROM market_entity WHERE uscc = $1"


# ---------------------------------------------------------------- measurement


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    window: float = 0.0
    cpu_self: float = 0.0
    cpu_gateway: float | None = None
    cpu_other: float | None = None  # everything else on the machine: PostgreSQL, other processes
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.window if self.window > 0 else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index] * 1000

    @property
    def p50(self) -> float:
        return self.percentile(0.50)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


Op = Callable[[], Awaitable[str | None]]  # returns None when the answer is right, else what was wrong
OpFactory = Callable[[int], contextlib.AbstractAsyncContextManager[Op]]


def _machine_busy() -> float | None:
    """CPU seconds the whole machine spent busy so far (all cores), from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int | None) -> float | None:
    """CPU seconds of the gateway process and of its worker processes, if any."""
    if pid is None:
        return None
    total, found = 0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
            found = True
    return total / os.sysconf("SC_CLK_TCK") if found else None


async def drive(
    concurrency: int,
    factory: OpFactory,
    warmup: float,
    duration: float,
    gateway_pid: int | None = None,
    on_measure: Callable[[], Awaitable[None]] | None = None,
) -> Result:
    """`concurrency` workers loop on their op: `warmup` seconds unrecorded, then `duration` recorded."""
    result = Result()
    ready = asyncio.Event()
    started = 0
    timing: dict[str, float] = {}
    finished: list[float] = []

    async def worker(index: int) -> None:
        nonlocal started
        async with factory(index) as op:
            started += 1
            if started == concurrency:  # every worker is set up (clients connected lazily): go
                now = time.perf_counter()
                timing["warm_end"] = now + warmup
                timing["end"] = now + warmup + duration
                ready.set()
            await ready.wait()
            warm_end, end = timing["warm_end"], timing["end"]
            last = 0.0
            while True:
                t0 = time.perf_counter()
                if t0 >= end:
                    break
                try:
                    problem = await op()
                except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                    problem = f"{type(exc).__name__}: {exc}"
                    await asyncio.sleep(0.01)  # an unavailable server does not become a busy loop
                t1 = time.perf_counter()
                if t0 < warm_end:
                    continue
                last = t1
                if problem is None:
                    result.latencies.append(t1 - t0)
                else:
                    result.errors += 1
                    result.first_error = result.first_error or problem
            finished.append(last)

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await ready.wait()
    await asyncio.sleep(max(0.0, timing["warm_end"] - time.perf_counter()))
    if on_measure is not None:
        await on_measure()
    cpu0, gw0, all0 = time.process_time(), _process_cpu(gateway_pid), _machine_busy()
    await asyncio.gather(*tasks)
    cpu1, gw1, all1 = time.process_time(), _process_cpu(gateway_pid), _machine_busy()
    result.window = max(finished, default=timing["end"]) - timing["warm_end"]
    result.cpu_self = (cpu1 - cpu0) / result.window * 100
    if gw0 is not None and gw1 is not None:
        result.cpu_gateway = (gw1 - gw0) / result.window * 100
    if all0 is not None and all1 is not None:
        result.cpu_other = max(0.0, (all1 - all0) / result.window * 100 - result.cpu_self - (result.cpu_gateway or 0.0))
    return result


# ---------------------------------------------------------------- scenarios


@dataclass(eq=False)
class Scenario:
    key: str
    title: str
    gateway: OpFactory
    direct: OpFactory | None
    agencies: tuple[str, ...] = ()  # databases the direct reads need a pool for


def _check_body(status: int, content: bytes) -> str | None:
    if status != 200:
        return f"HTTP {status}: {content[:300].decode(errors='replace')}"
    if b'"errors"' in content:
        return f"GraphQL errors: {content[:300].decode(errors='replace')}"
    return None


def build_scenarios(base_url: str, headers: dict[str, str], pools: dict[str, asyncpg.Pool], data: Dataset, seed: int) -> list[Scenario]:
    """`headers` is shared and read at each request: the caller renews the token in it."""
    persons = data.persons
    entities = data.entities
    agencies = list(SQL_ONE)

    def gateway(make_payload: Callable[[random.Random], dict[str, Any]], method: str = "POST", path: str = "/graphql") -> OpFactory:
        @contextlib.asynccontextmanager
        async def factory(index: int) -> AsyncIterator[Op]:
            rng = random.Random(seed * 1000 + index)
            url = urlsplit(base_url)
            # one keep-alive connection per worker, as a dashboard or an agency system holds one
            async with Http1(url.hostname or "127.0.0.1", url.port or 80) as http:

                async def op() -> str | None:
                    if method == "GET":
                        return _check_body(*await http.request("GET", path, {}))
                    return _check_body(*await http.request("POST", path, headers, make_payload(rng)))

                yield op

        return factory

    def direct(make_op: Callable[[random.Random], Op]) -> OpFactory:
        @contextlib.asynccontextmanager
        async def factory(index: int) -> AsyncIterator[Op]:
            yield make_op(random.Random(seed * 1000 + index))

        return factory

    def one_person(rng: random.Random) -> Op:
        async def op() -> str | None:
            key = rng.choice(persons)
            rows = await asyncio.gather(*(pools[a].fetchrow(SQL_ONE[a], key) for a in agencies))
            gab, mzj, rsj, zj = rows
            person = {
                "name": gab["name"] if gab else None,
                "maritalStatus": mzj["marital_status"] if mzj else None,
                "socialInsurance": {"status": rsj["status"], "contributionMonths": rsj["contribution_months"]} if rsj else None,
                "housingSecurity": {"status": zj["status"]} if zj else None,
            }
            return None if person["name"] else f"person {key} not found"

        return op

    def many_persons(rng: random.Random) -> Op:
        async def op() -> str | None:
            keys = rng.sample(persons, 100)
            results = await asyncio.gather(*(pools[a].fetch(SQL_MANY[a], keys) for a in agencies))
            by_key: dict[str, dict[str, Any]] = {k: {"idNumber": k, "name": None, "maritalStatus": None, "socialInsurance": None, "housingSecurity": None} for k in keys}
            for row in results[0]:
                by_key[row[0]]["name"] = row[1]
            for row in results[1]:
                by_key[row[0]]["maritalStatus"] = row[1]
            for row in results[2]:
                by_key[row[0]]["socialInsurance"] = {"status": row[1], "contributionMonths": row[2]}
            for row in results[3]:
                by_key[row[0]]["housingSecurity"] = {"status": row[1]}
            answer = [by_key[k] for k in keys]
            return None if len(results[0]) == 100 and len(answer) == 100 else f"{len(results[0])} of 100 persons found"

        return op

    def one_entity(rng: random.Random) -> Op:
        async def op() -> str | None:
            row = await pools["gz-scjgj"].fetchrow(SQL_ENTITY, rng.choice(entities))
            return None if row is not None else "entity not found"

        return op

    return [
        Scenario("floor", "floor: GET /healthz", gateway(lambda _r: {}, "GET", "/healthz"), None),
        Scenario(
            "a",
            "(a) person, 4 providers",
            gateway(lambda r: {"query": PERSON_QUERY, "variables": {"id": r.choice(persons)}}),
            direct(one_person),
            tuple(SQL_ONE),
        ),
        Scenario(
            "b",
            "(b) persons, 100 ids",
            gateway(lambda r: {"query": PERSONS_QUERY, "variables": {"ids": r.sample(persons, 100)}}),
            direct(many_persons),
            tuple(SQL_MANY),
        ),
        Scenario(
            "c",
            "(c) entity, 1 provider",
            gateway(lambda r: {"query": ENTITY_QUERY, "variables": {"uscc": r.choice(entities)}}),
            direct(one_entity),
            ("gz-scjgj",),
        ),
    ]


async def verify_answers(base_url: str, token: str, pools: dict[str, asyncpg.Pool], data: Dataset) -> list[str]:
    """The gateway must return what the databases hold before its speed means anything."""
    problems = []
    headers = {"Authorization": f"Bearer {token}", "X-Duty": DUTY}
    rng = random.Random(7)
    with_housing = await pools["gz-zfcxjsj"].fetchval("SELECT applicant_id_number FROM housing_security_application WHERE applicant_id_number <> ALL($1::text[]) LIMIT 1", ["440106199001011235", "440106200002290024"])
    sample = [with_housing, *rng.sample(data.persons, 20)]
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
        response = await http.post("/graphql", json={"query": PERSONS_QUERY, "variables": {"ids": sample}}, headers=headers)
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            return [f"persons query failed: HTTP {response.status_code} {json.dumps(body, ensure_ascii=False)[:500]}"]
        providers = sorted({i["provider"] for i in (body.get("extensions", {}).get("sharing") or {}).get("items", [])})
        if providers != sorted(SQL_ONE):
            problems.append(f"persons query was served by {providers}, expected the 4 providers {sorted(SQL_ONE)}")
        for key, got in zip(sample, body["data"]["persons"], strict=True):
            gab = await pools["gz-gab"].fetchrow(SQL_ONE["gz-gab"], key)
            mzj = await pools["gz-mzj"].fetchrow(SQL_ONE["gz-mzj"], key)
            rsj = await pools["gz-rsj"].fetchrow(SQL_ONE["gz-rsj"], key)
            zj = await pools["gz-zfcxjsj"].fetchrow(SQL_ONE["gz-zfcxjsj"], key)
            expected = {
                "idNumber": key,
                "name": gab["name"],
                "maritalStatus": mzj["marital_status"] if mzj else None,
                "socialInsurance": {"status": rsj["status"], "contributionMonths": rsj["contribution_months"]} if rsj else None,
                "housingSecurity": {"status": zj["status"]} if zj else None,
            }
            if got != expected:
                problems.append(f"person {key}: gateway {got} != database {expected}")
        uscc = data.entities[0]
        response = await http.post("/graphql", json={"query": ENTITY_QUERY, "variables": {"uscc": uscc}}, headers=headers)
        row = await pools["gz-scjgj"].fetchrow(SQL_ENTITY, uscc)
        got = response.json().get("data", {}).get("legalEntity")
        expected = {"name": row["name"], "status": row["status"], "registeredCapital": str(row["registered_capital"])}
        if got is None or {**got, "registeredCapital": str(got.get("registeredCapital"))} != expected:
            problems.append(f"legal entity {uscc}: gateway {got} != database {expected}")
    return problems


# ---------------------------------------------------------------- databases


async def open_pools(pools: dict[str, asyncpg.Pool], dsns: dict[str, str], agencies: tuple[str, ...], size: int) -> None:
    for agency in agencies:
        pools[agency] = await asyncpg.create_pool(dsns[agency], min_size=1, max_size=size)


async def close_pools(pools: dict[str, asyncpg.Pool]) -> None:
    for pool in pools.values():
        with contextlib.suppress(Exception):
            await pool.close()
    pools.clear()


async def check_connection_budget(pool: asyncpg.Pool, concurrencies: list[int], workers: int = 1) -> None:
    """Each gateway process keeps up to POOL_SIZE connections per agency store; warn when the server may run out."""
    row = await pool.fetchrow(
        "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int AS usable,"
        " (SELECT count(*) FROM pg_stat_activity) AS used"
    )
    need = workers * 5 * POOL_SIZE + 4 * min(POOL_SIZE, max(concurrencies)) + 15  # gateway pools (4 stores + control) + direct pools + slack
    if row["usable"] - row["used"] < need:
        console.print(
            f"[yellow]warning: the server has {row['usable'] - row['used']} free connections of {row['usable']}; "
            f"this run may need about {need} (gateway pools + direct pools). Other clients of the server may be refused.[/]"
        )


def choose_server(url: str | None, embedded: bool = False) -> tuple[DatabaseServer, str]:
    if url:
        return DatabaseServer(url), "given by --database-url"
    if not embedded and local_server_reachable():
        return DatabaseServer(LOCAL_URL), "127.0.0.1:5432"
    return select_server(None, ROOT / ".govshare" / "bench"), "embedded (pgserver, .govshare/bench)"


async def seed(server: DatabaseServer, settings: Settings, persons: int, entities: int) -> tuple[Any, Dataset]:
    with console.status("provisioning the demo databases") as status:
        databases = await provision_demo(server, settings, lambda m: status.update(m))
    columns = [TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console) as progress:
        tasks = {
            "persons": progress.add_task("generating persons", total=persons),
            "agency records": progress.add_task("generating agency records", total=persons),
            "entities": progress.add_task("generating legal entities", total=entities),
        }

        data = generate(persons, entities, tick=lambda kind, n: progress.advance(tasks[kind], n))
        total = data.count()
        copying = progress.add_task("COPY into agency databases", total=total)
        by_agency: dict[str, list[tuple[str, list[tuple[object, ...]]]]] = {}
        for (agency, table), rows in data.rows.items():
            by_agency.setdefault(agency, []).append((table, rows))
        for agency, tables in by_agency.items():
            conn = await asyncpg.connect(databases.store_dsns[agency])
            try:
                for table, rows in tables:
                    progress.update(copying, description=f"COPY {agency}.{table}")
                    for start in range(0, len(rows), 20000):
                        chunk = rows[start : start + 20000]
                        await conn.copy_records_to_table(table, records=chunk, columns=list(COLUMNS[(agency, table)]))
                        progress.advance(copying, len(chunk))
            finally:
                await conn.close()
        progress.update(copying, description="COPY into agency databases")
        analysing = progress.add_task("VACUUM ANALYZE", total=len(databases.store_dsns))
        for dsn in databases.store_dsns.values():
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute("VACUUM ANALYZE")
            finally:
                await conn.close()
            progress.advance(analysing)
    return databases, data


# ---------------------------------------------------------------- gateway process


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayProcess:
    def __init__(
        self,
        settings: Settings,
        databases: Any,
        log_path: Path,
        profile: Path | None,
        timings: bool = False,
        ledger: bool | None = None,
        pool_size: int | None = None,
        workers: int = 1,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = dict(os.environ)
        if ledger is not None:
            env["GOVSHARE_LEDGER"] = "true" if ledger else "false"
        if pool_size is not None:
            env["GOVSHARE_STORE_POOL_SIZE"] = str(pool_size)
        env["GOVSHARE_BENCH_WORKERS"] = str(workers)
        env.pop("GOVSHARE_BENCH_TIMINGS", None)
        if timings:
            env["GOVSHARE_BENCH_TIMINGS"] = "1"
        env["GOVSHARE_BENCH_GATEWAY"] = json.dumps(
            {
                "control_database": settings.control_database,
                "store_database_prefix": settings.store_database_prefix,
                "control_dsn": databases.control_dsn,
                "store_dsns": databases.store_dsns,
            }
        )
        env.pop("GOVSHARE_BENCH_PROFILE", None)
        if profile is not None:
            env["GOVSHARE_BENCH_PROFILE"] = str(profile)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "launcher.py"), "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    async def timings(self) -> dict[str, list[float]]:
        """Stage samples since the previous call (launcher started with timings), then reset."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10.0) as http:
            response = await http.get("/__bench/timings")
        return dict(response.json()) if response.status_code == 200 else {}

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the gateway exited with status {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        ready = await http.get("/readyz")
                        if ready.status_code == 200:
                            return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"the gateway did not become ready within {timeout:g}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            # uvicorn shuts down gracefully (lifespan: the runtime closes its pools); exit 0
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        self._log.close()


async def obtain_token(base_url: str, agency: str, scope: str) -> str:
    basic = base64.b64encode(f"{agency}:demo-{agency}".encode()).decode()
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as http:
        response = await http.post("/oauth/token", data={"grant_type": "client_credentials", "scope": scope}, headers={"Authorization": f"Basic {basic}"})
    if response.status_code != 200:
        raise RuntimeError(f"token request for {agency} failed: HTTP {response.status_code} {response.text}")
    return str(response.json()["access_token"])


# ---------------------------------------------------------------- report


def machine_info(server_label: str, server_version: str, load: float, ledger: bool, workers: int = 1) -> list[str]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import importlib.util

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http_impl = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return [
        f"machine: {os.cpu_count()} logical cores ({affinity} usable) {model} · {platform.system()} {platform.release()} · Python {platform.python_version()} · load average before measuring {load:.2f}",
        f"PostgreSQL {server_version} at {server_label} · gateway: uvicorn {workers} worker(s), {loop} loop, {http_impl} HTTP · bench client: bench/http1.py HTTP/1.1 keep-alive, one connection per worker",
        f"gateway settings: disclosure ledger {'on' if ledger else 'off'} (GOVSHARE_LEDGER), store pools of {POOL_SIZE} connections; direct reads: asyncpg pools of {POOL_SIZE} per database",
        "bench client, gateway and PostgreSQL share the same cores. CPU% columns are measured during the gateway runs, in % of one core:"
        " gw = the uvicorn process, bench = this process (the load generator), other = the rest of the machine (PostgreSQL, anything else running)",
    ]


def fmt(value: float, digits: int = 2) -> str:
    return "—" if value != value else f"{value:.{digits}f}"


def report(results: list[tuple[Scenario, int, Result, Result | None]], info: list[str], ledger: bool) -> None:
    table = Table(title="govshare gateway vs direct asyncpg", title_justify="left")
    for name, justify in [
        ("scenario", "left"), ("conc", "right"), ("gw req/s", "right"), ("gw p50 ms", "right"), ("gw p99 ms", "right"),
        ("direct req/s", "right"), ("dir p50 ms", "right"), ("dir p99 ms", "right"), ("p50 gw/dir", "right"),
        ("gw CPU%", "right"), ("bench CPU%", "right"), ("other CPU%", "right"), ("errors", "right"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for scenario, concurrency, gw, direct in results:
        ratio = gw.p50 / direct.p50 if direct and direct.latencies and gw.latencies else float("nan")
        errors = gw.errors + (direct.errors if direct else 0)
        table.add_row(
            scenario.title, str(concurrency), fmt(gw.rps, 0), fmt(gw.p50), fmt(gw.p99),
            fmt(direct.rps, 0) if direct else "—", fmt(direct.p50) if direct else "—", fmt(direct.p99) if direct else "—",
            f"{fmt(ratio, 1)}x" if ratio == ratio else "—",
            fmt(gw.cpu_gateway, 0) if gw.cpu_gateway is not None else "—", fmt(gw.cpu_self, 0),
            fmt(gw.cpu_other, 0) if gw.cpu_other is not None else "—",
            f"[red]{errors}[/]" if errors else "0",
        )
    console.print()
    for line in info:
        console.print(line)
    console.print(table)
    for scenario, concurrency, gw, direct in results:
        for label, r in (("gateway", gw), ("direct", direct)):
            if r is not None and r.first_error:
                console.print(f"[red]{scenario.title} c={concurrency} {label}: {r.errors} errors; first: {r.first_error}[/]")
    console.print()
    console.print(f"Targets (issue 2, on a 2-core machine; this machine has {os.cpu_count()} cores):")
    if ledger:
        console.print("  (ledger on: every answer waits for its event's durable commit; the ledger comparison measures target 1 without it too)")
    measured = [(s, c, g, d) for s, c, g, d in results if d is not None]
    for scenario in dict.fromkeys(s for s, _, _, _ in measured):
        at_one = [(g, d) for s, c, g, d in measured if s is scenario and c == 1]
        if at_one and at_one[0][0].latencies and at_one[0][1] and at_one[0][1].latencies:
            g, d = at_one[0]
            ratio = g.p50 / d.p50
            verdict = "[green]PASS[/]" if ratio <= TARGET_RATIO else "[red]MISS[/]"
            console.print(f"  {verdict}  target 1 {scenario.title}: gateway p50 at concurrency 1 = {g.p50:.2f} ms = {ratio:.1f}x direct {d.p50:.2f} ms (≤ {TARGET_RATIO:g}x)")
        else:
            console.print(f"  [yellow]n/a[/]   target 1 {scenario.title}: concurrency 1 was not measured")
        best = max(((g.rps, c) for s, c, g, _ in measured if s is scenario), default=(0.0, 0))
        verdict = "[green]PASS[/]" if best[0] >= TARGET_RPS else "[red]MISS[/]"
        console.print(f"  {verdict}  target 2 {scenario.title}: best gateway throughput {best[0]:.0f} req/s at concurrency {best[1]} (≥ {TARGET_RPS:g} req/s)")


def report_timings(stage_times: list[tuple[Scenario, int, dict[str, list[float]]]]) -> None:
    from bench.timings import summarise

    table = Table(
        title="inside the gateway process (--timings): mean ms per call × calls per request, and share of the app's request time",
        title_justify="left",
    )
    table.add_column("scenario")
    table.add_column("conc", justify="right")
    table.add_column("stage")
    table.add_column("calls/req", justify="right")
    table.add_column("mean ms", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("share", justify="right")
    for scenario, concurrency, samples in stage_times:
        for index, (label, calls, mean, p50, share) in enumerate(summarise(samples)):
            table.add_row(
                scenario.title if index == 0 else "", str(concurrency) if index == 0 else "", label,
                f"{calls:.2f}", f"{mean:.2f}", f"{p50:.2f}", f"{share * 100:.0f}%",
            )
        table.add_section()
    console.print(table)
    console.print(
        "shares of nested stages overlap (Schema.execute contains fetch_subjects, which contains the parallel AgencyStores.fetch);"
        " the app's request time excludes uvicorn's HTTP parsing and the client (see the floor row)"
    )


# ---------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> None:
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    wanted = set(args.scenarios.split(","))
    server, label = choose_server(args.database_url, args.embedded)
    prefix = f"bench_{secrets.token_hex(3)}_"
    settings = Settings(demo=True, control_database=f"{prefix}control", store_database_prefix=prefix, log_level="warning")
    gateway: GatewayProcess | None = None
    pools: dict[str, asyncpg.Pool] = {}
    workdir = Path(tempfile.mkdtemp(prefix="govshare-bench-"))
    try:
        console.print(f"PostgreSQL: {label}; databases prefixed [bold]{prefix}[/]")
        started = time.monotonic()
        databases, data = await seed(server, settings, args.persons, args.entities)
        console.print(f"seeded {data.count():,} rows ({len(data.persons):,} persons, {len(data.entities):,} legal entities) in {time.monotonic() - started:.1f}s")

        with console.status("starting the gateway (uvicorn, separate process)"):
            gateway = GatewayProcess(settings, databases, workdir / "gateway.log", Path(args.profile).resolve() if args.profile else None, args.timings, workers=args.workers)
            await gateway.wait_ready()
            token = await obtain_token(gateway.base_url, CLIENT, DUTY)
        console.print(f"gateway pid {gateway.process.pid} at {gateway.base_url}; token for {CLIENT} / {DUTY}")

        await open_pools(pools, databases.store_dsns, ("gz-gab", "gz-mzj", "gz-rsj", "gz-zfcxjsj", "gz-scjgj"), 2)
        server_version = await pools["gz-gab"].fetchval("SHOW server_version")
        await check_connection_budget(pools["gz-gab"], concurrencies, args.workers)
        problems = await verify_answers(gateway.base_url, token, pools, data)
        await close_pools(pools)
        for problem in problems:
            console.print(f"[red]wrong answer: {problem}[/]")
        if not problems:
            console.print("gateway answers match the databases (21 persons across 4 providers, 1 legal entity)")

        headers = {"Authorization": f"Bearer {token}", "X-Duty": DUTY}
        scenarios = [s for s in build_scenarios(gateway.base_url, headers, pools, data, seed=args.seed) if s.key in wanted]
        warmup = min(2.0, max(0.5, args.duration / 5))
        results: list[tuple[Scenario, int, Result, Result | None]] = []
        stage_times: list[tuple[Scenario, int, dict[str, list[float]]]] = []
        reset_timings = (lambda: gateway.timings()) if args.timings else None  # type: ignore[union-attr]
        plan = [(s, c) for s in scenarios for c in (concurrencies[:1] if s.key == "floor" else concurrencies)]
        columns = [TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("measuring", total=len(plan))
            for scenario, concurrency in plan:
                duration = min(args.duration, 3.0) if scenario.key == "floor" else args.duration
                progress.update(task, description=f"{scenario.title} c={concurrency} gateway")
                # a fresh token per run: long --duration values must not outlive its 15 minutes
                headers["Authorization"] = f"Bearer {await obtain_token(gateway.base_url, CLIENT, DUTY)}"
                gw = await drive(concurrency, scenario.gateway, warmup, duration, gateway.process.pid, reset_timings)
                if args.timings and scenario.key != "floor":
                    stage_times.append((scenario, concurrency, await gateway.timings()))
                direct = None
                if scenario.direct is not None:
                    progress.update(task, description=f"{scenario.title} c={concurrency} direct")
                    # pools only while measured: the server's max_connections is shared with the gateway's pools
                    await open_pools(pools, databases.store_dsns, scenario.agencies, POOL_SIZE)
                    try:
                        direct = await drive(concurrency, scenario.direct, warmup, duration, gateway.process.pid)
                    finally:
                        await close_pools(pools)
                results.append((scenario, concurrency, gw, direct))
                progress.advance(task)
        ledger = Settings.from_environ(os.environ).ledger
        report(results, machine_info(label, server_version, load_before, ledger, args.workers), ledger)
        if stage_times:
            report_timings(stage_times)
        if args.ledger_compare and ledger:
            gateway.stop()  # its connections are the two comparison gateways' now
            await compare_ledger(args, settings, databases, data, workdir, results, seed=args.seed)
            if args.calibrate:
                await compare_ledger(args, settings, databases, data, workdir, results, seed=args.seed, calibrate=True)
        console.print(f"\ntotal run time {time.monotonic() - started:.0f}s (seeding included)")
    finally:
        await close_pools(pools)
        if gateway is not None:
            gateway.stop()
            if gateway.process.returncode not in (0, None):
                console.print(f"[yellow]gateway exited with status {gateway.process.returncode}; log {gateway.log_path}, tail:[/]\n{gateway.log_tail()}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
            if args.profile:
                console.print(f"gateway profile written to {args.profile} (python -m pstats)")
        if args.keep:
            console.print(f"kept databases with prefix {prefix} on {label} (--keep)")
        else:
            dropped = 0
            for name in await server.databases_with_prefix(prefix):
                await server.drop_database(name)
                dropped += 1
            console.print(f"dropped {dropped} bench databases")
        server.stop()


async def compare_ledger(
    args: argparse.Namespace, settings: Settings, databases: Any, data: Dataset, workdir: Path, results: list[Any], seed: int,
    calibrate: bool = False,
) -> None:
    """Throughput of two gateways, the disclosure ledger on and off, side by side.

    They are measured in alternating rounds, so that the machine's other load drifts into
    both alike; both have the store pools of the main run. With `calibrate`, both gateways
    have the ledger off: the ratio then shows what the comparison reads when nothing differs.
    """
    rows = []
    first = "gateway-ledger-off-a.log" if calibrate else "gateway-ledger.log"
    on = GatewayProcess(settings, databases, workdir / first, None, ledger=not calibrate, pool_size=POOL_SIZE)
    second = "gateway-ledger-off-b.log" if calibrate else "gateway-no-ledger.log"
    off = GatewayProcess(settings, databases, workdir / second, None, ledger=False, pool_size=POOL_SIZE)
    latency_rows = []
    try:
        await on.wait_ready()
        await off.wait_ready()
        if not calibrate:
            latency_rows = await _latency_at_one(args, on, off, results, data, seed)
        for scenario, concurrency, _, _ in results:
            if scenario.key == "floor" or concurrency == 1:
                continue
            totals = {True: [0, 0.0, 0.0, 0.0], False: [0, 0.0, 0.0, 0.0]}
            round_ratios = []
            for number in range(LEDGER_ROUNDS):
                rates = {}
                for ledger, gateway in _sides(number, on, off):
                    twin = await _twin(gateway, scenario, data, seed)
                    measured = await drive(concurrency, twin.gateway, 0.5, args.round, gateway.process.pid)
                    rates[ledger] = len(measured.latencies) / measured.window
                    totals[ledger][0] += len(measured.latencies)
                    totals[ledger][1] += measured.window
                    totals[ledger][2] += (measured.cpu_gateway or 0.0) * measured.window
                    totals[ledger][3] += (measured.cpu_other or 0.0) * measured.window
                round_ratios.append(rates[True] / rates[False] if rates[False] else float("nan"))
            on_t, off_t = totals[True], totals[False]
            rows.append((
                scenario.title, concurrency, on_t[0] / on_t[1], off_t[0] / off_t[1], on_t[2] / on_t[1], off_t[2] / off_t[1], on_t[3] / on_t[1], off_t[3] / off_t[1],
                min(round_ratios), max(round_ratios),
            ))
    finally:
        on.stop()
        off.stop()
    if calibrate:
        heading = "calibration: two gateways with the ledger off, compared the same way (the comparison's own noise)"
        columns = ("scenario", "conc", "first req/s", "second req/s", "first / second", "rounds", "gw CPU%", "other CPU%")
    else:
        heading = "disclosure ledger: throughput on against off, alternating rounds (issue 4 target: on >= 0.9x off)"
        columns = ("scenario", "conc", "ledger on req/s", "ledger off req/s", "on / off", "rounds", "gw CPU% on/off", "other CPU% on/off")
    table = Table(title=heading)
    for column in columns:
        table.add_column(column, justify="right" if column != "scenario" else "left")
    for title, concurrency, on_rate, off_rate, gw_on, gw_off, other_on, other_off, lowest, highest in rows:
        ratio = on_rate / off_rate if off_rate else float("nan")
        table.add_row(
            title, str(concurrency), f"{on_rate:.0f}", f"{off_rate:.0f}", f"{ratio:.2f}x" if calibrate else f"{ratio:.2f}x {'PASS' if ratio >= 0.9 else 'MISS'}",
            f"{lowest:.2f}-{highest:.2f}x", f"{gw_on:.0f} / {gw_off:.0f}", f"{other_on:.0f} / {other_off:.0f}",
        )
    console.print(table)
    console.print(f"{'first / second' if calibrate else 'on / off'} is over all {LEDGER_ROUNDS} rounds of {args.round:g}s per side; 'rounds' is the range of the ratios of single rounds, the run-to-run noise")
    if latency_rows:
        report_latency_at_one(latency_rows, min(args.round, LATENCY_ROUND))


def _sides(number: int, on: GatewayProcess, off: GatewayProcess) -> tuple[tuple[bool, GatewayProcess], ...]:
    """The order of round `number`: each side goes first in every other round, so that whatever
    favours the first (or the second) measurement of a round falls on both alike."""
    return ((True, on), (False, off)) if number % 2 == 0 else ((False, off), (True, on))


async def _twin(gateway: GatewayProcess, scenario: Scenario, data: Dataset, seed: int) -> Scenario:
    """`scenario` aimed at `gateway`, with a fresh token."""
    headers = {"Authorization": f"Bearer {await obtain_token(gateway.base_url, CLIENT, DUTY)}", "X-Duty": DUTY}
    return next(s for s in build_scenarios(gateway.base_url, headers, {}, data, seed) if s.key == scenario.key)


async def _latency_at_one(
    args: argparse.Namespace, on: GatewayProcess, off: GatewayProcess, results: list[Any], data: Dataset, seed: int,
) -> list[tuple[str, float, float, float | None]]:
    """p50 at concurrency 1 of both gateways, in alternating rounds: what the ledger's durable
    commit adds to one request, and the gateway's p50 without it against the direct reads."""
    rows = []
    for scenario, concurrency, _, direct in results:
        if scenario.key == "floor" or concurrency != 1:
            continue
        latencies: dict[bool, list[float]] = {True: [], False: []}
        for number in range(LEDGER_ROUNDS):
            for ledger, gateway in _sides(number, on, off):
                twin = await _twin(gateway, scenario, data, seed)
                measured = await drive(1, twin.gateway, 0.5, min(args.round, LATENCY_ROUND), gateway.process.pid)
                latencies[ledger].extend(measured.latencies)
        direct_p50 = direct.p50 if direct is not None and direct.latencies else None
        rows.append((scenario.title, Result(latencies[True]).p50, Result(latencies[False]).p50, direct_p50))
    return rows


def report_latency_at_one(rows: list[tuple[str, float, float, float | None]], length: float) -> None:
    table = Table(title="latency at concurrency 1: ledger on against off, alternating rounds (what the durable commit adds to one request)")
    for column in ("scenario", "p50 ledger on", "p50 ledger off", "the ledger adds", "direct p50", "on / direct", "off / direct"):
        table.add_column(column, justify="right" if column != "scenario" else "left")
    for title, on_p50, off_p50, direct_p50 in rows:
        ratios = (f"{on_p50 / direct_p50:.1f}x", f"{off_p50 / direct_p50:.1f}x") if direct_p50 else ("—", "—")
        table.add_row(
            title, f"{on_p50:.2f} ms", f"{off_p50:.2f} ms", f"{on_p50 - off_p50:.2f} ms",
            f"{direct_p50:.2f} ms" if direct_p50 else "—", *ratios,
        )
    console.print(table)
    console.print(
        f"p50 over {LEDGER_ROUNDS} rounds of {length:g}s per side; direct p50 from the main run above. Issue 2's target 1 (at most "
        f"{TARGET_RATIO:g}x) is the gateway against the direct reads; issue 4 requires every answer to wait for its event's commit"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="govshare performance baseline: gateway vs direct asyncpg")
    parser.add_argument("--database-url", default=os.environ.get("GOVSHARE_DATABASE_URL"), help="PostgreSQL server URL (default: GOVSHARE_DATABASE_URL, else 127.0.0.1:5432 if reachable, else embedded)")
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per scenario, concurrency and side (default 10)")
    parser.add_argument(
        "--round", type=float, default=10.0,
        help="seconds per round of the ledger on / off comparison, 6 rounds per side (default 10; shorter rounds read noisier ratios)",
    )
    parser.add_argument("--concurrency", default="1,16", help="comma-separated concurrency levels (default 1,16)")
    parser.add_argument("--scenarios", default="floor,a,b,c", help="subset of floor,a,b,c (default all; floor = GET /healthz through the same HTTP client, gateway only)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--embedded", action="store_true", help="use the embedded server even when 127.0.0.1:5432 is reachable")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases afterwards")
    parser.add_argument("--timings", action="store_true", help="also time stages inside the gateway (auth, execute, fetch, ledger) and print where a request's time goes")
    parser.add_argument("--profile", metavar="FILE", help="run the gateway under cProfile and write its stats to FILE (slows it down)")
    parser.add_argument("--no-ledger-compare", dest="ledger_compare", action="store_false", help="skip the second gateway without the disclosure ledger")
    parser.add_argument(
        "--calibrate", action="store_true",
        help="after the ledger comparison, compare two gateways with the ledger off the same way: the ratio the comparison reads when nothing differs",
    )
    parser.add_argument("--workers", type=int, default=1, help="gateway processes, as `govshare serve --workers N` (default 1)")
    args = parser.parse_args(argv)
    if args.persons < 100 or args.entities < 1:
        parser.error("--persons must be at least 100 and --entities at least 1")
    if args.duration <= 0 or args.round <= 0:
        parser.error("--duration and --round must be positive")
    try:
        # the gateway runs on uvloop (uvicorn[standard]); the load generator does too
        import uvloop

        uvloop.run(run(args))
    except KeyboardInterrupt:
        console.print("interrupted")


if __name__ == "__main__":
    main()
