"""Runs the real gateway under uvicorn for the benchmark, in its own process.

    python bench/launcher.py --port PORT

Configuration comes from the environment variable GOVSHARE_BENCH_GATEWAY, a JSON object
{"control_database", "store_database_prefix", "control_dsn", "store_dsns"} written by
bench/run.py. The app is built exactly as `govshare demo` builds it (create_app +
Runtime.start); logging is kept at warning so the per-request INFO line is not written.

With GOVSHARE_BENCH_TIMINGS=1 a few stages are timed (bench/timings.py) and served at
GET /__bench/timings. With GOVSHARE_BENCH_PROFILE=FILE the whole server runs under cProfile and the stats are
written to FILE when it stops (for investigation only: profiling slows the gateway).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from typing import Any

import uvicorn

from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.settings import Settings

CONFIG_ENV = "GOVSHARE_BENCH_GATEWAY"
WORKERS_ENV = "GOVSHARE_BENCH_WORKERS"
PROFILE_ENV = "GOVSHARE_BENCH_PROFILE"
TIMINGS_ENV = "GOVSHARE_BENCH_TIMINGS"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    config = json.loads(os.environ[CONFIG_ENV])

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    govshare = logging.getLogger("govshare")
    govshare.handlers[:] = [handler]
    govshare.setLevel(logging.WARNING)
    govshare.propagate = False
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)

    # GOVSHARE_* variables apply as for `govshare demo` (e.g. GOVSHARE_LEDGER=false to see
    # what the disclosure ledger costs); the databases are the bench's own
    settings = Settings.from_environ(
        os.environ,
        demo=True,
        control_database=config["control_database"],
        store_database_prefix=config["store_database_prefix"],
        log_level="warning",
    )
    workers = int(os.environ.get(WORKERS_ENV, "1"))
    if workers > 1:
        # several gateway processes, as `govshare serve --workers N` runs them
        import tempfile

        import yaml

        from gateway.asgi import CONFIG_ENV as GATEWAY_CONFIG_ENV

        document = {"database_url": config["control_dsn"], "store_urls": config["store_dsns"], "log_level": "warning", "ledger": settings.ledger, "store_pool_size": settings.store_pool_size}
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
            yaml.safe_dump(document, handle)
        os.environ[GATEWAY_CONFIG_ENV] = handle.name
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        uvicorn.run("gateway.asgi:app_from_environment", factory=True, host=args.host, port=args.port, workers=workers, log_level="warning", access_log=False)
        return
    app: Any = create_app(lambda: Runtime.start(settings, config["control_dsn"], config["store_dsns"]), settings.cors_origins)
    if os.environ.get(TIMINGS_ENV) == "1":
        from bench import timings

        for label in timings.install():
            print(f"timings: stage {label!r} does not exist in this gateway version", file=sys.stderr)
        app = timings.wrap_app(app)
    server = uvicorn.Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="on")
    )
    # uvicorn shuts down gracefully on SIGTERM (lifespan: the runtime closes its pools) and
    # then re-raises the signal to the handler installed before it: exit 0 there
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profile_path = os.environ.get(PROFILE_ENV)
    if not profile_path:
        server.run()
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        server.run()
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


if __name__ == "__main__":
    main()
