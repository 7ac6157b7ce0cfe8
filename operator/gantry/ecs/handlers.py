"""kopf glue for EcsCluster and EcsService: decorators and calls into the shared runner."""

from __future__ import annotations

from typing import Any

import kopf

from gantry import API_GROUP, API_VERSION
from gantry.core import metrics
from gantry.core.crd import KindInfo
from gantry.ecs import reconcile
from gantry.ecs.models import CLUSTER_KIND, SERVICE_KIND
from gantry.runtime import DeleteFn, ReconcileFn, run_delete, run_reconcile, skip_timer
from gantry.settings import SETTINGS, jitter

CLUSTERS = (API_GROUP, API_VERSION, CLUSTER_KIND.plural)
SERVICES = (API_GROUP, API_VERSION, SERVICE_KIND.plural)
metrics.seed(CLUSTER_KIND.controller)
metrics.seed(SERVICE_KIND.controller)


def _reconcile(
    info: KindInfo,
    fn: ReconcileFn,
    body: kopf.Body,
    patch: kopf.Patch,
    logger: Any,
    kwargs: dict[str, Any],
    drift: bool = False,
) -> None:
    if drift and skip_timer(body):
        return
    run_reconcile(
        info,
        fn,
        body=body,
        patch=patch,
        logger=logger,
        bindings=kwargs["namespace_bindings"],
        drift=drift,
    )


def _delete(
    info: KindInfo,
    fn: DeleteFn,
    body: kopf.Body,
    patch: kopf.Patch,
    logger: Any,
    kwargs: dict[str, Any],
) -> None:
    run_delete(
        info, fn, body=body, patch=patch, logger=logger, bindings=kwargs["namespace_bindings"]
    )


@kopf.on.resume(*CLUSTERS, id="reconcile")
@kopf.on.create(*CLUSTERS, id="reconcile")
@kopf.on.update(*CLUSTERS, id="reconcile", field="spec")
def reconcile_cluster(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    _reconcile(CLUSTER_KIND, reconcile.reconcile_cluster, body, patch, logger, kwargs)


@kopf.timer(*CLUSTERS, id="drift", interval=SETTINGS.drift_interval, initial_delay=jitter())
def cluster_drift(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    _reconcile(CLUSTER_KIND, reconcile.reconcile_cluster, body, patch, logger, kwargs, True)


@kopf.on.delete(*CLUSTERS, id="delete")
def delete_cluster(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    _delete(CLUSTER_KIND, reconcile.delete_cluster, body, patch, logger, kwargs)


@kopf.on.resume(*SERVICES, id="reconcile")
@kopf.on.create(*SERVICES, id="reconcile")
@kopf.on.update(*SERVICES, id="reconcile", field="spec")
def reconcile_service(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    _reconcile(SERVICE_KIND, reconcile.reconcile_service, body, patch, logger, kwargs)


@kopf.timer(*SERVICES, id="drift", interval=SETTINGS.drift_interval, initial_delay=jitter())
def service_drift(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    _reconcile(SERVICE_KIND, reconcile.reconcile_service, body, patch, logger, kwargs, True)


@kopf.on.delete(*SERVICES, id="delete")
def delete_service(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    _delete(SERVICE_KIND, reconcile.delete_service, body, patch, logger, kwargs)
