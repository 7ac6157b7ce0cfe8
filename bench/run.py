"""`make bench`: run the benchmarks on the local stack, print a table, write JSON results.

Usage: python -m bench.run [--objects N] [--latency N] [--window S]. The figures depend on
the machine; BENCHMARKS.md records the latest ones and where they came from.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ecr
from bench.stack import bench_stack

RESULTS = Path(__file__).resolve().parent / "results"
SCALE = 10.0  # steady-state intervals run ten times faster than the defaults


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def run(objects: int, latency_count: int, window: float) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine()}
    with (
        tempfile.TemporaryDirectory(prefix="gantry-bench-") as tmp,
        bench_stack(Path(tmp), {"GANTRY_CLUSTER_ID": "bench"}) as stack,
    ):
        print("latency ...", flush=True)
        results["latency"] = ecr.latency(stack, latency_count)
        print(results["latency"], flush=True)
        print("scale ...", flush=True)
        results["scale"] = ecr.scale(stack, objects)
        print(results["scale"], flush=True)
        print("restart ...", flush=True)
        results["restart"] = ecr.restart(stack, objects + latency_count)
        print(results["restart"], flush=True)
        if window <= 0:
            return results
        print("steady state ...", flush=True)
        stack.env.update(
            GANTRY_DRIFT_INTERVAL=str(600 / SCALE),
            GANTRY_FULL_CHECK_INTERVAL=str(7200 / SCALE),
        )
        stack.restart_operator()
        results["steady"] = ecr.steady(stack, objects + latency_count, SCALE, window)
        print(results["steady"], flush=True)
        results["detection"] = ecr.detection(stack, "bench-scale", "obj-7", SCALE)
        print(results["detection"], flush=True)
    return results


def table(results: dict[str, Any]) -> str:
    lat, sc, rs = (results[k] for k in ("latency", "scale", "restart"))
    rows = [
        (
            "latency p50 / p95 / p99",
            f"{lat['p50_s']} / {lat['p95_s']} / {lat['p99_s']} s",
            "p50 <= 0.5 s",
        ),
        (f"{sc['objects']} objects to Ready", f"{sc['all_ready_s']} s", "<= 60 s"),
        ("peak RSS", f"{sc['peak_rss_mb']} MB", "< 250 MB"),
        ("CPU for the scale run", f"{sc['cpu_s']} s", ""),
        ("restart: all checked", f"{rs['all_checked_s']} s", "<= 60 s"),
        ("restart: AWS reads / writes", f"{rs['aws_reads']} / {rs['aws_writes']}", "writes 0"),
    ]
    if "steady" in results:
        rows += steady_rows(results["steady"], results["detection"])
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure'.ljust(width)}  {'figure':<34} target"]
    lines += [f"{a.ljust(width)}  {b:<34} {c}" for a, b, c in rows]
    return "\n".join(lines)


def steady_rows(st: dict[str, Any], de: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        ("steady: reads per object-hour", f"{st['reads_per_object_hour_at_defaults']}", "<= 3"),
        ("steady: writes", f"{st['writes']}", "0"),
        (
            "outside change restored",
            f"{de['measured_s']} s at a {de['drift_interval_s']} s interval",
            "within one drift interval",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--latency", type=int, default=100)
    # 750 s at ten times the default speed covers a full-check interval (720 s) as well as
    # many drift intervals, so both kinds of periodic read are in the figure.
    parser.add_argument("--window", type=float, default=750.0)
    args = parser.parse_args()
    results = run(args.objects, args.latency, args.window)
    RESULTS.mkdir(exist_ok=True)
    name = "ecr.json" if args.window > 0 else "ecr-no-steady.json"
    (RESULTS / name).write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
