"""kopf glue for EcrPullSecret and ClusterEcrPullSecret: the standard handlers, and the
Namespace watch that serves a new or relabelled namespace within seconds.

Handlers on Namespaces are event handlers only, so Gantry never puts a finalizer on a
Namespace.
"""

from __future__ import annotations

import logging
import threading
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


class ClusterObjects:
    """ClusterEcrPullSecret name -> its spec and the namespaces it knows (served or in
    conflict), for deciding which objects a Namespace change concerns.

    Kept by an event handler rather than a kopf index, for the reason
    `gantry.runtime.NamespaceBindings` gives. Completeness at startup does not matter here:
    each object's own first pass serves every namespace it matches; this map only makes
    later Namespace changes fast.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, tuple[Mapping[str, Any], list[str]]] = {}

    def update(self, name: str, entry: tuple[Mapping[str, Any], list[str]] | None) -> None:
        with self._lock:
            if entry is None:
                self._by_name.pop(name, None)
            else:
                self._by_name[name] = entry

    def items(self) -> list[tuple[str, tuple[Mapping[str, Any], list[str]]]]:
        with self._lock:
            return list(self._by_name.items())


CLUSTER_OBJECTS = ClusterObjects()


@kopf.on.event(*CLUSTER_RESOURCE, id="cluster-objects")
async def cluster_object_changed(
    type: str, name: str, spec: Mapping[str, Any], status: Mapping[str, Any], **_: Any
) -> None:
    if type == "DELETED":
        CLUSTER_OBJECTS.update(name, None)
        return
    known = [*(status.get("namespaces") or []), *(status.get("conflicts") or [])]
    CLUSTER_OBJECTS.update(name, (dict(spec), known))


@kopf.on.event("namespaces", id="serve-namespace")
def namespace_changed(
    type: str, name: str, labels: Mapping[str, str], body: kopf.Body, **_: Any
) -> None:
    """Run a pass of every ClusterEcrPullSecret that should start or stop serving this
    namespace, right away rather than at its next timer pass."""
    exists = type != "DELETED" and (body.get("status") or {}).get("phase") != "Terminating"
    for object_name, (raw_spec, known) in CLUSTER_OBJECTS.items():
        try:
            spec = ClusterEcrPullSecretSpec.model_validate(raw_spec)
        except pydantic.ValidationError:
            continue  # reported on the object by its own pass
        if namespace_changes_serving(spec, known, name, labels, exists):
            _pass_now(object_name, name)


class _StatusPatch:
    """Collects the status a pass writes, for passes that run outside the object's own
    handlers (kopf's patch here would apply to the Namespace)."""

    def __init__(self) -> None:
        self.status: dict[str, Any] = {}


class _ObjectLogger(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{(self.extra or {}).get('object')}] {msg}", kwargs


def _pass_now(object_name: str, namespace: str) -> None:
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
        )
    except kopf.TemporaryError as exc:
        logger.info("namespace pass incomplete (%s); its next timer pass retries", exc)
    finally:
        if patch.status:
            STATUS_WRITER.patch(CLUSTER_KIND, "", object_name, patch.status)
