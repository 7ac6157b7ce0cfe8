"""More than one replica: the Helm chart's peering set-up lets exactly one operator act, and
another takes over when it stops. Proven with two real `gantry run --peering` processes that
hold the chart's RBAC, for an operator watching every namespace (a ClusterKopfPeering) and one
watching a list of namespaces (a KopfPeering in each).

The session's operator is standalone and would act on everything, so it is stopped for this
module and started again afterwards; the deploy/base RBAC is put back too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from devstack.operator import OperatorProcess
from support import Stack, condition, gantry_object, render_chart, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# What the chart adds for peering: the peering CRD and object, and the RBAC that reaches them.
PEERING_KINDS = {
    "CustomResourceDefinition",
    "ClusterKopfPeering",
    "KopfPeering",
    "ClusterRole",
}


@pytest.fixture(scope="module", autouse=True)
def replicas_only(stack: Stack) -> Iterator[None]:
    with stack.operator_stopped():
        try:
            yield
        finally:
            stack.cp.kubectl("apply", "--server-side", "-f", str(ROOT / "deploy/base/rbac.yaml"))


def install_peering(stack: Stack, helm: str, *values: str) -> None:
    """Apply the chart's peering CRD, peering objects and ClusterRole, as `helm install` would
    (the peering objects are post-install hooks, so they come once the CRD is established)."""
    documents = yaml.safe_load_all(render_chart(helm, "--set", "replicas=2", *values))
    chosen = [d for d in documents if d and d["kind"] in PEERING_KINDS]
    chosen = [d for d in chosen if not d["metadata"]["name"].endswith(".gantry.dev")]
    crds = [d for d in chosen if d["kind"] == "CustomResourceDefinition"]
    rest = [d for d in chosen if d["kind"] != "CustomResourceDefinition"]
    stack.cp.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(crds))
    stack.cp.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    stack.cp.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(rest))


def replica(stack: Stack, log: Path, priority: int, scope: tuple[str, ...]) -> OperatorProcess:
    return OperatorProcess(
        stack.operator.kubeconfig,
        stack.operator.env,
        log,
        scope=(*scope, "--peering", "--peering-name=gantry", f"--priority={priority}"),
    ).start()


def repository(stack: Stack, namespace: str, name: str) -> dict[str, Any]:
    stack.apply(gantry_object("EcrRepository", namespace, name, {}))

    def ready() -> dict[str, Any] | None:
        obj = stack.get("ecrrepositories", namespace, name)
        return obj if condition(obj, "Ready").get("status") == "True" else None

    return wait_for(ready, timeout=60, what=f"EcrRepository {name} Ready")


def creates(operator: OperatorProcess) -> int:
    return sum(n for (_, op, _), n in operator.aws_calls().items() if op == "CreateRepository")


def one_acts_then_the_other_takes_over(
    stack: Stack, namespace: str, tmp_path: Path, scope: tuple[str, ...]
) -> None:
    active = replica(stack, tmp_path / "active.log", 100, scope)
    standby = replica(stack, tmp_path / "standby.log", 10, scope)
    try:
        repository(stack, namespace, "first")
        assert creates(active) == 1
        assert sum(standby.aws_calls().values()) == 0, standby.log_tail()

        active.stop()  # a graceful stop leaves the peering, so the standby resumes
        repository(stack, namespace, "second")
        assert creates(standby) == 1
        # Released by the replica still running: no operator is left to do it afterwards.
        for name in ("first", "second"):
            stack.delete("ecrrepositories", namespace, name)
        wait_for(
            lambda: (
                not any(stack.get("ecrrepositories", namespace, n) for n in ("first", "second"))
            ),
            timeout=60,
            what="both repositories' objects deleted",
        )
    finally:
        active.stop()
        standby.stop()


def test_with_every_namespace_watched_one_replica_acts_and_another_takes_over(
    stack: Stack, helm: str, namespace: str, tmp_path: Path
) -> None:
    install_peering(stack, helm)
    one_acts_then_the_other_takes_over(stack, namespace, tmp_path, ("--all-namespaces",))


def test_with_listed_namespaces_one_replica_acts_and_another_takes_over(
    stack: Stack, helm: str, namespace: str, tmp_path: Path
) -> None:
    install_peering(stack, helm, "--set", f"watchNamespaces={{{namespace}}}")
    one_acts_then_the_other_takes_over(stack, namespace, tmp_path, (f"--namespace={namespace}",))
