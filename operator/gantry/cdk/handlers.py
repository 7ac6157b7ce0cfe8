"""kopf glue for CdkBootstrap: decorators, the ConfigMap reader, and calls into the runner.

The reader lives here because it is the one Kubernetes read the reconcile needs (a user's
template); `reconcile.py` receives it as a plain function and stays free of API clients.
"""

from __future__ import annotations

import functools
from typing import Any

import kopf

from gantry import API_GROUP, API_VERSION
from gantry.cdk import reconcile
from gantry.cdk.models import KIND
from gantry.core import metrics
from gantry.core.errors import Retryable
from gantry.runtime import run_delete, run_reconcile, skip_timer
from gantry.settings import SETTINGS, jitter

RESOURCE = (API_GROUP, API_VERSION, KIND.plural)
metrics.seed(KIND.controller)
_core_api: Any = None


def read_config_map(namespace: str, name: str, key: str) -> str | None:
    """The text under `key` of a ConfigMap, or None when the map or the key is absent."""
    import kubernetes

    global _core_api
    if _core_api is None:
        try:
            kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
        _core_api = kubernetes.client.CoreV1Api()
    try:
        config_map = _core_api.read_namespaced_config_map(name, namespace)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return None
        raise Retryable("ConfigMapUnreadable", f"reading ConfigMap {name}: {exc.reason}") from exc
    value = (config_map.data or {}).get(key)
    return str(value) if value is not None else None


RECONCILE = functools.partial(reconcile.reconcile, read=read_config_map)


@kopf.on.resume(*RESOURCE, id="reconcile")
@kopf.on.create(*RESOURCE, id="reconcile")
@kopf.on.update(*RESOURCE, id="reconcile", field="spec")
def reconcile_bootstrap(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    run_reconcile(
        KIND, RECONCILE, body=body, patch=patch, logger=logger,
        bindings=kwargs["namespace_bindings"],
    )  # fmt: skip


@kopf.timer(*RESOURCE, id="drift", interval=SETTINGS.drift_interval, initial_delay=jitter())
def check_drift(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    # Also how a Manual change set's approval annotation is noticed: annotations are not part
    # of what triggers the change handler.
    if skip_timer(body):
        return
    run_reconcile(
        KIND, RECONCILE, body=body, patch=patch, logger=logger,
        bindings=kwargs["namespace_bindings"], drift=True,
    )  # fmt: skip


@kopf.on.delete(*RESOURCE, id="delete")
def delete_bootstrap(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
    run_delete(
        KIND, reconcile.delete, body=body, patch=patch, logger=logger,
        bindings=kwargs["namespace_bindings"],
    )  # fmt: skip
