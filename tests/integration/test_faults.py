"""Reliability under faults: a crash after every AWS write, a throttling storm, an API server
restart. Every scenario ends where the fault-free run ends. Figures are printed for
docs/reliability.md; nothing here asserts on time.

These tests run their own operator processes (with fault settings), so the session's
operator is stopped for the module and started again afterwards.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from devstack.faultproxy import FaultProxy
from devstack.operator import OperatorProcess
from devstack.processes import running
from gantry.core.aws import is_read as aws_read
from support import GROUP_VERSION, Stack, condition, is_current, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def own_operators(stack: Stack) -> Iterator[None]:
    try:
        with stack.operator_stopped():
            yield
    finally:
        print("\nreliability figures:", json.dumps(FIGURES, indent=1))


def start_operator(stack: Stack, log: Path, **env: str) -> OperatorProcess:
    return OperatorProcess(stack.operator.kubeconfig, {**stack.operator.env, **env}, log).start()


def ready(stack: Stack, plural: str, namespace: str, name: str) -> bool:
    obj = stack.get(plural, namespace, name)
    if not is_current(obj):
        return False
    conditions = (obj or {}).get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def apply_all(stack: Stack, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        stack.apply(obj)


# -- scenarios ------------------------------------------------------------------------------


def repository(namespace: str, scan: bool = False) -> dict[str, Any]:
    rules = [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7 if not scan else 3,
            },
        }
    ]
    policy = {
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "ecr:*"}]
    }
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "EcrRepository",
        "metadata": {"name": "crash", "namespace": namespace},
        "spec": {
            "scanOnPush": scan,
            "imageTagMutability": "IMMUTABLE" if scan else "MUTABLE",
            "lifecyclePolicy": {"rules": rules},
            "repositoryPolicy": {"json": json.dumps(policy)},
            "tags": {"generation": "2" if scan else "1"},
        },
    }


def ecs_objects(
    namespace: str, image: str = "nginx:1.27", insights: str = "disabled"
) -> list[dict[str, Any]]:
    cluster = {
        "apiVersion": GROUP_VERSION,
        "kind": "EcsCluster",
        "metadata": {"name": "crash", "namespace": namespace},
        "spec": {"clusterName": f"crash-{namespace}"[:60], "containerInsights": insights},
    }
    service = {
        "apiVersion": GROUP_VERSION,
        "kind": "EcsService",
        "metadata": {"name": "crash", "namespace": namespace},
        "spec": {
            "clusterRef": {"name": "crash"},
            "launchType": "EC2",
            "desiredCount": 2,
            "taskTemplate": {
                "family": f"crash-{namespace}"[:60],
                "networkMode": "bridge",
                "containers": [{"name": "app", "image": image, "memory": 256}],
            },
        },
    }
    return [cluster, service]


def ecr_state(stack: Stack) -> dict[str, Any]:
    ecr = stack.aws("ecr")
    repos = ecr.describe_repositories()["repositories"]
    return {"repositories": sorted(r["repositoryName"] for r in repos)}


def ecs_state(stack: Stack) -> dict[str, Any]:
    ecs = stack.aws("ecs")
    families = ecs.list_task_definitions()["taskDefinitionArns"]
    clusters = ecs.list_clusters()["clusterArns"]
    services = [s for c in clusters for s in ecs.list_services(cluster=c)["serviceArns"]]
    return {"task_definitions": len(families), "clusters": len(clusters), "services": services}


# -- crash at every step --------------------------------------------------------------------


def crash_walk(
    stack: Stack,
    tmp_path: Path,
    namespace: str,
    prepare: Callable[[], None],
    act: Callable[[], None],
    converged: Callable[[], bool],
    state: Callable[[Stack], dict[str, Any]],
    label: str,
) -> None:
    """For n = 0, 1, 2, ...: run `prepare` with a healthy operator, then `act` with an operator
    that kills itself right after its nth AWS write, then let a healthy operator finish.
    n = 0 is the fault-free run (the hook is inert at 0); every later end state must equal
    it. The walk ends when the faulty operator survives (there is no nth write)."""
    expected = None
    crashes = 0
    # One operator runs at a time; whichever it is, it is stopped when the walk ends, failed
    # waits included.
    current = start_operator(stack, tmp_path / f"{label}-prepare.log")
    try:
        for n in range(0, 15):
            prepare()
            current.stop()
            current = start_operator(
                stack, tmp_path / f"{label}-{n}.log", GANTRY_TEST_CRASH_AFTER_WRITES=str(n)
            )
            act()
            pid = current.pids[0]
            wait_for(
                lambda pid=pid: not running(pid) or converged(),
                timeout=60,
                what=f"{label}: crash after write {n} or convergence",
            )
            crashed = not running(pid)
            if n == 0:
                FIGURES[f"writes: {label}"] = writes_made(current)
            current.stop()
            # The recovering operator also cleans up and prepares the next round.
            current = start_operator(stack, tmp_path / f"{label}-{n}-recover.log")
            wait_for(converged, timeout=90, what=f"{label}: convergence after crash at {n}")
            end = state(stack)
            if n == 0:
                expected = end
            else:
                assert end == expected, f"{label}: crash after write {n} ended elsewhere"
            clean(stack, namespace)
            if n > 0 and not crashed:
                break
            crashes += n > 0
    finally:
        current.stop()
    FIGURES[f"crash points: {label}"] = crashes


def writes_made(operator: OperatorProcess) -> dict[str, int]:
    """The AWS writes an operator made, by operation: the fault-free run's crash points."""
    return {
        op: n for (_, op, code), n in sorted(operator.aws_calls().items()) if is_write(op, code)
    }


SCENARIO_KINDS = "ecsservices,ecsclusters,ecrrepositories,cdkbootstraps"


def clean(stack: Stack, namespace: str) -> None:
    """Delete the scenario's objects (a healthy operator must be running to release them),
    then forget all AWS state."""
    stack.cp.kubectl(
        "delete", SCENARIO_KINDS, "--all", "-n", namespace, "--wait=false", check=False
    )

    def gone() -> bool:
        out = stack.cp.kubectl("get", SCENARIO_KINDS, "-n", namespace, "-o", "name", check=False)
        return out.stdout.strip() == ""

    wait_for(gone, timeout=300, what="scenario objects deleted")
    stack.moto.reset()


@pytest.mark.timeout(1200)
def test_repository_create_converges_after_a_crash_at_every_write(
    stack: Stack, namespace: str, tmp_path: Path
) -> None:
    crash_walk(
        stack,
        tmp_path,
        namespace,
        prepare=lambda: None,
        act=lambda: stack.apply(repository(namespace)),
        converged=lambda: ready(stack, "ecrrepositories", namespace, "crash"),
        state=ecr_state,
        label="EcrRepository create",
    )


@pytest.mark.timeout(1200)
def test_repository_update_converges_after_a_crash_at_every_write(
    stack: Stack, namespace: str, tmp_path: Path
) -> None:
    def prepare() -> None:
        stack.apply(repository(namespace))
        wait_for(lambda: ready(stack, "ecrrepositories", namespace, "crash"), what="created")

    def updated() -> bool:
        obj = stack.get("ecrrepositories", namespace, "crash") or {}
        return obj.get("metadata", {}).get("generation") == 2 and ready(
            stack, "ecrrepositories", namespace, "crash"
        )

    def state(s: Stack) -> dict[str, Any]:
        repo = s.aws("ecr").describe_repositories(repositoryNames=["crash"])["repositories"][0]
        return {**ecr_state(s), "mutability": repo["imageTagMutability"]}

    crash_walk(
        stack,
        tmp_path,
        namespace,
        prepare,
        act=lambda: stack.apply(repository(namespace, scan=True)),
        converged=updated,
        state=state,
        label="EcrRepository update",
    )


@pytest.mark.timeout(1200)
def test_repository_delete_converges_after_a_crash(
    stack: Stack, namespace: str, tmp_path: Path
) -> None:
    def prepare() -> None:
        stack.apply(repository(namespace))
        wait_for(lambda: ready(stack, "ecrrepositories", namespace, "crash"), what="created")

    crash_walk(
        stack,
        tmp_path,
        namespace,
        prepare,
        act=lambda: stack.delete("ecrrepositories", namespace, "crash"),
        converged=lambda: stack.get("ecrrepositories", namespace, "crash") is None,
        state=ecr_state,
        label="EcrRepository delete",
    )


@pytest.mark.timeout(1200)
def test_service_create_and_image_change_converge_after_a_crash_at_every_write(
    stack: Stack, namespace: str, tmp_path: Path
) -> None:
    def both_ready() -> bool:
        return ready(stack, "ecsclusters", namespace, "crash") and ready(
            stack, "ecsservices", namespace, "crash"
        )

    crash_walk(
        stack,
        tmp_path,
        namespace,
        prepare=lambda: None,
        act=lambda: apply_all(stack, ecs_objects(namespace)),
        converged=both_ready,
        state=ecs_state,
        label="EcsService create",
    )

    def prepare() -> None:
        apply_all(stack, ecs_objects(namespace))
        wait_for(both_ready, timeout=90, what="service created")

    def updated() -> bool:
        # moto never rolls a deployment forward, so the new revision's rollout stays in
        # progress: converged here means the service runs the new revision, Synced, and the
        # cluster has its new setting and is Ready.
        obj = stack.get("ecsservices", namespace, "crash")
        synced = condition(obj, "Synced").get("status") == "True"
        generation = (obj or {}).get("metadata", {}).get("generation")
        cluster = stack.get("ecsclusters", namespace, "crash") or {}
        cluster_updated = cluster.get("metadata", {}).get("generation") == 2 and ready(
            stack, "ecsclusters", namespace, "crash"
        )
        return bool(
            generation == 2 and is_current(obj) and synced and cluster_updated and on_revision(2)
        )

    def on_revision(number: int) -> bool:
        ecs = stack.aws("ecs")
        cluster = ecs.list_clusters()["clusterArns"][0]
        service = ecs.describe_services(cluster=cluster, services=["crash"])["services"][0]
        return bool(str(service["taskDefinition"]).endswith(f":{number}"))

    def update_state(s: Stack) -> dict[str, Any]:
        ecs = s.aws("ecs")
        described = ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"])
        settings = [c.get("settings") for c in described["clusters"]]
        return {**ecs_state(s), "cluster settings": settings}

    def act() -> None:
        # One edit of each kind at once: the cluster's Container Insights and the image.
        cluster, service = ecs_objects(namespace, image="nginx:1.28", insights="enabled")
        apply_all(stack, [cluster, service])

    crash_walk(
        stack,
        tmp_path,
        namespace,
        prepare,
        act=act,
        converged=updated,
        state=update_state,
        label="EcsService image change and EcsCluster update",
    )


@pytest.mark.timeout(1200)
def test_service_and_cluster_delete_converge_after_a_crash_at_every_write(
    stack: Stack, namespace: str, tmp_path: Path
) -> None:
    def prepare() -> None:
        apply_all(stack, ecs_objects(namespace))
        wait_for(
            lambda: (
                ready(stack, "ecsclusters", namespace, "crash")
                and ready(stack, "ecsservices", namespace, "crash")
            ),
            timeout=90,
            what="service created",
        )

    def act() -> None:
        stack.delete("ecsservices", namespace, "crash")
        stack.delete("ecsclusters", namespace, "crash")

    def both_gone() -> bool:
        return (
            stack.get("ecsservices", namespace, "crash") is None
            and stack.get("ecsclusters", namespace, "crash") is None
        )

    crash_walk(
        stack,
        tmp_path,
        namespace,
        prepare,
        act,
        converged=both_gone,
        state=ecs_state,
        label="EcsService and EcsCluster delete",
    )


REGION = "us-east-1"
TRUSTED_ACCOUNT = "111111111111"


def bootstrap(namespace: str, trust: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "regions": [REGION],
        "allowAdministratorAccess": True,
        "deletionPolicy": "Delete",
    }
    if trust:
        # Trusting an account needs explicit execution policies (the CDK CLI's rule too).
        spec["trust"] = {"accounts": [trust]}
        spec["cloudFormationExecutionPolicies"] = ["arn:aws:iam::aws:policy/PowerUserAccess"]
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "CdkBootstrap",
        "metadata": {"name": "crash", "namespace": namespace},
        "spec": spec,
    }


def cdk_state(stack: Stack) -> dict[str, Any]:
    summaries = stack.aws("cloudformation").list_stacks()["StackSummaries"]
    buckets = stack.aws("s3").list_buckets().get("Buckets", [])
    return {
        "stacks": sorted(
            s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"
        ),
        "buckets": sorted(b["Name"] for b in buckets),
    }


@pytest.mark.timeout(1200)
def test_bootstrap_create_update_and_delete_converge_after_a_crash_at_every_write(
    stack: Stack, namespace: str, tmp_path: Path
) -> None:
    crash_walk(
        stack,
        tmp_path,
        namespace,
        prepare=lambda: None,
        act=lambda: stack.apply(bootstrap(namespace)),
        converged=lambda: ready(stack, "cdkbootstraps", namespace, "crash"),
        state=cdk_state,
        label="CdkBootstrap create",
    )

    def prepare() -> None:
        stack.apply(bootstrap(namespace))
        wait_for(lambda: ready(stack, "cdkbootstraps", namespace, "crash"), what="bootstrapped")

    def trusted() -> bool:
        obj = stack.get("cdkbootstraps", namespace, "crash") or {}
        generation = obj.get("metadata", {}).get("generation")
        return generation == 2 and ready(stack, "cdkbootstraps", namespace, "crash")

    def trust_state(s: Stack) -> dict[str, Any]:
        deploy_role = f"cdk-hnb659fds-deploy-role-123456789012-{REGION}"
        role = s.aws("iam").get_role(RoleName=deploy_role)["Role"]
        return {**cdk_state(s), "deploy role trust": role["AssumeRolePolicyDocument"]}

    crash_walk(
        stack,
        tmp_path,
        namespace,
        prepare,
        act=lambda: stack.apply(bootstrap(namespace, trust=TRUSTED_ACCOUNT)),
        converged=trusted,
        state=trust_state,
        label="CdkBootstrap update",
    )

    def prepare() -> None:
        stack.apply(bootstrap(namespace))
        wait_for(lambda: ready(stack, "cdkbootstraps", namespace, "crash"), what="bootstrapped")

    crash_walk(
        stack,
        tmp_path,
        namespace,
        prepare,
        act=lambda: stack.delete("cdkbootstraps", namespace, "crash"),
        converged=lambda: stack.get("cdkbootstraps", namespace, "crash") is None,
        state=cdk_state,
        label="CdkBootstrap delete",
    )


# -- throttling storm -----------------------------------------------------------------------


def storm(
    stack: Stack, tmp_path: Path, namespace: str, throttle: float, html: float
) -> dict[str, Any]:
    """Ten repositories created through the fault proxy; what it cost, counted at the proxy
    (HTTP attempts, retries included) and by the operator (API calls by outcome)."""
    proxy = FaultProxy(stack.moto.url, throttle=throttle, html_500=html).start()
    operator = start_operator(stack, tmp_path / f"storm-{throttle}.log", AWS_ENDPOINT_URL=proxy.url)
    try:
        names = [f"storm-{i}" for i in range(10)]
        started = time.monotonic()
        for name in names:
            obj = repository(namespace)
            obj["metadata"]["name"] = name
            stack.apply(obj)
        wait_for(
            lambda: all(ready(stack, "ecrrepositories", namespace, n) for n in names),
            timeout=240,
            interval=1,
            what="every repository Ready through the storm",
        )
        calls = operator.aws_calls()
        figures = {
            "all_ready_s": round(time.monotonic() - started, 1),
            "http_attempts": proxy.counts.total,
            "throttled": proxy.counts.throttled,
            "html_500": proxy.counts.html_500,
            "writes": sum(n for (_, op, code), n in calls.items() if is_write(op, code)),
            "reads": sum(n for (_, op, code), n in calls.items() if is_read(op, code)),
            "error_answers": error_answers(calls),
        }
        FIGURES[f"storm {throttle:.0%} throttled, {html:.0%} HTML 500"] = figures
        return figures
    finally:
        try:
            clean(stack, namespace)  # deletion through the storm, too
        finally:
            operator.stop()
            proxy.stop()


def error_answers(calls: Counter[tuple[str, str, str]]) -> dict[str, int]:
    """Calls that ended in an error once botocore's retries were spent, by code. A new
    repository's first DescribeRepositories is answered not-found even without faults."""
    errors: Counter[str] = Counter()
    for (_, _, code), count in calls.items():
        if code != "Success":
            errors[code] += count
    return dict(errors)


def is_read(operation: str, code: str) -> bool:
    return code == "Success" and aws_read(operation)


def is_write(operation: str, code: str) -> bool:
    return code == "Success" and not aws_read(operation)


@pytest.mark.timeout(1200)
def test_every_object_converges_through_a_throttling_storm(
    stack: Stack, namespace: str, tmp_path: Path
) -> None:
    calm = storm(stack, tmp_path, namespace, throttle=0.0, html=0.0)
    stormy = storm(stack, tmp_path, namespace, throttle=0.4, html=0.05)
    FIGURES["storm HTTP attempts / fault-free attempts"] = round(
        stormy["http_attempts"] / calm["http_attempts"], 2
    )
    # A faulted request never reaches moto, so a retried write is never a second write.
    assert stormy["writes"] == calm["writes"]
    # No hot loop: retries cost calls, but a bounded multiple of the fault-free run.
    assert stormy["http_attempts"] < calm["http_attempts"] * 10


# -- API server restart ---------------------------------------------------------------------


def test_operator_reconnects_after_an_api_server_restart(
    stack: Stack, namespace: str, tmp_path: Path
) -> None:
    operator = start_operator(stack, tmp_path / "restart.log")
    try:
        stack.apply(repository(namespace))
        wait_for(lambda: ready(stack, "ecrrepositories", namespace, "crash"), what="before")
        stack.cp.restart_apiserver(down_seconds=5)
        after = repository(namespace)
        after["metadata"]["name"] = "after-restart"
        stack.apply(after)
        wait_for(
            lambda: ready(stack, "ecrrepositories", namespace, "after-restart"),
            timeout=120,
            what="an object created after the restart is reconciled",
        )
        assert running(operator.pids[0])
    finally:
        try:
            clean(stack, namespace)
        finally:
            operator.stop()


# -- startup in a cluster with many namespaces ----------------------------------------------


def test_operator_started_with_more_namespaces_than_workers_handles_objects(
    stack: Stack, namespace: str, tmp_path: Path
) -> None:
    """Namespaces outnumber the worker limit when the operator starts, and the object's
    namespace was bound to a region before the start: the object is still reconciled, with
    that binding. (A kopf index over Namespaces deadlocks here: every indexed Namespace holds
    a worker until all are indexed.)"""
    for i in range(5):
        stack.cp.ensure_namespace(f"{namespace[:50]}-extra{i}")
    stack.cp.kubectl("annotate", "namespace", namespace, "gantry.dev/aws-region=eu-west-1")
    operator = start_operator(stack, tmp_path / "few-workers.log", GANTRY_WORKER_LIMIT="3")
    try:
        stack.apply(repository(namespace))
        wait_for(
            lambda: ready(stack, "ecrrepositories", namespace, "crash"),
            timeout=60,
            what="the repository reconciled by an operator with 3 workers",
        )
        names = [
            r["repositoryName"]
            for r in stack.aws("ecr", "eu-west-1").describe_repositories()["repositories"]
        ]
        assert names == ["crash"], "the namespace's region binding was not used"
    finally:
        try:
            clean(stack, namespace)
        finally:
            operator.stop()


# -- load -----------------------------------------------------------------------------------

LOAD_OBJECTS = 200


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ready_count(stack: Stack, namespace: str) -> int:
    out = stack.cp.kubectl("get", "ecrrepositories", "-n", namespace, "-o", "json")
    items = json.loads(out.stdout)["items"]
    return sum(
        1 for obj in items if is_current(obj) and condition(obj, "Ready").get("status") == "True"
    )


@pytest.mark.timeout(900)
def test_two_hundred_objects_applied_at_once_all_converge_in_bounded_memory(
    stack: Stack, namespace: str, tmp_path: Path
) -> None:
    operator = start_operator(stack, tmp_path / "load.log")
    try:
        documents = []
        for i in range(LOAD_OBJECTS):
            obj = repository(namespace)
            obj["metadata"]["name"] = f"load-{i:03d}"
            documents.append(obj)
        started = time.monotonic()
        stack.cp.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(documents))
        wait_for(
            lambda: ready_count(stack, namespace) == LOAD_OBJECTS,
            timeout=600,
            interval=2,
            what=f"all {LOAD_OBJECTS} repositories Ready",
        )
        elapsed = time.monotonic() - started
        pid = operator.pids[0]
        assert running(pid), "the operator crashed under load"
        peak = peak_rss_mb(pid)
        repositories = ecr_state(stack)["repositories"]
        FIGURES[f"load: {LOAD_OBJECTS} EcrRepository applied at once"] = {
            "all_ready_s": round(elapsed, 1),
            "operator_peak_rss_mb": round(peak, 1),
            "repositories_in_aws": len(repositories),
        }
        assert len(repositories) == LOAD_OBJECTS  # one each: no duplicates, none missing
        # Bounded memory: the benchmark holds 1,000 objects in about 160 MB; this is a
        # generous ceiling that only a leak or an unbounded queue would cross.
        assert peak < 400, f"operator peak RSS {peak:.0f} MB under load"
    finally:
        try:
            clean(stack, namespace)
        finally:
            operator.stop()


def test_manifests_used_here_are_valid_yaml() -> None:
    # Guards the scenario builders above against drifting from the schemas' shapes.
    yaml.safe_dump(repository("x"))
    yaml.safe_dump_all(ecs_objects("x"))
