"""Gantry's own settings, from the environment (`gantry run` flags set it).

Read once at import, because kopf takes timer intervals at decoration time. The kopf settings
derived from these are applied by `runtime.configure_kopf()` at startup.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Settings:
    cluster_id: str
    drift_interval: float
    worker_limit: int
    max_workers: int
    retry_delay: float
    blocked_retry_delay: float
    metrics_address: str
    full_check_interval: float

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        return cls(
            cluster_id=env("GANTRY_CLUSTER_ID", "default"),
            drift_interval=float(env("GANTRY_DRIFT_INTERVAL", "600")),
            worker_limit=int(env("GANTRY_WORKER_LIMIT", "50")),
            max_workers=int(env("GANTRY_MAX_WORKERS", "16")),
            retry_delay=float(env("GANTRY_RETRY_DELAY", "15")),
            blocked_retry_delay=float(env("GANTRY_BLOCKED_RETRY_DELAY", "60")),
            metrics_address=env("GANTRY_METRICS_ADDRESS", ""),
            full_check_interval=float(env("GANTRY_FULL_CHECK_INTERVAL", "7200")),
        )


SETTINGS = Settings.from_env()


def jitter(fraction: float = 0.5) -> Any:
    """A timer's initial delay that spreads timers over part of the interval after a restart."""

    def delay(**_: Any) -> float:
        return random.uniform(0, SETTINGS.drift_interval * fraction)

    return delay
