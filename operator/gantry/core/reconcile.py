"""What a kind's reconcile returns to the shared runner: an outcome, status fields, events.

Kept free of kopf so `diff`/`aws`-level code and tests can build results without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gantry.core.aws import Clients, Identity
from gantry.core.conditions import Outcome, Phase
from gantry.core.ownership import Owner


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str  # CamelCase
    message: str


@dataclass
class Result:
    outcome: Outcome
    status: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    poll_after: float | None = None  # an expected wait: look again after this many seconds

    @classmethod
    def ready(cls, message: str, status: dict[str, Any] | None = None) -> Result:
        return cls(Outcome(Phase.READY, "Available", message), status or {})

    @classmethod
    def stalled(cls, reason: str, message: str, status: dict[str, Any] | None = None) -> Result:
        return cls(Outcome(Phase.STALLED, reason, message), status or {})


@dataclass
class Pass:
    """One reconcile pass of one object, as a kind's reconcile function sees it."""

    body: Mapping[str, Any]
    logger: logging.Logger | logging.LoggerAdapter[Any]
    clients: Clients
    identity: Identity
    owner: Owner
    drift: bool  # a timer pass looking for changes made outside Gantry
    record: Callable[[dict[str, Any]], None]  # write status fields now (an ARN after a create)
    # The object was Ready at its current generation before this pass: nothing the user
    # asked for is pending, so the pass only looks for changes made outside Gantry (a timer
    # pass, or a resume after a restart) and may use cheaper, shared reads.
    in_sync: bool = False

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"].get("namespace") or "")

    @property
    def generation(self) -> int:
        return int(self.body["metadata"].get("generation") or 0)

    @property
    def status(self) -> Mapping[str, Any]:
        return self.body.get("status") or {}

    def client(self, service: str) -> Any:
        return self.clients.get(service, self.identity)
