"""EcsService benchmarks: apply to Ready (with its EcsCluster), AWS calls per image change.

moto's ECS services never roll: a new service reports MOTO_ECS_SERVICE_RUNNING running tasks
and a COMPLETED deployment (bench.run sets it to the services' desiredCount, 2), and a later
UpdateService leaves the deployment on the old revision. So an image change is measured up
to the point where ECS names the new revision and the operator has recorded it; after that
the operator reports `WaitingForDeployment` and polls (one DescribeServices per retry delay),
which is counted apart as a rate.

The operator's AWS call counters are per operation, not per object, so `image_change` runs
first, while only its own services exist.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from typing import Any

from bench.ecr import READS, api, is_ready, percentile
from bench.stack import BenchStack, wait_until

GROUP, VERSION = "gantry.dev", "v1alpha1"
SERVICES, CLUSTERS = "ecsservices", "ecsclusters"
NAMESPACE = "bench-ecs"
FIRST_IMAGE, SECOND_IMAGE = "nginx:1.26", "nginx:1.27"


def cluster_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcsCluster",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"clusterName": name, "tags": {"bench": "yes"}},
    }


def containers(image: str) -> list[dict[str, Any]]:
    return [{"name": "web", "image": image, "memory": 256, "ports": [{"containerPort": 80}]}]


def service_body(name: str, cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EcsService",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "clusterRef": {"name": cluster},
            "launchType": "EC2",
            "desiredCount": 2,  # what moto reports running (MOTO_ECS_SERVICE_RUNNING)
            "taskTemplate": {"containers": containers(FIRST_IMAGE)},
            "tags": {"bench": "yes"},
        },
    }


def apply_to_ready(
    stack: BenchStack, count: int = 20, cluster_first: bool = False
) -> dict[str, Any]:
    """EcsServices created one at a time, each on an EcsCluster of its own; time until the
    service is Ready (its deployment COMPLETED on its revision).

    With `cluster_first` the cluster is created and Ready before the clock starts, so only the
    service is timed; otherwise the clock starts before the cluster is created (both applied
    together, as a first `kubectl apply` of both would)."""
    stack.cp.ensure_namespace(NAMESPACE)
    custom = api(stack)
    prefix = "after" if cluster_first else "pair"
    samples = []
    for i in range(count):
        cluster, name = f"{prefix}-cl-{i}", f"{prefix}-svc-{i}"
        started = time.monotonic()
        custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, CLUSTERS, cluster_body(cluster)
        )
        if cluster_first:
            wait_until(
                lambda c=cluster: is_ready(
                    custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, CLUSTERS, c)
                ),
                timeout=120,
                interval=0.02,
            )
            started = time.monotonic()
        custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, SERVICES, service_body(name, cluster)
        )
        try:
            wait_until(
                lambda n=name: is_ready(
                    custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, SERVICES, n)
                ),
                timeout=120,
                interval=0.02,
            )
        except TimeoutError:
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, SERVICES, name)
            raise TimeoutError(f"{name} not Ready in 120 s: {obj.get('status')}") from None
        samples.append(time.monotonic() - started)
    return {
        "objects": count,
        "cluster_first": cluster_first,
        "p50_s": round(statistics.median(samples), 3),
        "p95_s": round(percentile(samples, 0.95), 3),
        "p99_s": round(percentile(samples, 0.99), 3),
        "max_s": round(max(samples), 3),
    }


def _quiet(stack: BenchStack, seconds: float, timeout: float = 60) -> None:
    """Wait until the operator has made no AWS call for `seconds`."""
    deadline = time.monotonic() + timeout
    last = stack.operator.aws_calls()
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = stack.operator.aws_calls()
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= seconds:
            return


def _ecs_task_definition(stack: BenchStack, cluster: str, name: str) -> str:
    ecs = stack.moto_client("ecs")
    found = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
    return str(found["taskDefinition"])


def image_change(stack: BenchStack, changes: int = 5, poll_window: float = 60) -> dict[str, Any]:
    """AWS calls the operator makes for one image change of a Ready service.

    Run it first on a fresh stack: the operator's call counters are global, so other objects'
    periodic checks would be counted too. It makes `changes` EcsCluster/EcsService pairs of
    its own (not timed) and waits until every one is Ready and the operator is quiet. Each
    change edits `taskTemplate.containers[0].image` of one service; calls are counted from the
    edit until ECS names the new revision, status shows it, and no call has followed for 3 s
    (less than the 15 s retry delay, so no waiting-poll is included). Then the polling of the
    services waiting for moto's never-starting deployment is counted over `poll_window`.
    """
    stack.cp.ensure_namespace(NAMESPACE)
    custom = api(stack)
    for i in range(changes):
        custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, CLUSTERS, cluster_body(f"chg-cl-{i}")
        )
        custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, SERVICES, service_body(f"chg-svc-{i}", f"chg-cl-{i}")
        )
    wait_until(
        lambda: all(
            is_ready(custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, SERVICES, n))
            for n in (f"chg-svc-{i}" for i in range(changes))
        ),
        timeout=120,
        interval=0.5,
    )
    _quiet(stack, 3)
    per_change: list[Counter[tuple[str, str]]] = []
    seconds = []
    for i in range(changes):
        name, cluster = f"chg-svc-{i}", f"chg-cl-{i}"
        before = stack.operator.aws_calls()
        started = time.monotonic()
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            NAMESPACE,
            SERVICES,
            name,
            {"spec": {"taskTemplate": {"containers": containers(SECOND_IMAGE)}}},
        )

        def recorded(n: str = name, c: str = cluster) -> bool:
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, SERVICES, n)
            revision = ((obj.get("status") or {}).get("taskDefinition") or {}).get("revision")
            return revision == 2 and _ecs_task_definition(stack, c, n).endswith(":2")

        wait_until(recorded, timeout=120, interval=0.05)
        seconds.append(time.monotonic() - started)
        _quiet(stack, 3)
        delta = stack.operator.aws_calls() - before
        per_change.append(Counter({(svc, op): n for (svc, op, _), n in delta.items()}))

    # The counters are global: a window can also hold a 15 s poll of a service changed
    # earlier (it waits for moto's deployment). So each operation's figure is its median
    # over the changes; the raw sums are kept as `calls_total`.
    total: Counter[tuple[str, str]] = Counter()
    for change in per_change:
        total.update(change)
    median = {key: statistics.median(c[key] for c in per_change) for key in sorted(total)}
    reads = sum(n for (_, op), n in median.items() if _read(op))
    writes = {f"{svc}:{op}": n for (svc, op), n in median.items() if not _read(op) and n}
    reads_by_op = {f"{svc}:{op}": n for (svc, op), n in median.items() if _read(op) and n}
    all_calls = {f"{svc}:{op}": n for (svc, op), n in sorted(total.items())}

    before = stack.operator.aws_calls()
    time.sleep(poll_window)
    polled = stack.operator.aws_calls() - before
    return {
        "changes": changes,
        "change_to_ecs_p50_s": round(statistics.median(seconds), 3),
        "reads_per_change": reads,
        "writes_per_change": sum(writes.values()),
        "read_operations_per_change": reads_by_op,
        "write_operations_per_change": writes,
        "calls_total": all_calls,
        "waiting_poll_window_s": poll_window,
        "waiting_services": changes,
        "waiting_poll_calls": {f"{s}:{op}": n for (s, op, _), n in sorted(polled.items())},
    }


def _read(operation: str) -> bool:
    return operation.startswith(READS)
