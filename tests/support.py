"""Helpers the integration tests share: applying manifests, reading objects, polling."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import yaml
from devstack.controlplane import ControlPlane
from devstack.moto import MotoServer
from devstack.operator import OperatorProcess
from gantry.core.aws import is_read

T = TypeVar("T")
GROUP_VERSION = "gantry.dev/v1alpha1"
CHART = Path(__file__).resolve().parents[1] / "deploy" / "helm" / "gantry"
# Every gantry.dev kind, by plural.
KINDS = (
    "ecrrepositories",
    "ecrpullsecrets",
    "clusterecrpullsecrets",
    "cdkbootstraps",
    "ecsservices",
    "ecsclusters",
)


def gantry_object(
    kind: str, namespace: str | None, name: str, spec: dict[str, Any]
) -> dict[str, Any]:
    """A gantry.dev manifest; `namespace` None for a cluster-scoped kind."""
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return {"apiVersion": GROUP_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


@dataclass
class Stack:
    cp: ControlPlane
    moto: MotoServer
    operator: OperatorProcess

    @contextlib.contextmanager
    def operator_stopped(self) -> Iterator[None]:
        """The session's operator stopped, for a module that runs operators of its own; it
        is started again afterwards."""
        self.operator.stop()
        try:
            yield
        finally:
            self.operator.start()

    def aws(self, service: str, region: str = "us-east-1") -> Any:
        env = self.moto.client_env()
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def apply(self, manifest: dict[str, Any], check: bool = True) -> str:
        result = self.cp.kubectl(
            "apply", "--validate=strict", "-f", "-", input=yaml.safe_dump(manifest), check=check
        )
        return result.stdout + result.stderr

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        result = self.cp.kubectl("get", plural, name, "-n", namespace, "-o", "json", check=False)
        if result.returncode != 0:
            return None
        obj: dict[str, Any] = json.loads(result.stdout)
        return obj

    def delete(self, plural: str, namespace: str, name: str) -> None:
        self.cp.kubectl("delete", plural, name, "-n", namespace, "--wait=false")

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        result = self.cp.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "-o",
            "json",
            f"--field-selector=involvedObject.name={name}",
        )
        items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
        return items

    def writes(self) -> int:
        """AWS calls the operator made that change something (anything but reads)."""
        return sum(
            count
            for (_, operation, _), count in self.operator.aws_calls().items()
            if not is_read(operation)
        )


def wait_for(
    probe: Callable[[], T | None],
    timeout: float = 60,
    interval: float = 0.5,
    what: str = "condition",
) -> T:
    """Poll until `probe` returns something truthy; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            found: dict[str, Any] = item
            return found
    return {}


def is_current(obj: dict[str, Any] | None) -> bool:
    """The operator has looked at the object's current generation."""
    if not obj:
        return False
    return bool(obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"])


def wait_condition(
    stack: Stack,
    plural: str,
    namespace: str,
    name: str,
    type_: str,
    status: str = "True",
    timeout: float = 60,
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = stack.get(plural, namespace, name)
        if is_current(obj) and condition(obj, type_).get("status") == status:
            return obj
        return None

    try:
        return wait_for(probe, timeout, what=f"{plural}/{name} {type_}={status}")
    except AssertionError as exc:
        obj = stack.get(plural, namespace, name)
        raise AssertionError(
            f"{exc}\nstatus: {json.dumps((obj or {}).get('status'), indent=1)}\n"
            f"operator log:\n{stack.operator.log_tail(40)}"
        ) from None


def render_chart(helm: str, *args: str) -> str:
    """The Helm chart rendered as release `gantry` in gantry-system, as the docs install it."""
    out = subprocess.run(
        [helm, "template", "gantry", str(CHART), "--namespace", "gantry-system", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout
