"""Copy the generated CRDs and the operator's RBAC rules into the Helm chart.

The chart must install exactly what deploy/base installs; `make crds` runs this, and
tests/unit/test_chart.py fails when the chart's copies differ from their sources.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "gantry"


def rules_text() -> str:
    documents = yaml.safe_load_all((ROOT / "deploy" / "base" / "rbac.yaml").read_text())
    role = next(d for d in documents if d and d.get("kind") == "ClusterRole")
    header = "# Copied from deploy/base/rbac.yaml by hack/sync-chart.py; do not edit.\n"
    return header + yaml.safe_dump(role["rules"], sort_keys=False)


def crd_files() -> list[Path]:
    return sorted(p for p in (ROOT / "crds").glob("*.yaml") if p.name != "kustomization.yaml")


def main() -> int:
    target = CHART / "files" / "crds"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in crd_files():
        shutil.copyfile(path, target / path.name)
    (CHART / "files" / "rbac-rules.yaml").write_text(rules_text())
    print(f"chart synced: {len(crd_files())} CRDs and the RBAC rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
