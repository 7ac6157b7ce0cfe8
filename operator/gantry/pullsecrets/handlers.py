"""kopf glue for EcrPullSecret and ClusterEcrPullSecret: the standard handlers, and the
Namespace watch that serves a new or relabelled namespace within seconds.

Handlers on Namespaces are an index and an event handler only, so Gantry never puts a
finalizer on a Namespace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf
import pydantic

from gantry import API_GROUP, API_VERSION
from gantry.core.errors import GantryError
from gantry.pullsecrets import reconcile
from gantry.pullsecrets.diff import namespace_changes_serving
from gantry.pullsecrets.kube import KUBE
from gantry.pullsecrets.models import CLUSTER_KIND, KIND, ClusterEcrPullSecretSpec
from gantry.runtime import STATUS_WRITER, register_kind, run_reconcile

CLUSTER_RESOURCE = (API_GROUP, API_VERSION, CLUSTER_KIND.plural)


# The timer is the refresh: cheap unless a token is due, because the Secrets and service
# accounts are re-asserted (a no-op write when nothing changed) and AWS is called only when
# the schedule says so.
register_kind(KIND, reconcile.reconcile, reconcile.delete, timer_id="refresh")
register_kind(
    CLUSTER_KIND, reconcile.reconcile_cluster, reconcile.delete_cluster, timer_id="refresh"
)


# -- the Namespace watch ---------------------------------------------------------------------


@kopf.index(*CLUSTER_RESOURCE)
def cluster_pull_secrets(
    name: str, spec: Mapping[str, Any], status: Mapping[str, Any], **_: Any
) -> dict[str, Any]:
    """Object name -> its spec and the namespaces it knows (served or in conflict)."""
    known = [*(status.get("namespaces") or []), *(status.get("conflicts") or [])]
    return {name: {"spec": dict(spec), "known": known}}


@kopf.on.event("namespaces", id="serve-namespace")
def namespace_changed(
    type: str, name: str, labels: Mapping[str, str], body: kopf.Body, **kwargs: Any
) -> None:
    """Run a pass of every ClusterEcrPullSecret that should start or stop serving this
    namespace, right away rather than at its next timer pass."""
    exists = type != "DELETED" and (body.get("status") or {}).get("phase") != "Terminating"
    index: kopf.Index[str, dict[str, Any]] = kwargs["cluster_pull_secrets"]
    for object_name, entries in index.items():
        for entry in entries:
            try:
                spec = ClusterEcrPullSecretSpec.model_validate(entry["spec"])
            except pydantic.ValidationError:
                continue  # reported on the object by its own pass
            if namespace_changes_serving(spec, entry["known"], name, labels, exists):
                _pass_now(object_name, name, kwargs["namespace_bindings"])


class _StatusPatch:
    """Collects the status a pass writes, for passes that run outside the object's own
    handlers (kopf's patch here would apply to the Namespace)."""

    def __init__(self) -> None:
        self.status: dict[str, Any] = {}


class _ObjectLogger(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{(self.extra or {}).get('object')}] {msg}", kwargs


def _pass_now(object_name: str, namespace: str, bindings: Mapping[str, Any]) -> None:
    logger = _ObjectLogger(logging.getLogger(__name__), {"object": object_name})
    logger.info("namespace %s changed whether it is served; reconciling now", namespace)
    try:
        body = KUBE.cluster_object(CLUSTER_KIND.plural, object_name)
    except GantryError as exc:
        logger.warning("not read (%s); its next timer pass catches up", exc)
        return
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    patch = _StatusPatch()
    try:
        run_reconcile(
            CLUSTER_KIND,
            reconcile.reconcile_cluster,
            body=body,
            patch=patch,
            logger=logger,
            bindings=bindings,
        )
    except kopf.TemporaryError as exc:
        logger.info("namespace pass incomplete (%s); its next timer pass retries", exc)
    finally:
        if patch.status:
            STATUS_WRITER.patch(CLUSTER_KIND, "", object_name, patch.status)
