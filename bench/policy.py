"""How long the policy engine takes to decide a 200-field operation (prints, asserts nothing).

    .venv/bin/python bench/policy.py
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from authz import Catalog, FieldBinding, RequestContext, decide_fields  # noqa: E402
from authz.cache import DecisionCache  # noqa: E402
from authz.context import Recipient  # noqa: E402
from gateway.catalog_files import demo_files, load_bundle  # noqa: E402


def main() -> None:
    demo = load_bundle(demo_files()).catalog
    items = sorted(c for c, i in demo.items.items() if i.fields)
    bindings = {f"Person.f{i}": FieldBinding(f"Person.f{i}", items[i % len(items)], "P03" if i % 10 == 0 else None) for i in range(200)}
    catalog = Catalog(1, demo.agencies, demo.items, {**demo.bindings, **bindings}, demo.divisions)
    paths = tuple(bindings)
    contexts = {
        "city agency": RequestContext("gz-zfcxjsj", "zj.housing-security", frozenset({"zj.housing-security"}), dt.date(2026, 11, 30)),
        "on behalf of a district": RequestContext(
            "gz-zfcxjsj", "zj.housing-security", frozenset({"zj.housing-security"}), dt.date(2026, 11, 30), (Recipient("th-mzj", "mz.assistance"),)
        ),
    }
    print("decision set for a 200-field operation (policy engine alone, this machine)")
    for name, ctx in contexts.items():
        samples = []
        for _ in range(300):
            started = time.perf_counter()
            decide_fields(catalog, ctx, paths)
            samples.append(time.perf_counter() - started)
        cache = DecisionCache()
        cache.decide(catalog, ctx, paths)
        cached = []
        for _ in range(300):
            started = time.perf_counter()
            cache.decide(catalog, ctx, paths)
            cached.append(time.perf_counter() - started)
        print(
            f"  {name:<26} uncached p50 {statistics.median(samples) * 1e3:.3f} ms, p99 {sorted(samples)[296] * 1e3:.3f} ms;"
            f" cached p50 {statistics.median(cached) * 1e6:.1f} µs"
        )


if __name__ == "__main__":
    main()
