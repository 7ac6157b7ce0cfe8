"""EcsCluster and EcsService through the real API server, moto and the operator process.

moto's services never roll: a new service reports MOTO_ECS_SERVICE_RUNNING (2, set in
conftest) running tasks and a COMPLETED deployment only when that covers its desiredCount, and
later updates leave the deployment as it was. So services that must become Ready use
desiredCount 2, and tests of updates check what reached ECS rather than a finished rollout
(the rollout machine itself is covered by tests/unit/test_ecs_rollout.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import GROUP_VERSION, Stack, condition, wait_condition, wait_for

pytestmark = pytest.mark.integration
SERVICES = "ecsservices"
CLUSTERS = "ecsclusters"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLUSTER = "apps"
DRIFT_PASSES = 10  # seconds: at least two drift passes at the tests' 4-second interval


def service_manifest(namespace: str, name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "clusterName": CLUSTER,
        "launchType": "EC2",
        "desiredCount": 2,
        "taskTemplate": {
            "containers": [{"name": "web", "image": "nginx:1.26", "memory": 256}],
        },
        **spec,
    }
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "EcsService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def with_image(manifest: dict[str, Any], image: str) -> dict[str, Any]:
    manifest["spec"]["taskTemplate"]["containers"][0]["image"] = image
    return manifest


@pytest.fixture
def cluster(stack: Stack) -> str:
    stack.aws("ecs").create_cluster(clusterName=CLUSTER)
    return CLUSTER


def ecs_service(stack: Stack, name: str = "web", cluster: str = CLUSTER) -> dict[str, Any]:
    found: dict[str, Any] = stack.aws("ecs").describe_services(cluster=cluster, services=[name])[
        "services"
    ][0]
    return found


def revisions(stack: Stack, family: str, status: str = "ACTIVE") -> list[str]:
    arns = stack.aws("ecs").list_task_definitions(familyPrefix=family, status=status)
    return list(arns["taskDefinitionArns"])


def revision(arn: str, number: int) -> str:
    return f"{arn.rsplit(':', 1)[0]}:{number}"


def calls(stack: Stack, operation: str) -> int:
    return sum(n for (svc, op, _), n in stack.operator.aws_calls().items() if op == operation)


def ready(stack: Stack, namespace: str, name: str = "web") -> dict[str, Any]:
    return wait_condition(stack, SERVICES, namespace, name, "Ready")


def test_cluster_and_service_from_examples_become_ready(stack: Stack, namespace: str) -> None:
    for example in ("ecr-repository.yaml", "ecs-cluster.yaml", "ecs-service.yaml"):
        stack.cp.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / example))
    wait_condition(stack, CLUSTERS, namespace, "shop", "Ready")
    obj = wait_condition(stack, SERVICES, namespace, "web", "Ready", timeout=90)

    status = obj["status"]
    svc = ecs_service(stack, "web", "shop")
    assert svc["serviceArn"] == status["serviceArn"]
    assert status["taskDefinition"]["revision"] == 1
    assert status["runningCount"] == status["desiredCount"] == 2
    image = status["images"][0]
    assert image["image"].startswith("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/web@")
    definition = stack.aws("ecs").describe_task_definition(
        taskDefinition=status["taskDefinition"]["arn"], include=["TAGS"]
    )
    assert definition["taskDefinition"]["containerDefinitions"][0]["image"] == image["image"]
    tags = {t["key"]: t["value"] for t in definition["tags"]}
    assert tags["gantry.dev/task-hash"] == status["taskDefinition"]["hash"]
    assert condition(obj, "DeploymentFailed")["status"] == "False"


def push(stack: Stack, tag: str, config_digest: str) -> str:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + config_digest * 64, "size": 1, "mediaType": "x"},
        # moto derives the image digest from the layers, so each image gets its own layer.
        "layers": [{"digest": "sha256:" + config_digest * 64, "size": 1, "mediaType": "x"}],
    }
    pushed = stack.aws("ecr").put_image(
        repositoryName="shop/web", imageManifest=json.dumps(manifest), imageTag=tag
    )
    return str(pushed["image"]["imageId"]["imageDigest"])


def test_image_from_a_tag_is_pinned_to_its_digest_and_a_repush_rolls_out(
    stack: Stack, namespace: str, cluster: str
) -> None:
    stack.cp.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "ecr-repository.yaml"))
    wait_condition(stack, "ecrrepositories", namespace, "web", "Ready")
    first = push(stack, "latest", "b")
    body = service_manifest(namespace)
    body["spec"]["taskTemplate"]["containers"][0] = {
        "name": "web",
        "imageFrom": {"repositoryRef": {"name": "web"}, "tag": "latest"},
        "memory": 256,
    }
    stack.apply(body)
    obj = ready(stack, namespace)
    assert obj["status"]["images"][0]["digest"] == first
    assert obj["status"]["images"][0]["image"].endswith(f"/shop/web@{first}")

    second = push(stack, "latest", "c")
    assert second != first
    wait_for(
        lambda: (
            (stack.get(SERVICES, namespace, "web") or {})
            .get("status", {})
            .get("images", [{}])[0]
            .get("digest")
            == second
        ),
        what="new digest in status",
    )
    wait_for(lambda: ecs_service(stack)["taskDefinition"].endswith(":2"), what="rev 2 deployed")
    # Let the repository's deletion at teardown go through (it refuses to drop images).
    stack.aws("ecr").batch_delete_image(
        repositoryName="shop/web", imageIds=[{"imageDigest": d} for d in (first, second)]
    )


def test_image_change_registers_exactly_one_revision_and_updates_the_service(
    stack: Stack, namespace: str, cluster: str
) -> None:
    stack.apply(service_manifest(namespace))
    first = ready(stack, namespace)
    registered = calls(stack, "RegisterTaskDefinition")

    stack.apply(with_image(service_manifest(namespace), "nginx:1.27"))
    wanted = revision(first["status"]["taskDefinition"]["arn"], 2)
    wait_for(lambda: ecs_service(stack)["taskDefinition"] == wanted, what="service on rev 2")
    time.sleep(DRIFT_PASSES)  # later passes must not register again
    assert calls(stack, "RegisterTaskDefinition") == registered + 1
    assert len(revisions(stack, "web")) == 2
    obj = stack.get(SERVICES, namespace, "web")
    assert obj is not None
    assert obj["status"]["taskDefinition"]["revision"] == 2
    assert ecs_service(stack)["serviceArn"] == first["status"]["serviceArn"]  # never replaced


def test_resync_of_an_unchanged_service_makes_no_register_or_update_call(
    stack: Stack, namespace: str, cluster: str
) -> None:
    stack.apply(service_manifest(namespace, deploymentConfiguration={"minimumHealthyPercent": 50}))
    ready(stack, namespace)
    before = {op: calls(stack, op) for op in ("RegisterTaskDefinition", "UpdateService")}
    looks = calls(stack, "DescribeServices")
    time.sleep(DRIFT_PASSES)
    assert calls(stack, "DescribeServices") > looks  # drift passes did run
    assert {op: calls(stack, op) for op in before} == before


def test_external_count_changed_outside_gantry_stays(
    stack: Stack, namespace: str, cluster: str
) -> None:
    stack.apply(service_manifest(namespace, replicaPolicy="External"))
    ready(stack, namespace)
    stack.aws("ecs").update_service(cluster=CLUSTER, service="web", desiredCount=5)
    looks = calls(stack, "DescribeServices")
    wait_for(lambda: calls(stack, "DescribeServices") > looks + 1, what="two drift passes")
    assert ecs_service(stack)["desiredCount"] == 5
    wait_for(
        lambda: (
            (stack.get(SERVICES, namespace, "web") or {}).get("status", {}).get("desiredCount") == 5
        ),
        what="status.desiredCount 5",
    )


def test_managed_count_changed_outside_gantry_is_restored(
    stack: Stack, namespace: str, cluster: str
) -> None:
    stack.apply(service_manifest(namespace))
    ready(stack, namespace)
    stack.aws("ecs").update_service(cluster=CLUSTER, service="web", desiredCount=5)
    wait_for(lambda: ecs_service(stack)["desiredCount"] == 2, timeout=30, what="count restored")
    repaired = wait_for(
        lambda: [e for e in stack.events(namespace, "web") if e["reason"] == "DriftRepaired"],
        what="a DriftRepaired event",
    )
    assert "desiredCount 5 -> 2" in repaired[0]["message"]
    assert repaired[0]["type"] == "Warning"


def test_an_edit_of_the_spec_is_not_reported_as_drift(
    stack: Stack, namespace: str, cluster: str
) -> None:
    stack.apply(service_manifest(namespace))
    ready(stack, namespace)
    stack.apply(service_manifest(namespace, desiredCount=3))
    wait_for(lambda: ecs_service(stack)["desiredCount"] == 3, timeout=30, what="count applied")
    time.sleep(DRIFT_PASSES)  # drift passes run meanwhile; none may report drift
    assert [e for e in stack.events(namespace, "web") if e["reason"] == "DriftRepaired"] == []


def test_restarted_at_forces_a_new_deployment(stack: Stack, namespace: str, cluster: str) -> None:
    stack.apply(service_manifest(namespace))
    ready(stack, namespace)
    deployment = ecs_service(stack)["deployments"][0]["id"]
    stack.apply(service_manifest(namespace, restartedAt="2026-05-04T10:00:00Z"))
    wait_for(
        lambda: ecs_service(stack)["deployments"][0]["id"] != deployment, what="new deployment"
    )
    obj = ready(stack, namespace)
    assert obj["status"]["restartedAt"] == "2026-05-04T10:00:00Z"
    assert len(revisions(stack, "web")) == 1  # the same task, redeployed


def test_service_name_change_is_blocked(stack: Stack, namespace: str, cluster: str) -> None:
    stack.apply(service_manifest(namespace))
    ready(stack, namespace)
    stack.apply(service_manifest(namespace, serviceName="web-two"))
    obj = wait_condition(stack, SERVICES, namespace, "web", "Stalled")
    synced = condition(obj, "Synced")
    assert synced["reason"] == "ImmutableFieldChanged"
    assert "serviceName is web in ECS but web-two in the spec" in synced["message"]
    listed = stack.aws("ecs").list_services(cluster=CLUSTER)["serviceArns"]
    assert [arn.rsplit("/", 1)[-1] for arn in listed] == ["web"]


def test_service_name_change_with_recreate_replaces_the_service(
    stack: Stack, namespace: str, cluster: str
) -> None:
    stack.apply(service_manifest(namespace, onImmutableChange="Recreate"))
    first = ready(stack, namespace)
    stack.apply(service_manifest(namespace, serviceName="web-two", onImmutableChange="Recreate"))
    obj = wait_for(
        lambda: (
            (found := stack.get(SERVICES, namespace, "web"))
            and found["status"].get("serviceName") == "web-two"
            and condition(found, "Ready").get("status") == "True"
            and found
        ),
        what="replacement service Ready",
    )
    assert obj["status"]["serviceArn"] != first["status"]["serviceArn"]
    assert ecs_service(stack, "web")["status"] == "INACTIVE"
    assert ecs_service(stack, "web-two")["status"] == "ACTIVE"
    # The old family (named after the old service) went with it.
    assert revisions(stack, "web") == []
    assert len(revisions(stack, "web-two")) == 1


def test_deleted_service_is_scaled_down_deleted_and_its_revisions_removed(
    stack: Stack, namespace: str, cluster: str
) -> None:
    stack.apply(service_manifest(namespace))
    ready(stack, namespace)
    stack.delete(SERVICES, namespace, "web")
    wait_for(lambda: stack.get(SERVICES, namespace, "web") is None, what="object gone")
    svc = ecs_service(stack)
    assert svc["status"] == "INACTIVE"
    assert svc["desiredCount"] == 0
    assert revisions(stack, "web") == []


def test_retained_service_stays_in_ecs(stack: Stack, namespace: str, cluster: str) -> None:
    stack.apply(service_manifest(namespace, deletionPolicy="Retain"))
    ready(stack, namespace)
    stack.delete(SERVICES, namespace, "web")
    wait_for(lambda: stack.get(SERVICES, namespace, "web") is None, what="object gone")
    assert ecs_service(stack)["status"] == "ACTIVE"


def test_revisions_beyond_the_limit_are_deleted_but_never_one_in_use(
    stack: Stack, namespace: str, cluster: str
) -> None:
    stack.apply(service_manifest(namespace, revisionHistoryLimit=1))
    first = ready(stack, namespace)
    arn = first["status"]["taskDefinition"]["arn"]
    for number, image in ((2, "nginx:1.27"), (3, "nginx:1.28")):
        stack.apply(with_image(service_manifest(namespace, revisionHistoryLimit=1), image))
        wanted = revision(arn, number)
        wait_for(lambda w=wanted: ecs_service(stack)["taskDefinition"] == w, what=wanted)
    # Revision 2 is beyond the limit; revision 1 stays because moto's deployment (which
    # never rolls) still runs it, as an unfinished real deployment would.
    active = wait_for(
        lambda: (found := revisions(stack, "web")) and len(found) == 2 and found,
        what="revision 2 deleted",
    )
    assert sorted(a.rsplit(":", 1)[-1] for a in active) == ["1", "3"]


def test_cluster_deletion_waits_for_its_services_and_names_them(
    stack: Stack, namespace: str
) -> None:
    stack.cp.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "ecs-cluster.yaml"))
    wait_condition(stack, CLUSTERS, namespace, "shop", "Ready")
    body = service_manifest(namespace)
    del body["spec"]["clusterName"]
    body["spec"]["clusterRef"] = {"name": "shop"}
    stack.apply(body)
    ready(stack, namespace)

    stack.delete(CLUSTERS, namespace, "shop")
    blocked = wait_for(
        lambda: condition(stack.get(CLUSTERS, namespace, "shop"), "DeletionBlocked"),
        what="DeletionBlocked",
    )
    assert "1 service(s): web" in blocked["message"]
    assert stack.aws("ecs").describe_clusters(clusters=["shop"])["clusters"][0]["status"] == (
        "ACTIVE"
    )
    stack.delete(SERVICES, namespace, "web")
    wait_for(lambda: stack.get(CLUSTERS, namespace, "shop") is None, what="cluster deleted")
    assert stack.aws("ecs").describe_clusters(clusters=["shop"])["clusters"][0]["status"] == (
        "INACTIVE"
    )


def test_cluster_settings_are_changed_in_place(stack: Stack, namespace: str) -> None:
    cluster = yaml.safe_load((EXAMPLES / "ecs-cluster.yaml").read_text())
    cluster["metadata"]["namespace"] = namespace
    stack.apply(cluster)
    first = wait_condition(stack, CLUSTERS, namespace, "shop", "Ready")
    cluster["spec"]["containerInsights"] = "disabled"
    cluster["spec"]["tags"]["env"] = "prod"
    stack.apply(cluster)

    def settled() -> dict[str, Any] | None:
        found = stack.aws("ecs").describe_clusters(clusters=["shop"], include=["SETTINGS", "TAGS"])
        described: dict[str, Any] = found["clusters"][0]
        insights = {s["name"]: s["value"] for s in described["settings"]}["containerInsights"]
        tagged = {"key": "env", "value": "prod"} in described["tags"]
        return described if insights == "disabled" and tagged else None

    described = wait_for(settled, what="containerInsights disabled and the new tag")
    assert described["clusterArn"] == first["status"]["arn"]  # never replaced
    wait_condition(stack, CLUSTERS, namespace, "shop", "Ready")


def test_service_waits_for_its_cluster_object(stack: Stack, namespace: str) -> None:
    body = service_manifest(namespace)
    del body["spec"]["clusterName"]
    body["spec"]["clusterRef"] = {"name": "later"}
    stack.apply(body)
    waiting = wait_condition(stack, SERVICES, namespace, "web", "Reconciling")
    assert condition(waiting, "Reconciling")["reason"] == "WaitingForCluster"
    cluster = {
        "apiVersion": GROUP_VERSION,
        "kind": "EcsCluster",
        "metadata": {"name": "later", "namespace": namespace},
        "spec": {},
    }
    stack.apply(cluster)
    ready(stack, namespace)


# -- invalid objects -----------------------------------------------------------------------

CONTAINER = {"name": "web", "image": "nginx", "memory": 256}
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"clusterRef": {"name": "x"}}, "set exactly one of clusterRef, clusterName"),
    (
        {"taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"},
        "set exactly one of taskTemplate, taskDefinitionArn",
    ),
    (
        {"capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]},
        "set at most one of launchType, capacityProviderStrategy",
    ),
    (
        {
            "taskTemplate": {
                "containers": [
                    {**CONTAINER, "imageFrom": {"repositoryRef": {"name": "web"}, "tag": "v1"}}
                ]
            }
        },
        "set exactly one of image, imageFrom",
    ),
    (
        {"taskTemplate": {"containers": [CONTAINER, CONTAINER]}},
        "container names must be unique",
    ),
    (
        {"taskTemplate": {"networkMode": "awsvpc", "containers": [CONTAINER]}},
        "networkMode awsvpc needs networkConfiguration",
    ),
    (
        {"taskTemplate": {"requiresCompatibilities": ["FARGATE"], "containers": [CONTAINER]}},
        "FARGATE tasks need networkMode awsvpc",
    ),
    ({"healthCheckGracePeriodSeconds": 30}, "healthCheckGracePeriodSeconds needs loadBalancers"),
    (
        {
            "desiredCount": 1,
            "deploymentConfiguration": {"maximumPercent": 150, "minimumHealthyPercent": 50},
        },
        "leave no room to start or stop a task",
    ),
    ({"replicaPolicy": "Sometimes"}, "spec.replicaPolicy"),
    (
        {"loadBalancers": [{"containerName": "web", "containerPort": 80}]},
        "set exactly one of targetGroupArn, loadBalancerName",
    ),
]


@pytest.mark.parametrize(("spec", "fragment"), REFUSED)
def test_invalid_service_is_refused_by_the_api_server(
    stack: Stack, namespace: str, spec: dict[str, Any], fragment: str
) -> None:
    out = stack.apply(service_manifest(namespace, "bad", **spec), check=False)
    assert fragment in out, out
    assert stack.get(SERVICES, namespace, "bad") is None


def test_invalid_fargate_size_is_reported_and_nothing_is_created(
    stack: Stack, namespace: str, cluster: str
) -> None:
    body = service_manifest(
        namespace,
        "big",
        launchType="FARGATE",
        networkConfiguration={"subnets": ["subnet-1"]},
        taskTemplate={
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "4096",
            "containers": [CONTAINER],
        },
    )
    stack.apply(body)
    obj = wait_condition(stack, SERVICES, namespace, "big", "Stalled")
    synced = condition(obj, "Synced")
    assert synced["reason"] == "InvalidSpec"
    assert "memory 4096 does not fit cpu 256 on Fargate" in synced["message"]
    assert stack.aws("ecs").list_services(cluster=CLUSTER)["serviceArns"] == []
    assert revisions(stack, "big") == []


def test_cluster_name_edit_is_refused_at_admission(stack: Stack, namespace: str) -> None:
    cluster = yaml.safe_load((EXAMPLES / "ecs-cluster.yaml").read_text())
    cluster["metadata"]["namespace"] = namespace
    stack.apply(cluster)
    cluster["spec"]["clusterName"] = "other"
    out = stack.apply(cluster, check=False)
    assert "spec.clusterName is immutable" in out


def test_service_naming_a_missing_cluster_waits_and_registers_nothing(
    stack: Stack, namespace: str
) -> None:
    stack.apply(service_manifest(namespace, "lost", clusterName="nowhere"))
    obj = wait_condition(stack, SERVICES, namespace, "lost", "Ready", status="Unknown")
    ready = condition(obj, "Ready")
    assert ready["reason"] == "WaitingForCluster"
    assert "ECS cluster nowhere does not exist in us-east-1" in ready["message"]
    assert revisions(stack, "lost") == []


def test_service_in_another_region_than_its_cluster_is_refused_and_registers_nothing(
    stack: Stack, namespace: str
) -> None:
    stack.apply(
        {
            "apiVersion": GROUP_VERSION,
            "kind": "EcsCluster",
            "metadata": {"name": "home", "namespace": namespace},
            "spec": {"clusterName": "home"},
        }
    )
    wait_condition(stack, CLUSTERS, namespace, "home", "Ready")
    body = service_manifest(namespace, "abroad", region="eu-west-1", clusterRef={"name": "home"})
    del body["spec"]["clusterName"]
    stack.apply(body)

    obj = wait_condition(stack, SERVICES, namespace, "abroad", "Stalled")
    synced = condition(obj, "Synced")
    assert synced["reason"] == "RegionMismatch"
    assert "EcsCluster home is in us-east-1" in synced["message"]
    assert "Set spec.region to us-east-1" in synced["message"]
    for region in ("us-east-1", "eu-west-1"):
        families = stack.aws("ecs", region).list_task_definitions()["taskDefinitionArns"]
        assert families == [], region
