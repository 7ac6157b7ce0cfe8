"""The operator as a real process (`gantry run`), for the integration tests and the demo.

It runs with whatever kubeconfig it is given (the tests give it a service-account token from
deploy/'s RBAC) and the AWS environment of the moto server. Its metrics endpoint is how tests
count AWS calls.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

from devstack.processes import free_port, stop_group

_SAMPLE = re.compile(r"^gantry_aws_requests_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: Path,
        env: dict[str, str],
        log_path: Path,
        extra_args: tuple[str, ...] = (),
        scope: tuple[str, ...] = ("--all-namespaces", "--standalone"),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.env = env
        self.log_path = log_path
        self.extra_args = extra_args
        self.scope = scope  # which namespaces, and standalone or peering
        self.metrics_port = 0
        self.health_port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> OperatorProcess:
        self.metrics_port = free_port()
        self.health_port = free_port()
        env = {**os.environ, **self.env, "KUBECONFIG": str(self.kubeconfig)}
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                _gantry(),
                "run",
                *self.scope,
                "--verbose",
                "--metrics-address",
                f"127.0.0.1:{self.metrics_port}",
                "--liveness",
                f"http://127.0.0.1:{self.health_port}/healthz",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"gantry exited early; log:\n{self.log_tail()}")
            try:
                url = f"http://127.0.0.1:{self.health_port}/healthz"
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"gantry was not healthy within {timeout}s; log:\n{self.log_tail()}")

    @property
    def pids(self) -> list[int]:
        return [self._process.pid] if self._process is not None else []

    def aws_calls(self) -> Counter[tuple[str, str, str]]:
        """(service, operation, code) -> count, read from the metrics endpoint."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        counts: Counter[tuple[str, str, str]] = Counter()
        for line in text.splitlines():
            match = _SAMPLE.match(line)
            if match:
                labels = dict(_LABEL.findall(match["labels"]))
                key = (labels["service"], labels["operation"], labels["code"])
                counts[key] = int(float(match["value"]))
        return counts

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_group(process, grace=15)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _gantry() -> str:
    # The console script installed beside the running interpreter (the project's venv).
    import sys

    candidate = Path(sys.executable).parent / "gantry"
    return str(candidate) if candidate.exists() else "gantry"
