"""kopf glue for CdkBootstrap: the standard handlers and the ConfigMap reader they need.

The reader lives here because it is the one Kubernetes read the reconcile needs (a user's
template); `reconcile.py` receives it as a plain function and stays free of API clients.
"""

from __future__ import annotations

import functools

from gantry.cdk import reconcile
from gantry.cdk.models import KIND
from gantry.core import kube
from gantry.core.errors import Retryable
from gantry.runtime import register_kind


def read_config_map(namespace: str, name: str) -> dict[str, str] | None:
    """A ConfigMap's data, or None when there is no such ConfigMap."""
    import kubernetes

    try:
        config_map = kube.core_v1().read_namespaced_config_map(name, namespace)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return None
        raise Retryable("ConfigMapUnreadable", f"reading ConfigMap {name}: {exc.reason}") from exc
    return {str(k): str(v) for k, v in (config_map.data or {}).items()}


RECONCILE = functools.partial(reconcile.reconcile, read=read_config_map)


# The timer is also how a Manual change set's approval annotation is noticed: annotations
# are not part of what triggers the change handler.
register_kind(KIND, RECONCILE, reconcile.delete)
