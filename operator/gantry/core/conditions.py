"""Conditions shaped like metav1.Condition, and the standard set every kind reports.

Handlers call `report()` once per pass with the outcome of the pass; this module decides the
Ready / Synced / Reconciling / Stalled set from it, so every kind tells its story the same
way. `lastTransitionTime` only moves when a condition's status flips: a resync that changes
nothing must not make the object look new to kubectl, Argo CD or Flux.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Condition = dict[str, Any]

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


class Phase(StrEnum):
    """What a reconcile pass ended with, in the user's terms."""

    READY = "Ready"  # AWS matches the spec
    PROGRESSING = "Progressing"  # work was started or is awaited (a rollout, a stack)
    RETRYING = "Retrying"  # a transient failure; retried with backoff
    STALLED = "Stalled"  # a person must act: bad input, AWS refusing the spec
    DELETING = "Deleting"  # deletion in progress or blocked


@dataclass(frozen=True)
class Outcome:
    """The result of one reconcile pass, before it becomes conditions."""

    phase: Phase
    reason: str
    message: str
    extra: tuple[Condition, ...] = ()


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: Iterable[Mapping[str, Any]],
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
    now: str | None = None,
) -> list[Condition]:
    """Return `conditions` with `type_` set; keep lastTransitionTime unless status flips."""
    result: list[Condition] = []
    found = False
    for existing in conditions:
        if existing.get("type") != type_:
            result.append(dict(existing))
            continue
        found = True
        flipped = existing.get("status") != status
        result.append(
            _condition(type_, status, reason, message, generation, existing, flipped, now)
        )
    if not found:
        result.append(_condition(type_, status, reason, message, generation, {}, True, now))
    return result


def _condition(
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
    existing: Mapping[str, Any],
    flipped: bool,
    now: str | None,
) -> Condition:
    since = existing.get("lastTransitionTime")
    if flipped or not since:
        since = now or now_rfc3339()
    return {
        "type": type_,
        "status": status,
        "reason": valid_reason(reason),
        "message": message[:32768],
        "lastTransitionTime": since,
        "observedGeneration": generation,
    }


_REASON = re.compile(r"[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?")


def valid_reason(reason: str) -> str:
    """A reason as metav1.Condition requires it (CamelCase-ish, starting with a letter): an
    AWS code is one, but an unexpected one ("500", "Some.Code") must not make the status
    patch invalid for a stricter consumer."""
    if _REASON.fullmatch(reason):
        return reason
    cleaned = re.sub(r"[^A-Za-z0-9_]", "", reason)
    return cleaned if cleaned[:1].isalpha() else f"Code{cleaned}" if cleaned else "Unknown"


def remove_condition(conditions: Iterable[Mapping[str, Any]], type_: str) -> list[Condition]:
    return [dict(c) for c in conditions if c.get("type") != type_]


def find_condition(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def extra_condition(type_: str, status: str, reason: str, message: str) -> Condition:
    """A kind-specific condition (DeletionBlocked, Drifted...) to carry in an Outcome."""
    return {"type": type_, "status": status, "reason": reason, "message": message}


# Ready, Synced, Reconciling, Stalled per phase. Reconciling and Stalled are never True
# together: kstatus reads the first abnormal-true one, so both at once would be ambiguous.
_STANDARD: dict[Phase, tuple[str, str, str | None, str | None]] = {
    Phase.READY: (TRUE, TRUE, None, None),
    Phase.PROGRESSING: (UNKNOWN, TRUE, TRUE, None),
    Phase.RETRYING: (UNKNOWN, FALSE, TRUE, None),
    Phase.STALLED: (FALSE, FALSE, None, TRUE),
    Phase.DELETING: (FALSE, TRUE, TRUE, None),
}


def report(
    previous: Iterable[Mapping[str, Any]],
    outcome: Outcome,
    generation: int,
    now: str | None = None,
) -> list[Condition]:
    """Turn one pass's outcome into the full condition list, starting from the previous one."""
    ready, synced, reconciling, stalled = _STANDARD[outcome.phase]
    conditions: list[Condition] = [dict(c) for c in previous]
    ready_reason = "Available" if outcome.phase is Phase.READY else outcome.reason
    synced_reason = "ReconcileSuccess" if synced == TRUE else outcome.reason
    conditions = set_condition(
        conditions, "Ready", ready, ready_reason, outcome.message, generation, now
    )
    conditions = set_condition(
        conditions, "Synced", synced, synced_reason, outcome.message, generation, now
    )
    conditions = _set_or_remove(conditions, "Reconciling", reconciling, outcome, generation, now)
    conditions = _set_or_remove(conditions, "Stalled", stalled, outcome, generation, now)
    for extra in outcome.extra:
        conditions = set_condition(
            conditions,
            extra["type"],
            extra["status"],
            extra["reason"],
            extra["message"],
            generation,
            now,
        )
    return conditions


def _set_or_remove(
    conditions: list[Condition],
    type_: str,
    status: str | None,
    outcome: Outcome,
    generation: int,
    now: str | None,
) -> list[Condition]:
    # Abnormal-true conditions are removed rather than set False, as Flux does: absent means
    # normal, and a stale False carries nothing a user needs.
    if status is None:
        return remove_condition(conditions, type_)
    return set_condition(
        conditions, type_, status, outcome.reason, outcome.message, generation, now
    )
