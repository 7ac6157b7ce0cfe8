"""The operator's own Kubernetes API client, for the reads and writes kopf does not do for
it (an immediate status patch, a referenced object, a Secret it writes).

Configured once, on first use, from the in-cluster service account or else the kubeconfig,
exactly as kopf logs in; every caller shares it.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_client: Any = None


def api_client() -> Any:
    """The shared `kubernetes.client.ApiClient`."""
    global _client
    with _lock:
        if _client is None:
            import kubernetes

            try:
                kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
            except kubernetes.config.ConfigException:
                kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
            _client = kubernetes.client.ApiClient()
        return _client


def custom_objects() -> Any:
    import kubernetes

    return kubernetes.client.CustomObjectsApi(api_client())


def core_v1() -> Any:
    import kubernetes

    return kubernetes.client.CoreV1Api(api_client())
