"""kopf glue for EcrRepository: decorators and a call into the shared runner, nothing else."""

from __future__ import annotations

from typing import Any

import kopf

from gantry import API_GROUP, API_VERSION
from gantry.core import metrics
from gantry.ecr import reconcile
from gantry.ecr.models import KIND
from gantry.runtime import run_delete, run_reconcile, skip_timer
from gantry.settings import SETTINGS, jitter

RESOURCE = (API_GROUP, API_VERSION, KIND.plural)
metrics.seed(KIND.controller)


@kopf.on.resume(*RESOURCE, id="reconcile")
@kopf.on.create(*RESOURCE, id="reconcile")
@kopf.on.update(*RESOURCE, id="reconcile", field="spec")
def reconcile_repository(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    run_reconcile(
        KIND,
        reconcile.reconcile,
        body=body,
        patch=patch,
        logger=logger,
        bindings=kwargs["namespace_bindings"],
    )


@kopf.timer(*RESOURCE, id="drift", interval=SETTINGS.drift_interval, initial_delay=jitter())
def repair_drift(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    if skip_timer(body):
        return
    run_reconcile(
        KIND,
        reconcile.reconcile,
        body=body,
        patch=patch,
        logger=logger,
        bindings=kwargs["namespace_bindings"],
        drift=True,
    )


@kopf.on.delete(*RESOURCE, id="delete")
def delete_repository(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    run_delete(
        KIND,
        reconcile.delete,
        body=body,
        patch=patch,
        logger=logger,
        bindings=kwargs["namespace_bindings"],
    )
