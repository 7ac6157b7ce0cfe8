"""deploy/ is proven against the real API server: the kustomize base and the rendered Helm
chart pass a server-side dry run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from support import CHART, Stack, render_chart

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_kustomize_base_passes_server_side_dry_run(stack: Stack) -> None:
    stack.cp.kubectl("apply", "--server-side", "--dry-run=server", "-k", str(ROOT / "deploy/base"))


@pytest.mark.parametrize(
    "values",
    [
        (),
        ("--set", "replicas=2", "--set", "watchNamespaces={a,b}"),
        ("--set", "crds.install=false", "--set", "metrics.enabled=false"),
    ],
)
def test_rendered_chart_passes_server_side_dry_run(
    stack: Stack, helm: str, values: tuple[str, ...]
) -> None:
    manifests = render_chart(helm, *values)
    for namespace in ("a", "b"):  # the peering objects of watchNamespaces={a,b} live there
        stack.cp.ensure_namespace(namespace)
    # As on a real install, CRDs exist before the objects of their kinds are sent.
    crds = [
        d for d in yaml.safe_load_all(manifests) if d and d["kind"] == "CustomResourceDefinition"
    ]
    if crds:
        stack.cp.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            input=yaml.safe_dump_all(crds),
        )
        stack.cp.kubectl("wait", "--for=condition=Established", "crd", "--all")
    stack.cp.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "-f",
        "-",
        input=manifests,
    )


def test_chart_lints_strictly(helm: str) -> None:
    out = subprocess.run([helm, "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_chart_refuses_a_misspelt_value(helm: str) -> None:
    out = subprocess.run(
        [helm, "template", "gantry", str(CHART), "--set", "replica=2"],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "replica" in out.stderr
