"""The Helm chart installs exactly what deploy/base installs."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "gantry"
sys.path.insert(0, str(ROOT / "hack"))

import importlib  # noqa: E402

sync = importlib.import_module("sync-chart")


def test_chart_crds_are_the_generated_crds() -> None:
    expected = {p.name: p.read_text() for p in sync.crd_files()}
    found = {p.name: p.read_text() for p in (CHART / "files" / "crds").glob("*.yaml")}
    assert found == expected, "run `make crds` to copy the CRDs into the chart"


def test_chart_rbac_rules_are_the_deploy_base_rules() -> None:
    found = (CHART / "files" / "rbac-rules.yaml").read_text()
    assert found == sync.rules_text(), "run `make crds` to copy the RBAC rules into the chart"


def test_values_schema_rejects_unknown_top_level_keys() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
