"""EcsService diffs: canonical task definitions, content hashes, and UpdateService sending only
what changed."""

from typing import Any

import pydantic
import pytest
from gantry.core.errors import Terminal
from gantry.ecs.diff import (
    canonical_task_definition,
    content_hash,
    create_service_params,
    plan_cluster,
    plan_service,
    preflight,
    revisions_to_delete,
    rollout_deadlocks,
    task_definition_arn,
)
from gantry.ecs.models import EcsClusterSpec, EcsServiceSpec

PREFIX = "arn:aws:ecs:us-east-1:123456789012"
SERVICE_ARN = f"{PREFIX}:service/shop/web"
TD = {n: f"{PREFIX}:task-definition/web:{n}" for n in range(1, 12)}
OWNER = {"gantry.dev/owner": "default/ns/EcsService/web", "gantry.dev/uid": "u1"}


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "web", "image": "nginx:1.27", **fields}


def spec(*containers: dict[str, Any], **fields: Any) -> EcsServiceSpec:
    template = {"containers": list(containers or [container()]), **fields.pop("template", {})}
    return EcsServiceSpec.model_validate(
        {"clusterName": "shop", "taskTemplate": template, "desiredCount": 2, **fields}
    )


def images(s: EcsServiceSpec) -> dict[str, str]:
    assert s.task_template is not None
    return {c.name: c.image or "" for c in s.task_template.containers}


def canonical(s: EcsServiceSpec) -> dict[str, Any]:
    return canonical_task_definition(s, "web", images(s))


def service(**overrides: Any) -> dict[str, Any]:
    """An ACTIVE service as DescribeServices returns it, matching `spec()`'s defaults."""
    return {
        "serviceArn": SERVICE_ARN,
        "serviceName": "web",
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": 2,
        "taskDefinition": TD[1],
        "launchType": "EC2",
        "loadBalancers": [],
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": {"enable": False, "rollback": False},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
        "enableExecuteCommand": False,
        "propagateTags": "NONE",
        **overrides,
    }


# -- canonical forms ------------------------------------------------------------------------


def test_env_and_container_order_do_not_change_the_hash() -> None:
    one = spec(
        container(env={"B": "2", "A": "1"}),
        {"name": "sidecar", "image": "envoy", "secrets": {"Y": "arn:y", "X": "arn:x"}},
    )
    two = spec(
        {"name": "sidecar", "image": "envoy", "secrets": {"X": "arn:x", "Y": "arn:y"}},
        container(env={"A": "1", "B": "2"}),
    )
    assert content_hash(canonical(one)) == content_hash(canonical(two))


def test_aws_defaults_are_filled_so_explicit_defaults_hash_the_same() -> None:
    implicit = canonical(spec(container(ports=[{"containerPort": 80}])))
    explicit = canonical(
        spec(container(essential=True, cpu=0, ports=[{"containerPort": 80, "protocol": "tcp"}]))
    )
    assert implicit == explicit
    web = implicit["containerDefinitions"][0]
    assert web["essential"] is True
    assert web["cpu"] == 0
    assert web["environment"] == []
    assert web["mountPoints"] == []
    assert web["volumesFrom"] == []
    assert implicit["networkMode"] == "bridge"


def test_awsvpc_host_port_equals_container_port() -> None:
    s = spec(
        container(ports=[{"containerPort": 8080}]),
        template={"networkMode": "awsvpc"},
        networkConfiguration={"subnets": ["subnet-1"]},
    )
    port = canonical(s)["containerDefinitions"][0]["portMappings"][0]
    assert port == {"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}


def test_image_change_changes_the_hash() -> None:
    s = spec()
    before = content_hash(canonical_task_definition(s, "web", {"web": "repo@sha256:aa"}))
    after = content_hash(canonical_task_definition(s, "web", {"web": "repo@sha256:bb"}))
    assert before != after


def test_family_and_revision_reference_is_completed_to_the_full_arn() -> None:
    assert task_definition_arn("web:3", SERVICE_ARN) == TD[3]
    assert task_definition_arn(TD[3], SERVICE_ARN) == TD[3]
    assert task_definition_arn("web", SERVICE_ARN) == "web"  # no revision: never equal


# -- the service plan ----------------------------------------------------------------------


def test_unchanged_service_needs_no_update() -> None:
    assert plan_service(spec(launchType="EC2"), service(), TD[1], restart=False).update == {}


def test_fields_an_emulator_drops_are_read_as_ecs_defaults() -> None:
    bare = service()
    del bare["deploymentConfiguration"], bare["enableExecuteCommand"], bare["propagateTags"]
    assert plan_service(spec(), bare, TD[1], restart=False).update == {}


def test_service_naming_family_and_revision_is_not_updated_to_the_same_arn() -> None:
    plan = plan_service(spec(), service(taskDefinition="web:1"), TD[1], restart=False)
    assert plan.update == {}


def test_new_revision_sends_only_the_task_definition() -> None:
    plan = plan_service(spec(), service(), TD[2], restart=False)
    assert plan.update == {"taskDefinition": TD[2]}


@pytest.mark.parametrize(
    ("policy", "sent"), [("Managed", True), ("InitialOnly", False), ("External", False)]
)
def test_desired_count_is_sent_only_when_managed(policy: str, sent: bool) -> None:
    plan = plan_service(spec(replicaPolicy=policy), service(desiredCount=7), TD[1], False)
    assert ("desiredCount" in plan.update) is sent


def test_capacity_provider_strategy_change_forces_a_new_deployment() -> None:
    s = spec(capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}])
    have = service(capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])
    del have["launchType"]
    plan = plan_service(s, have, TD[1], restart=False)
    assert plan.update["forceNewDeployment"] is True
    assert plan.update["capacityProviderStrategy"][0]["capacityProvider"] == "FARGATE_SPOT"


def test_service_inheriting_the_cluster_default_strategy_shows_no_diff() -> None:
    have = service(capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}])
    del have["launchType"]
    assert plan_service(spec(), have, TD[1], restart=False).update == {}


def test_restart_forces_a_new_deployment_of_the_same_revision() -> None:
    plan = plan_service(spec(restartedAt="2026-05-04T10:00:00Z"), service(), TD[1], restart=True)
    assert plan.update == {"forceNewDeployment": True}
    assert plan.changed == ["restartedAt"]


def test_changed_deployment_percentages_are_sent_with_ecs_defaults_filled() -> None:
    s = spec(deploymentConfiguration={"minimumHealthyPercent": 50})
    plan = plan_service(s, service(), TD[1], restart=False)
    assert plan.update["deploymentConfiguration"]["minimumHealthyPercent"] == 50
    assert plan.update["deploymentConfiguration"]["maximumPercent"] == 200


def test_launch_type_change_is_reported_not_sent() -> None:
    plan = plan_service(spec(launchType="FARGATE"), service(), TD[1], restart=False)
    assert "launchType" not in plan.update
    assert "launchType is EC2 in ECS but FARGATE" in plan.immutable_mismatches[0]


def test_creation_carries_the_uid_token_owner_tags_and_the_initial_count() -> None:
    s = spec(replicaPolicy="External", desiredCount=3, tags={"team": "shop"})
    uid = "0f8e4c2a-6b1d-4e7f-9a3c-5d2b8e1f4a6c"
    params = create_service_params(s, ("shop", "web"), TD[1], OWNER, uid)
    assert params["clientToken"] == uid
    assert params["desiredCount"] == 3  # External still starts somewhere
    assert {"key": "gantry.dev/owner", "value": OWNER["gantry.dev/owner"]} in params["tags"]
    assert {"key": "team", "value": "shop"} in params["tags"]
    assert params["taskDefinition"] == TD[1]


# -- preflight -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "maximum", "minimum", "deadlocks"),
    [(1, 150, 50, True), (1, 200, 100, False), (2, 150, 50, False), (4, 100, 100, True)],
)
def test_deployment_percentages_that_deadlock_are_refused(
    count: int, maximum: int, minimum: int, deadlocks: bool
) -> None:
    s = spec(
        container(memory=256),
        desiredCount=count,
        deploymentConfiguration={"maximumPercent": maximum, "minimumHealthyPercent": minimum},
    )
    assert rollout_deadlocks(s) is deadlocks
    if deadlocks:
        with pytest.raises(Terminal, match="no room"):
            preflight(s)


def test_a_container_without_any_memory_size_is_refused_by_name() -> None:
    with pytest.raises(Terminal, match="container sidecar has no memory or memoryReservation"):
        preflight(spec(container(memory=256), container(name="sidecar")))
    preflight(spec(container(memory=256), container(name="sidecar", memoryReservation=64)))
    preflight(spec(container(), template={"memory": "512"}))  # task-level memory covers it


def fargate(cpu: str, memory: str) -> EcsServiceSpec:
    return spec(
        template={
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": cpu,
            "memory": memory,
        },
        networkConfiguration={"subnets": ["subnet-1"]},
    )


def test_fargate_cpu_and_memory_must_be_a_valid_pair() -> None:
    preflight(fargate("256", "512"))
    with pytest.raises(Terminal, match="does not fit cpu 256"):
        preflight(fargate("256", "4096"))
    with pytest.raises(Terminal, match="use 512, 1024, 2048 MiB"):
        preflight(fargate("256", "1536"))
    preflight(fargate("1024", "3072"))
    with pytest.raises(Terminal, match="not a Fargate size"):
        preflight(fargate("300", "1024"))


@pytest.mark.parametrize(
    ("placement", "how"),
    [
        ({"launchType": "FARGATE"}, "launchType FARGATE"),
        (
            {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]},
            "a FARGATE capacity provider",
        ),
    ],
)
def test_a_service_on_fargate_needs_a_task_that_declares_fargate(
    placement: dict[str, Any], how: str
) -> None:
    ec2_task = spec(template={"requiresCompatibilities": ["EC2"]}, **placement)
    with pytest.raises(Terminal, match=f"runs on Fargate \\({how}\\).*add FARGATE"):
        preflight(ec2_task)
    preflight(fargate("256", "512").model_copy(update={"launch_type": "FARGATE"}))


def test_a_host_port_awsvpc_would_refuse_is_refused_before_registering() -> None:
    def with_port(**port: int) -> EcsServiceSpec:
        web = container(memory=256, ports=[{"containerPort": 80, **port}])
        return spec(web, template={"networkMode": "awsvpc"},
                    networkConfiguration={"subnets": ["subnet-1"]})  # fmt: skip

    with pytest.raises(Terminal, match="hostPort 8080 differs from containerPort 80"):
        preflight(with_port(hostPort=8080))
    preflight(with_port(hostPort=80))
    preflight(with_port())


# -- revisions and the cluster --------------------------------------------------------------


def test_revision_cleanup_keeps_the_newest_and_every_one_in_use() -> None:
    owned = [TD[n] for n in range(1, 8)]
    assert revisions_to_delete(owned, in_use=[TD[2], TD[7]], keep=3) == [TD[4], TD[3], TD[1]]


def test_unchanged_cluster_needs_no_call() -> None:
    s = EcsClusterSpec.model_validate({"containerInsights": "enabled", "tags": {"team": "a"}})
    cluster = {
        "clusterName": "shop",
        "clusterArn": f"{PREFIX}:cluster/shop",
        "settings": [{"name": "containerInsights", "value": "enabled"}],
        "tags": [{"key": "team", "value": "a"}]
        + [{"key": k, "value": v} for k, v in OWNER.items()],
    }
    assert plan_cluster(s, cluster, OWNER) == []
    cluster["settings"] = [{"name": "containerInsights", "value": "disabled"}]
    assert [op for op, _ in plan_cluster(s, cluster, OWNER)] == ["UpdateCluster"]


def test_depends_on_must_name_another_container_of_the_task() -> None:
    web = container(memory=256, dependsOn=[{"containerName": "proxy", "condition": "START"}])
    with pytest.raises(Terminal, match="dependsOn names proxy, which is not another container"):
        preflight(spec(web))
    proxy = {**container(memory=128), "name": "proxy"}
    preflight(spec(web, proxy))


@pytest.mark.parametrize(
    ("strategy", "fragment"),
    [
        ([{"capacityProvider": "FARGATE", "weight": 0}], "needs a weight above 0"),
        (
            [
                {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 2},
            ],
            "only one capacity provider of a strategy may have a base",
        ),
    ],
)
def test_a_strategy_ecs_would_refuse_is_refused_when_the_spec_is_read(
    strategy: list[dict[str, Any]], fragment: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=fragment):
        spec(capacityProviderStrategy=strategy)
    with pytest.raises(pydantic.ValidationError, match=fragment):
        EcsClusterSpec.model_validate({"defaultCapacityProviderStrategy": strategy})
