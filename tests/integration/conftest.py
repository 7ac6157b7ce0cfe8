"""Session fixtures: one real control plane, one moto server, one operator process.

Started once per test session (the control plane takes seconds, its build minutes). Every test
gets a fresh namespace, because no controller-manager runs to delete namespaces. The operator
runs as `gantry run` with the service-account identity and RBAC from deploy/base, so a missing
permission fails a test.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.cluster import ExistingCluster
from devstack.controlplane import ControlPlane
from devstack.moto import MotoServer
from devstack.operator import OperatorProcess
from devstack.processes import running
from support import KINDS, Stack, wait_for

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "base"

pytestmark = pytest.mark.integration

# Fast timers for tests; the defaults are for clusters (10-minute drift checks).
OPERATOR_ENV = {
    "GANTRY_DRIFT_INTERVAL": "4",
    "GANTRY_RETRY_DELAY": "2",
    "GANTRY_BLOCKED_RETRY_DELAY": "2",
    "GANTRY_FULL_CHECK_INTERVAL": "20",
    # moto's tokens expire in 2015, so pull secrets refresh on this fallback interval.
    "GANTRY_PULL_SECRET_FALLBACK_REFRESH": "6",
    "GANTRY_CLUSTER_ID": "test",
}

# moto's ECS services never roll: a new service reports this many running tasks, and its rollout
# COMPLETED only when that is at least its desiredCount. Ready needs runningCount ==
# desiredCount, so ECS tests use desiredCount 2 for services that should become Ready.
MOTO_ENV = {"MOTO_ECS_SERVICE_RUNNING": "2"}


def cluster(workdir: Path) -> ControlPlane:
    """The local control plane, or the cluster GANTRY_TEST_KUBECONFIG names (kind-e2e)."""
    existing = os.environ.get("GANTRY_TEST_KUBECONFIG")
    if existing:
        return ExistingCluster(workdir, Path(existing))
    return ControlPlane(workdir)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    started: list[int] = []
    with (
        cluster(workdir / "control-plane") as cp,
        MotoServer(workdir, extra_env=MOTO_ENV) as moto,
    ):
        started += cp.pids + moto.pids
        cp.kubectl("apply", "--server-side", "-k", str(ROOT / "crds"))
        cp.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        for name in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
            cp.kubectl("apply", "--server-side", "-f", str(DEPLOY / name))
        kubeconfig = cp.service_account_kubeconfig(
            "gantry-system", "gantry", workdir / "gantry.kubeconfig"
        )
        operator = OperatorProcess(
            kubeconfig, {**moto.client_env(), **OPERATOR_ENV}, workdir / "gantry.log"
        )
        operator.start()
        started += operator.pids
        try:
            yield Stack(cp, moto, operator)
        finally:
            operator.stop()
            if os.environ.get("GANTRY_TEST_SHOW_LOG"):
                print(operator.log_tail(200))
    # Every process this session started is gone: no etcd, kube-apiserver, moto or gantry.
    leftovers = [pid for pid in started if running(pid)]
    assert not leftovers, f"processes left running after the session: {leftovers}"


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm CLI, built from its pinned Go module on first use (hack/build-helm.sh)."""
    out = subprocess.run(
        ["bash", str(ROOT / "hack" / "build-helm.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


_counter = itertools.count()


@pytest.fixture
def namespace(stack: Stack, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace; on teardown its objects are deleted (the operator releases them)
    and moto is reset, so the next test starts from an empty AWS account."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())
    name = f"t{next(_counter)}-{slug}"[:60].strip("-")
    stack.cp.ensure_namespace(name)
    yield name
    # kubectl ignores -n for a cluster-scoped kind, so this deletes every ClusterEcrPullSecret:
    # no test wants one to outlive it. One kubectl call per step, for every kind at once:
    # each call costs a process start, and this runs after every integration test.
    stack.cp.kubectl("delete", ",".join(KINDS), "--all", "-n", name, "--wait=false", check=False)
    try:
        wait_for(lambda: not leftovers(stack, name), timeout=30, what=f"objects in {name} deleted")
    finally:
        # Anything still held (a deliberately blocked deletion) is released by hand.
        for line in leftovers(stack, name):
            release = '{"metadata":{"finalizers":null}}'
            stack.cp.kubectl("patch", line, "-n", name, "--type=merge", "-p", release, check=False)
        stack.moto.reset()


def leftovers(stack: Stack, namespace: str) -> list[str]:
    """The gantry.dev objects still in `namespace`, as kind/name."""
    out = stack.cp.kubectl("get", ",".join(KINDS), "-n", namespace, "-o", "name", check=False)
    return out.stdout.split()
