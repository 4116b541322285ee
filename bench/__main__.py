"""``python -m bench``: every benchmark, one after the other (the broker must run for two)."""

from __future__ import annotations

import runpy
import sys

for module in (
    "bench.bench_codec",
    "bench.bench_engine",
    "bench.bench_sdk",
    "bench.bench_pipeline",
):
    print(f"\n=== {module}", flush=True)
    sys.argv = [module]
    runpy.run_module(module, run_name="__main__")
