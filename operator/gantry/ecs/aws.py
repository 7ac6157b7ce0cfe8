"""boto3 I/O for EcsCluster and EcsService: reads, and one call per write.

`reconcile.py` passes in clients from `core.aws.Clients`; every exception leaves this module as
Retryable, Terminal or NotFound (via `core.errors.translate`). ECS's own error codes are
registered below as data. Nothing here decides anything: `diff.py` does.
"""

from __future__ import annotations

from typing import Any

from gantry.core.errors import ErrorClass, NotFound, register_codes, translate
from gantry.ecs.diff import HASH_TAG, revision_of, tag_map

SERVICE = "ecs"
ECR = "ecr"
STOPPED_TASKS_SHOWN = 5

register_codes(
    SERVICE,
    {
        "ClusterNotFoundException": ErrorClass.NOT_FOUND,
        "ServiceNotFoundException": ErrorClass.NOT_FOUND,
        "ServiceNotActiveException": ErrorClass.NOT_FOUND,
        "ResourceNotFoundException": ErrorClass.NOT_FOUND,
        "ClusterContainsServicesException": ErrorClass.RETRYABLE,
        "ClusterContainsTasksException": ErrorClass.RETRYABLE,
        "ClusterContainsContainerInstancesException": ErrorClass.RETRYABLE,
        "ResourceInUseException": ErrorClass.RETRYABLE,
        "UpdateInProgressException": ErrorClass.RETRYABLE,
        "ClientException": ErrorClass.TERMINAL,
        "PlatformUnknownException": ErrorClass.TERMINAL,
        "PlatformTaskDefinitionIncompatibilityException": ErrorClass.TERMINAL,
        "UnsupportedFeatureException": ErrorClass.TERMINAL,
        "ServerException": ErrorClass.RETRYABLE,
    },
)
register_codes(
    ECR,
    {
        "ImageNotFoundException": ErrorClass.NOT_FOUND,
        "RepositoryNotFoundException": ErrorClass.NOT_FOUND,
    },
)


# -- clusters ------------------------------------------------------------------------------


def describe_cluster(client: Any, name: str) -> dict[str, Any] | None:
    """The cluster, or None when it does not exist or is INACTIVE (deleted)."""
    with translate(SERVICE):
        response = client.describe_clusters(
            clusters=[name], include=["TAGS", "SETTINGS", "STATISTICS"]
        )
    for cluster in response.get("clusters") or []:
        if cluster.get("status") != "INACTIVE":
            found: dict[str, Any] = cluster
            return found
    return None


def create_cluster(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    with translate(SERVICE):
        cluster: dict[str, Any] = client.create_cluster(**params)["cluster"]
    return cluster


_CLUSTER_OPERATIONS = {
    "UpdateCluster": "update_cluster",
    "PutClusterCapacityProviders": "put_cluster_capacity_providers",
    "TagResource": "tag_resource",
}


def apply_cluster(client: Any, operation: str, params: dict[str, Any]) -> None:
    with translate(SERVICE):
        getattr(client, _CLUSTER_OPERATIONS[operation])(**params)


def live_service_names(client: Any, cluster: str) -> list[str]:
    """Services of the cluster that are not INACTIVE (deleted ones may still be listed)."""
    arns: list[str] = []
    with translate(SERVICE):
        for page in client.get_paginator("list_services").paginate(cluster=cluster):
            arns.extend(page.get("serviceArns", []))
        names: list[str] = []
        for start in range(0, len(arns), 10):
            batch = client.describe_services(cluster=cluster, services=arns[start : start + 10])
            names.extend(
                s["serviceName"] for s in batch.get("services", []) if s.get("status") != "INACTIVE"
            )
    return sorted(names)


def container_instance_count(client: Any, cluster: str) -> int:
    count = 0
    with translate(SERVICE):
        for page in client.get_paginator("list_container_instances").paginate(cluster=cluster):
            count += len(page.get("containerInstanceArns", []))
    return count


def delete_cluster(client: Any, name: str) -> None:
    try:
        with translate(SERVICE):
            client.delete_cluster(cluster=name)
    except NotFound:
        return


# -- services --------------------------------------------------------------------------------


def describe_service(client: Any, cluster: str, name: str) -> dict[str, Any] | None:
    """The service in any status (INACTIVE included), or None when ECS does not know it."""
    try:
        with translate(SERVICE):
            response = client.describe_services(cluster=cluster, services=[name], include=["TAGS"])
    except NotFound:
        return None
    services = response.get("services") or []
    return services[0] if services else None


def create_service(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    with translate(SERVICE):
        service: dict[str, Any] = client.create_service(**params)["service"]
    return service


def update_service(client: Any, cluster: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
    with translate(SERVICE):
        service: dict[str, Any] = client.update_service(cluster=cluster, service=name, **params)[
            "service"
        ]
    return service


def tag(client: Any, arn: str, tags: list[dict[str, str]]) -> None:
    with translate(SERVICE):
        client.tag_resource(resourceArn=arn, tags=tags)


def delete_service(client: Any, cluster: str, name: str) -> None:
    try:
        with translate(SERVICE):
            client.delete_service(cluster=cluster, service=name)
    except NotFound:
        return


def stopped_tasks(client: Any, cluster: str, name: str) -> list[dict[str, Any]]:
    """The latest stopped tasks of a service (ECS keeps them visible for a short while)."""
    with translate(SERVICE):
        arns = client.list_tasks(cluster=cluster, serviceName=name, desiredStatus="STOPPED")[
            "taskArns"
        ][:STOPPED_TASKS_SHOWN]
        if not arns:
            return []
        tasks: list[dict[str, Any]] = client.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    return tasks


# -- task definitions ------------------------------------------------------------------------


def describe_task_definition(client: Any, reference: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A revision (a family name means its latest ACTIVE one) and its tags; NotFound if none."""
    with translate(SERVICE):
        response = client.describe_task_definition(taskDefinition=reference, include=["TAGS"])
    return response["taskDefinition"], tag_map(response.get("tags"))


def latest_hash(client: Any, family: str) -> tuple[str, str] | None:
    """(ARN, content hash tag) of the family's newest ACTIVE revision, if there is one."""
    revisions = active_revisions(client, family)
    if not revisions:
        return None
    newest = max(revisions, key=revision_of)
    return newest, revision_tags(client, newest).get(HASH_TAG, "")


def register_task_definition(
    client: Any, params: dict[str, Any], tags: list[dict[str, str]]
) -> dict[str, Any]:
    with translate(SERVICE):
        definition: dict[str, Any] = client.register_task_definition(**params, tags=tags)[
            "taskDefinition"
        ]
    return definition


def active_revisions(client: Any, family: str) -> list[str]:
    arns: list[str] = []
    with translate(SERVICE):
        paginator = client.get_paginator("list_task_definitions")
        for page in paginator.paginate(familyPrefix=family, status="ACTIVE"):
            arns.extend(page.get("taskDefinitionArns", []))
    # familyPrefix matches by prefix: "web" also lists "web-worker".
    return [arn for arn in arns if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family]


def revision_tags(client: Any, arn: str) -> dict[str, str]:
    try:
        return describe_task_definition(client, arn)[1]
    except NotFound:
        return {}


def delete_revision(client: Any, arn: str) -> None:
    """Deregister, then delete (ECS deletes only INACTIVE revisions)."""
    try:
        with translate(SERVICE):
            client.deregister_task_definition(taskDefinition=arn)
            client.delete_task_definitions(taskDefinitions=[arn])
    except NotFound:
        return


# -- ECR, for imageFrom -------------------------------------------------------------------


def image_digest(client: Any, repository: str, tag: str) -> str | None:
    try:
        with translate(ECR):
            details = client.describe_images(
                repositoryName=repository, imageIds=[{"imageTag": tag}]
            )["imageDetails"]
    except NotFound:
        return None
    return str(details[0]["imageDigest"]) if details else None
