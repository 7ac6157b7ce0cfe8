"""The shipped Argo CD health check maps Gantry's conditions to Argo CD health."""

from pathlib import Path
from typing import Any

import pytest

lupa = pytest.importorskip("lupa")

SCRIPT = (Path(__file__).resolve().parents[2] / "deploy" / "argocd" / "health.lua").read_text()


def health(obj: dict[str, Any]) -> tuple[str, str]:
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)

    def to_lua(value: Any) -> Any:
        if isinstance(value, dict):
            return runtime.table_from({k: to_lua(v) for k, v in value.items()})
        if isinstance(value, list):
            return runtime.table_from([to_lua(v) for v in value])
        return value

    check = runtime.eval(f"function(obj)\n{SCRIPT}\nend")
    result = check(to_lua(obj))
    return str(result["status"]), str(result["message"])


def obj(generation: int = 2, observed: int | None = 2, **conditions: str) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [
            {"type": t, "status": s, "reason": f"{t}Reason", "message": f"{t} message"}
            for t, s in conditions.items()
        ]
    }
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"generation": generation}, "status": status}


def test_object_without_status_is_progressing() -> None:
    assert health({"metadata": {"generation": 1}})[0] == "Progressing"


def test_object_behind_on_generation_is_progressing_even_if_ready() -> None:
    assert health(obj(generation=3, observed=2, Ready="True"))[0] == "Progressing"
    assert health(obj(generation=1, observed=-1))[0] == "Progressing"


def test_stalled_object_is_degraded_with_its_message() -> None:
    assert health(obj(Ready="False", Stalled="True")) == ("Degraded", "Stalled message")


def test_reconciling_object_is_progressing() -> None:
    assert health(obj(Ready="Unknown", Reconciling="True"))[0] == "Progressing"


def test_ready_object_is_healthy() -> None:
    assert health(obj(Ready="True", Synced="True"))[0] == "Healthy"


def test_not_ready_without_stalled_is_progressing_not_degraded() -> None:
    assert health(obj(Ready="False"))[0] == "Progressing"
