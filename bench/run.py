"""`make bench`: run the benchmarks on the local stack, print a table, write JSON results.

Usage: python -m bench.run [--only ecr|ecs] [--objects N] [--latency N] [--window S]
[--ecs-services N] [--image-changes N]. Without --only the EcrRepository benchmarks run first
and the EcsService ones after them, each on a stack of its own. The figures depend on the
machine; BENCHMARKS.md records the latest ones and where they came from.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import ecr, ecs
from bench.stack import bench_stack

RESULTS = Path(__file__).resolve().parent / "results"
SCALE = 10.0  # steady-state intervals run ten times faster than the defaults
# moto starts every new ECS service with this many running tasks and a COMPLETED deployment;
# the benchmark's services ask for as many, so they can become Ready.
MOTO_ENV = {"MOTO_ECS_SERVICE_RUNNING": "2"}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d"),
    }


def measure(results: dict[str, Any], key: str, title: str, figure: Callable[[], Any]) -> None:
    """Run one benchmark, keep its figures under `key` and print them as they come."""
    print(f"{title} ...", flush=True)
    results[key] = figure()
    print(results[key], flush=True)


def run(objects: int, latency_count: int, window: float) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine()}
    with (
        tempfile.TemporaryDirectory(prefix="gantry-bench-") as tmp,
        bench_stack(Path(tmp), {"GANTRY_CLUSTER_ID": "bench"}, MOTO_ENV) as stack,
    ):
        measure(results, "latency", "latency", lambda: ecr.latency(stack, latency_count))
        measure(results, "scale", "scale", lambda: ecr.scale(stack, objects))
        everything = objects + latency_count
        measure(results, "restart", "restart", lambda: ecr.restart(stack, everything))
        if window <= 0:
            return results
        stack.env.update(
            GANTRY_DRIFT_INTERVAL=str(600 / SCALE),
            GANTRY_FULL_CHECK_INTERVAL=str(7200 / SCALE),
        )
        stack.restart_operator()
        measure(
            results, "steady", "steady state", lambda: ecr.steady(stack, everything, SCALE, window)
        )
        measure(
            results,
            "detection",
            "drift detection",
            lambda: ecr.detection(stack, "bench-scale", "obj-7", SCALE),
        )
    return results


def run_ecs(services: int, changes: int) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine()}
    with (
        tempfile.TemporaryDirectory(prefix="gantry-bench-ecs-") as tmp,
        bench_stack(Path(tmp), {"GANTRY_CLUSTER_ID": "bench"}, MOTO_ENV) as stack,
    ):
        measure(
            results, "image_change", "ecs: image changes", lambda: ecs.image_change(stack, changes)
        )
        measure(
            results,
            "apply_to_ready",
            "ecs: service and cluster applied together, to Ready",
            lambda: ecs.apply_to_ready(stack, services),
        )
        measure(
            results,
            "service_to_ready",
            "ecs: service on a Ready cluster, to Ready",
            lambda: ecs.apply_to_ready(stack, services, cluster_first=True),
        )
    return results


def ecs_table(results: dict[str, Any]) -> str:
    ready, alone = results["apply_to_ready"], results["service_to_ready"]
    change = results["image_change"]
    writes = ", ".join(f"{op} x{n:g}" for op, n in change["write_operations_per_change"].items())
    reads = ", ".join(f"{op} x{n:g}" for op, n in change["read_operations_per_change"].items())
    polls = change["waiting_poll_calls"].get("ecs:DescribeServices", 0)
    per_minute = polls / change["waiting_services"] / (change["waiting_poll_window_s"] / 60)
    rows = [
        (
            f"EcsService + its EcsCluster applied together, to Ready ({ready['objects']} one "
            "at a time): p50 / p95 / p99",
            f"{ready['p50_s']} / {ready['p95_s']} / {ready['p99_s']} s",
        ),
        (
            f"EcsService on a Ready EcsCluster, to Ready ({alone['objects']} one at a time): "
            "p50 / p95 / p99",
            f"{alone['p50_s']} / {alone['p95_s']} / {alone['p99_s']} s",
        ),
        (
            "image change: AWS reads / writes per change (medians)",
            f"{change['reads_per_change']} / {change['writes_per_change']}",
        ),
        ("image change: writes (median per change)", writes or "none"),
        ("image change: reads (median per change)", reads or "none"),
        (
            "image change: edit to ECS on the new revision, p50",
            f"{change['change_to_ecs_p50_s']} s",
        ),
        (
            "then, waiting for moto's deployment: DescribeServices per service per minute",
            f"{per_minute:.2f}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure'.ljust(width)}  figure"]
    lines += [f"{a.ljust(width)}  {b}" for a, b in rows]
    return "\n".join(lines)


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
    parser.add_argument("--only", choices=("ecr", "ecs"), help="run one kind's benchmarks")
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--latency", type=int, default=100)
    # 750 s at ten times the default speed covers a full-check interval (720 s) as well as
    # many drift intervals, so both kinds of periodic read are in the figure.
    parser.add_argument("--window", type=float, default=750.0)
    parser.add_argument("--ecs-services", type=int, default=20)
    parser.add_argument("--image-changes", type=int, default=5)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    tables = []
    if args.only in (None, "ecr"):
        results = run(args.objects, args.latency, args.window)
        name = "ecr.json" if args.window > 0 else "ecr-no-steady.json"
        (RESULTS / name).write_text(json.dumps(results, indent=2) + "\n")
        tables.append(table(results))
    if args.only in (None, "ecs"):
        ecs_results = run_ecs(args.ecs_services, args.image_changes)
        (RESULTS / "ecs.json").write_text(json.dumps(ecs_results, indent=2) + "\n")
        tables.append(ecs_table(ecs_results))
    print("\n\n".join(tables))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
