"""Conditions follow metav1.Condition and the kstatus / Flux rules."""

from gantry.core.conditions import Outcome, Phase, report, set_condition, valid_reason

T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"


def types(conditions: list[dict[str, object]]) -> dict[object, object]:
    return {c["type"]: c["status"] for c in conditions}


def test_last_transition_time_moves_only_when_status_flips() -> None:
    first = set_condition([], "Ready", "True", "Available", "ok", 1, now=T0)
    same = set_condition(first, "Ready", "True", "Available", "still ok", 2, now=T1)
    flipped = set_condition(same, "Ready", "False", "Broken", "no", 3, now=T1)
    assert same[0]["lastTransitionTime"] == T0
    assert same[0]["observedGeneration"] == 2
    assert flipped[0]["lastTransitionTime"] == T1


def test_ready_pass_removes_reconciling_and_stalled() -> None:
    stalled = report([], Outcome(Phase.STALLED, "InvalidSpec", "bad"), 1, now=T0)
    ready = report(stalled, Outcome(Phase.READY, "Available", "ok"), 2, now=T1)
    assert types(stalled) == {"Ready": "False", "Synced": "False", "Stalled": "True"}
    assert types(ready) == {"Ready": "True", "Synced": "True"}


def test_reconciling_and_stalled_are_never_true_together() -> None:
    for phase in Phase:
        conditions = report([], Outcome(phase, "Reason", "message"), 1)
        present = types(conditions)
        assert not (present.get("Reconciling") == "True" and present.get("Stalled") == "True")
        assert "Ready" in present


def test_every_condition_carries_the_generation_it_was_computed_for() -> None:
    conditions = report([], Outcome(Phase.RETRYING, "Throttling", "slow down"), 7)
    assert {c["observedGeneration"] for c in conditions} == {7}
    assert types(conditions)["Ready"] == "Unknown"


def test_a_reason_that_is_no_valid_condition_reason_is_made_one() -> None:
    assert valid_reason("ThrottlingException") == "ThrottlingException"
    assert valid_reason("500") == "Code500"
    assert valid_reason("Some.Code-x") == "SomeCodex"
    assert valid_reason("") == "Unknown"
