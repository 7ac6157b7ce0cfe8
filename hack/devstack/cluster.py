"""An existing cluster (kind, or any in a kubeconfig) in place of the local control plane.

The integration tests use it when GANTRY_TEST_KUBECONFIG names a kubeconfig, so the same
tests run against a cluster with a controller-manager (hack/kind-e2e.sh does this). It
offers the ControlPlane interface the tests use and starts and stops nothing.
"""

from __future__ import annotations

import base64
import os
import pathlib
import shutil
from typing import Any

import yaml

from devstack.controlplane import ControlPlane, ControlPlaneError


class ExistingCluster(ControlPlane):
    def __init__(self, workdir: str | os.PathLike[str], kubeconfig: pathlib.Path) -> None:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise ControlPlaneError("kubectl is needed on PATH to use an existing cluster")
        super().__init__(workdir, binaries=pathlib.Path(kubectl).parent)
        self.kubeconfig = kubeconfig.resolve()
        self._existing_server: str | None = None

    @property
    def server(self) -> str:
        if self._existing_server is None:
            raise ControlPlaneError("the cluster has not been read yet; call start()")
        return self._existing_server

    def start(self) -> None:
        """Read the server and CA the kubeconfig's current context names."""
        config: dict[str, Any] = yaml.safe_load(self.kubeconfig.read_text())
        context_name = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        self._existing_server = str(cluster["server"])
        self.pki_dir.mkdir(parents=True, exist_ok=True)
        if "certificate-authority-data" in cluster:
            self.ca_file.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        else:
            shutil.copyfile(cluster["certificate-authority"], self.ca_file)

    def stop(self) -> None:
        """Nothing to stop: the cluster is not ours."""

    @property
    def pids(self) -> list[int]:
        return []
