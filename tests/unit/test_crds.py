"""The checked-in CRDs are exactly what the generator prints, and they are structural."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from gantry.cli import render_crds

CRDS = Path(__file__).resolve().parents[2] / "crds"


def test_checked_in_crds_equal_the_generator_output() -> None:
    for name, text in render_crds().items():
        path = CRDS / name
        assert path.exists(), f"{name} missing: run `gantry crds --out crds`"
        assert path.read_text() == text, f"{name} is stale: run `gantry crds --out crds`"


def walk(node: Any, path: str = "") -> list[str]:
    problems = []
    if isinstance(node, dict):
        for key in ("$ref", "anyOf", "oneOf", "allOf", "const", "$defs", "title"):
            if key in node:
                problems.append(f"{path}: {key}")
        for key, value in node.items():
            problems.extend(walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            problems.extend(walk(item, f"{path}[{i}]"))
    return problems


@pytest.mark.parametrize("name", sorted(render_crds()))
def test_crd_schema_is_structural_and_described(name: str) -> None:
    crd = yaml.safe_load(render_crds()[name])
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    assert walk(schema) == []
    spec = schema["properties"]["spec"]["properties"]
    assert all("description" in field for field in spec.values())
    assert schema["properties"]["status"]["default"] == {"observedGeneration": -1}
    assert crd["spec"]["names"]["categories"] == ["gantry"]
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:2] == ["Ready", "Synced"]
    assert "Age" in columns
