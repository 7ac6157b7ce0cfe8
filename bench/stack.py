"""The local stack for benchmarks: the same real parts the integration tests use."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from devstack.controlplane import ControlPlane
from devstack.moto import MotoServer
from devstack.operator import OperatorProcess

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class BenchStack:
    cp: ControlPlane
    moto: MotoServer
    operator: OperatorProcess
    env: dict[str, str]
    kubeconfig: Path
    workdir: Path

    def apply(self, documents: list[dict[str, Any]]) -> None:
        self.cp.kubectl(
            "apply",
            "--server-side",
            "-f",
            "-",
            input=yaml.safe_dump_all(documents),
            timeout=600,
        )

    def objects(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        out = self.cp.kubectl("get", plural, "-n", namespace, "-o", "json", timeout=600)
        items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
        return items

    def restart_operator(self) -> None:
        self.operator.stop()
        self.operator = OperatorProcess(
            self.kubeconfig, self.env, self.workdir / "gantry.log"
        ).start()

    def moto_client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name=self.env["AWS_REGION"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def rss_peak_mb(self) -> float:
        return _status_kb(self.operator.pids[0], "VmHWM") / 1024

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.operator.pids[0]}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / 100.0

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include `labels`."""
        import urllib.request

        url = f"http://127.0.0.1:{self.operator.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{"):
                continue
            head, value = line.rsplit(" ", 1)
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def bench_stack(
    workdir: Path, operator_env: dict[str, str], moto_env: dict[str, str] | None = None
) -> Iterator[BenchStack]:
    """The stack; `moto_env` is the moto server's extra environment (MOTO_ECS_SERVICE_RUNNING)."""
    with (
        ControlPlane(workdir / "control-plane") as cp,
        MotoServer(workdir, extra_env=moto_env) as moto,
    ):
        cp.kubectl("apply", "--server-side", "-k", str(ROOT / "crds"))
        cp.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        for name in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
            cp.kubectl("apply", "--server-side", "-f", str(ROOT / "deploy" / "base" / name))
        kubeconfig = cp.service_account_kubeconfig(
            "gantry-system", "gantry", workdir / "gantry.kubeconfig"
        )
        env = {**moto.client_env(), **operator_env}
        operator = OperatorProcess(kubeconfig, env, workdir / "gantry.log").start()
        stack = BenchStack(cp, moto, operator, env, kubeconfig, workdir)
        try:
            yield stack
        finally:
            stack.operator.stop()


def wait_until(probe: Any, timeout: float, interval: float = 0.5) -> float:
    """Seconds until `probe()` is true; raises after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if probe():
            return time.monotonic() - started
        time.sleep(interval)
    raise TimeoutError(f"not reached within {timeout}s")
