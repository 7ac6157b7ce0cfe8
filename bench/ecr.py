"""EcrRepository benchmarks: latency, scale, steady state, restart. Figures, not assertions."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from typing import Any

import kubernetes
from gantry.core.aws import READ_PREFIXES

from bench.stack import BenchStack, wait_until

GROUP, VERSION, PLURAL = "gantry.dev", "v1alpha1", "ecrrepositories"
READS = READ_PREFIXES


def api(stack: BenchStack) -> Any:
    client = kubernetes.config.new_client_from_config(config_file=str(stack.cp.kubeconfig))
    return kubernetes.client.CustomObjectsApi(client)


def body(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcrRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"scanOnPush": True, "tags": {"bench": "yes"}},
    }


def is_ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def latency(stack: BenchStack, count: int = 100) -> dict[str, float]:
    """Objects applied one at a time; apply-to-Ready for each."""
    namespace = "bench-latency"
    stack.cp.ensure_namespace(namespace)
    custom = api(stack)
    samples = []
    for i in range(count):
        name = f"lat-{i}"
        started = time.monotonic()
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body(namespace, name)
        )
        wait_until(
            lambda n=name: is_ready(
                custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, n)
            ),
            timeout=60,
            interval=0.01,
        )
        samples.append(time.monotonic() - started)
    return {
        "objects": count,
        "p50_s": round(statistics.median(samples), 3),
        "p95_s": round(percentile(samples, 0.95), 3),
        "p99_s": round(percentile(samples, 0.99), 3),
    }


def scale(stack: BenchStack, count: int = 1000) -> dict[str, float]:
    """Objects applied at once; time until every one is Ready."""
    namespace = "bench-scale"
    stack.cp.ensure_namespace(namespace)
    cpu_before = stack.cpu_seconds()
    started = time.monotonic()
    stack.apply([body(namespace, f"obj-{i}") for i in range(count)])
    applied = time.monotonic() - started

    def all_ready() -> bool:
        return sum(is_ready(o) for o in stack.objects(PLURAL, namespace)) == count

    elapsed = applied + wait_until(all_ready, timeout=900, interval=1)
    return {
        "objects": count,
        "apply_s": round(applied, 1),
        "all_ready_s": round(elapsed, 1),
        "peak_rss_mb": round(stack.rss_peak_mb(), 1),
        "cpu_s": round(stack.cpu_seconds() - cpu_before, 1),
    }


def calls(stack: BenchStack) -> Counter[tuple[str, str, str]]:
    return stack.operator.aws_calls()


def split(delta: Counter[tuple[str, str, str]]) -> tuple[int, int]:
    reads = sum(n for (_, op, _), n in delta.items() if op.startswith(READS))
    writes = sum(n for (_, op, _), n in delta.items() if not op.startswith(READS))
    return reads, writes


def reconciled(stack: BenchStack) -> float:
    return stack.metric("controller_runtime_reconcile_total", controller="ecrrepository")


def restart(stack: BenchStack, count: int) -> dict[str, float]:
    """Restart with every object in sync; time until each one was checked again."""
    stack.restart_operator()
    started = time.monotonic()
    elapsed = wait_until(lambda: reconciled(stack) >= count, timeout=600, interval=0.5)
    reads, writes = split(calls(stack))
    return {
        "objects": count,
        "all_checked_s": round(elapsed, 1),
        "aws_reads": reads,
        "aws_writes": writes,
        "peak_rss_mb": round(stack.rss_peak_mb(), 1),
        "since_start_s": round(time.monotonic() - started, 1),
    }


def steady(stack: BenchStack, count: int, scale_factor: float, window: float) -> dict[str, float]:
    """AWS calls of a fleet in sync over a window, per object per hour at default settings.

    The operator runs with every interval divided by `scale_factor`, so the window covers
    several drift intervals; reads per hour at default settings are the measured rate divided
    by the same factor (every periodic cost is proportional to its interval).
    """
    time.sleep(min(window, 60))  # let the restart's resumes and first timers pass
    before = calls(stack)
    time.sleep(window)
    reads, writes = split(calls(stack) - before)
    per_hour = 3600 / window / count / scale_factor
    return {
        "objects": count,
        "window_s": window,
        "interval_scale": scale_factor,
        "reads_per_object_hour_at_defaults": round(reads * per_hour, 3),
        "writes": writes,
    }


def detection(stack: BenchStack, namespace: str, name: str, scale_factor: float) -> dict[str, Any]:
    """A setting changed outside Gantry: time until it is found and restored."""
    ecr = stack.moto_client("ecr")
    ecr.put_image_scanning_configuration(
        repositoryName=name, imageScanningConfiguration={"scanOnPush": False}
    )

    def restored() -> bool:
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        return bool(repo["imageScanningConfiguration"]["scanOnPush"])

    elapsed = wait_until(restored, timeout=900, interval=0.5)
    return {
        "measured_s": round(elapsed, 1),
        "drift_interval_s": 600 / scale_factor,
        "at_defaults_bound_s": 600,
    }
