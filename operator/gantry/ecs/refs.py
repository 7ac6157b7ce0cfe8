"""Reads of other Gantry objects through the Kubernetes API, for EcsService.

`reconcile.py` asks here for the EcsCluster a `clusterRef` names and the EcrRepository an
`imageFrom` names, and gets plain facts back (a cluster name, a repository name and region),
or None when the object does not exist. Only reads; no kopf, no decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gantry import API_GROUP, API_VERSION
from gantry.core import kube
from gantry.core.errors import Retryable


@dataclass(frozen=True)
class ClusterFacts:
    name: str
    created: bool  # the EcsCluster has an ARN in its status
    region: str | None  # where it created its cluster (None until it has)


@dataclass(frozen=True)
class RepositoryFacts:
    name: str
    region: str | None
    uri: str | None  # None until the EcrRepository has created its repository


def _client() -> Any:
    return kube.custom_objects()


def _get(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    from kubernetes.client.exceptions import ApiException

    try:
        found: dict[str, Any] = _client().get_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, plural, name
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise Retryable("KubernetesApiError", f"reading {plural}/{name}: {exc.reason}") from exc
    return found


def cluster(namespace: str, name: str) -> ClusterFacts | None:
    obj = _get("ecsclusters", namespace, name)
    if obj is None:
        return None
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    return ClusterFacts(
        name=spec.get("clusterName") or name,
        created=bool(status.get("arn")),
        region=status.get("region"),
    )


def repository(namespace: str, name: str) -> RepositoryFacts | None:
    obj = _get("ecrrepositories", namespace, name)
    if obj is None:
        return None
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    return RepositoryFacts(
        name=spec.get("repositoryName") or name,
        region=spec.get("region") or status.get("region"),
        uri=status.get("repositoryUri"),
    )
