"""The foundation through real parts: CRDs on a real API server, the operator as a process."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import Stack, gantry_object, wait_condition

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def repository(namespace: str, name: str, **spec: object) -> dict[str, object]:
    return gantry_object("EcrRepository", namespace, name, spec)


def test_every_crd_passes_server_side_dry_run(stack: Stack) -> None:
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        stack.cp.kubectl("apply", "--server-side", "--dry-run=server", "-f", str(path))


def test_operator_writes_observed_generation_and_conditions(stack: Stack, namespace: str) -> None:
    stack.apply(repository(namespace, "first-repo"))
    obj = wait_condition(stack, "ecrrepositories", namespace, "first-repo", "Ready")
    status = obj["status"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert {c["type"] for c in status["conditions"]} >= {"Ready", "Synced"}
    assert all(c["observedGeneration"] == 1 for c in status["conditions"])


def test_new_object_reads_as_not_yet_observed(stack: Stack, namespace: str) -> None:
    # The status default keeps kstatus from calling a brand-new object Current.
    out = stack.cp.kubectl(
        "create",
        "--dry-run=server",
        "-o",
        "jsonpath={.status.observedGeneration}",
        "-f",
        "-",
        input=__import__("yaml").safe_dump(repository(namespace, "dry")),
    )
    assert out.stdout == "-1"


def test_field_of_wrong_type_is_refused_naming_the_field(stack: Stack, namespace: str) -> None:
    out = stack.apply(repository(namespace, "bad-type", scanOnPush="yes please"), check=False)
    assert "spec.scanOnPush" in out


def test_unknown_field_is_refused_naming_the_field(stack: Stack, namespace: str) -> None:
    out = stack.apply(repository(namespace, "bad-field", scanOnPushh=True), check=False)
    assert "scanOnPushh" in out
    assert stack.get("ecrrepositories", namespace, "bad-field") is None


def test_operator_identity_has_only_what_it_needs(stack: Stack) -> None:
    as_operator = ["--as=system:serviceaccount:gantry-system:gantry"]

    def can(*args: str) -> bool:
        out = stack.cp.kubectl("auth", "can-i", *args, *as_operator, check=False)
        return out.stdout.strip() == "yes"

    assert can("patch", "ecrrepositories.gantry.dev", "-A")
    assert can("list", "namespaces")
    assert not can("get", "secrets", "-n", "kube-system")
    assert not can("delete", "namespaces")
    assert not can("create", "ecrrepositories.gantry.dev", "-n", "default")


def test_kubectl_wait_returns_once_the_current_generation_is_ready(
    stack: Stack, namespace: str
) -> None:
    for generation, scan in ((1, False), (2, True)):
        stack.apply(repository(namespace, "waited", scanOnPush=scan))
        stack.cp.kubectl(
            "wait",
            "--for=condition=Ready",
            "ecrrepository/waited",
            "-n",
            namespace,
            "--timeout=60s",
        )
        obj = stack.get("ecrrepositories", namespace, "waited")
        assert obj is not None
        assert obj["metadata"]["generation"] == generation
        assert obj["status"]["observedGeneration"] == generation
