"""EcsService states moto never produces (failed rollouts, stopped tasks, service events, a
draining service, a cluster DeleteCluster refuses), driven through the reconcile with a fake ECS
client shaped like ECS."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError
from gantry.core.aws import Identity
from gantry.core.conditions import Phase
from gantry.core.errors import Retryable
from gantry.core.ownership import Owner
from gantry.core.reconcile import Pass, Result
from gantry.ecs import reconcile
from gantry.ecs.models import EcsClusterSpec, EcsServiceSpec

OWNER = Owner("test", "ns", "EcsService", "web", "uid-1")
PREFIX = "arn:aws:ecs:us-east-1:123456789012"
SERVICE_ARN = f"{PREFIX}:service/shop/web"
TD = f"{PREFIX}:task-definition/web:4"
RECORDED = {"serviceArn": SERVICE_ARN, "serviceName": "web", "clusterArn": f"{PREFIX}:cluster/shop"}


class FakeEcs:
    """Answers like ECS for one service; records the calls made."""

    def __init__(self, service: dict[str, Any]) -> None:
        self.service = service
        self.calls: list[str] = []
        self.stopped: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            raise AttributeError(name)

        def call(**params: Any) -> Any:
            self.calls.append(name)
            return getattr(self, f"do_{name}", lambda **_: {})(**params)

        return call

    def do_describe_services(self, **_: Any) -> Any:
        return {"services": [self.service], "failures": []}

    def do_update_service(self, **params: Any) -> Any:
        self.service.update({k: v for k, v in params.items() if k not in ("cluster", "service")})
        return {"service": self.service}

    def do_delete_service(self, **_: Any) -> Any:
        self.service["status"] = "DRAINING"
        return {"service": self.service}

    def do_list_tasks(self, **_: Any) -> Any:
        return {"taskArns": [t["taskArn"] for t in self.stopped]}

    def do_describe_tasks(self, **_: Any) -> Any:
        return {"tasks": self.stopped, "failures": []}

    def do_list_task_definitions(self, **_: Any) -> Any:
        return {"taskDefinitionArns": []}

    def get_paginator(self, name: str) -> Any:
        fake = self

        class Pages:
            def paginate(self, **params: Any) -> Any:
                return [getattr(fake, name)(**params)]

        return Pages()


class FakeClients:
    def __init__(self, fake: FakeEcs) -> None:
        self.fake = fake

    def get(self, service: str, identity: Identity) -> Any:
        return self.fake


def work(fake: FakeEcs, status: dict[str, Any], in_sync: bool = False) -> Pass:
    body = {"metadata": {"name": "web", "namespace": "ns", "generation": 1}, "status": status}
    return Pass(
        body, logging.getLogger("test"), FakeClients(fake),  # type: ignore[arg-type]
        Identity("us-east-1"), OWNER, False, lambda _: None, in_sync,
    )  # fmt: skip


def spec(**fields: Any) -> EcsServiceSpec:
    return EcsServiceSpec.model_validate(
        {"clusterName": "shop", "taskDefinitionArn": TD, "desiredCount": 2, **fields}
    )


def service(rollout: str = "COMPLETED", **overrides: Any) -> dict[str, Any]:
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return {
        "serviceArn": SERVICE_ARN,
        "serviceName": "web",
        "clusterArn": f"{PREFIX}:cluster/shop",
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": 0,
        "taskDefinition": TD,
        "launchType": "FARGATE",
        "tags": [{"key": k, "value": v} for k, v in OWNER.tags().items()],
        "deployments": [
            {
                "id": "ecs-svc/4",
                "status": "PRIMARY",
                "taskDefinition": TD,
                "desiredCount": 2,
                "runningCount": 0,
                "failedTasks": 3,
                "createdAt": started,
                "rolloutState": rollout,
                "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
            }
        ],
        "events": [
            {"id": "e2", "createdAt": started, "message": "(service web) has started 2 tasks."},
            {"id": "e1", "createdAt": started, "message": "(service web) deployment started."},
        ],
        **overrides,
    }


STOPPED_TASK = {
    "taskArn": f"{PREFIX}:task/shop/0a1b",
    "stopCode": "EssentialContainerExited",
    "stoppedReason": "Essential container in task exited",
    "containers": [{"name": "web", "exitCode": 1, "reason": None}],
}


def conditions(result: Result) -> dict[str, str]:
    return {c["type"]: c["status"] for c in result.outcome.extra}


def test_failed_rollout_reports_why_tasks_stopped_and_the_ecs_events() -> None:
    fake = FakeEcs(service(rollout="FAILED"))
    fake.stopped = [STOPPED_TASK]
    result = reconcile.reconcile_service(work(fake, dict(RECORDED)), spec())

    assert result.outcome.phase is Phase.STALLED
    assert result.outcome.reason == "DeploymentFailed"
    assert conditions(result) == {"DeploymentFailed": "True"}
    stopped = result.status["stoppedTasks"][0]
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["containers"] == [{"name": "web", "exitCode": 1, "reason": None}]
    assert [e.reason for e in result.events] == ["ServiceEvent", "ServiceEvent", "DeploymentFailed"]
    assert result.events[0].message == "(service web) deployment started."  # oldest first
    assert "update_service" not in fake.calls


def test_known_failure_and_seen_events_are_not_posted_again() -> None:
    fake = FakeEcs(service(rollout="FAILED"))
    first = reconcile.reconcile_service(work(fake, dict(RECORDED)), spec())
    failed = [{"type": "DeploymentFailed", "status": "True"}]
    status = {**RECORDED, **first.status, "conditions": failed}
    second = reconcile.reconcile_service(work(fake, status), spec())
    assert second.outcome.reason == "DeploymentFailed"
    assert second.events == []


# The operator stopped between UpdateService (to revision 4) and writing status: the status
# still holds the rollout of revision 3, started when the service was created long ago.
STALE_ROLLOUT = {
    "rollout": {
        "taskDefinition": f"{PREFIX}:task-definition/web:3",
        "startedAt": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)).isoformat(),
    }
}


def test_rollout_after_a_crash_is_timed_from_ecs_deployment_not_an_older_rollout() -> None:
    fake = FakeEcs(service(rollout="IN_PROGRESS"))
    fake.service["deployments"][0]["failedTasks"] = 0
    result = reconcile.reconcile_service(work(fake, {**RECORDED, **STALE_ROLLOUT}), spec())

    # Five hours past the recorded start would exceed the deadline; the deployment is
    # five minutes old, so the rollout is simply in progress.
    assert result.outcome.reason == "RollingOut"
    created = fake.service["deployments"][0]["createdAt"]
    assert result.status["rollout"]["startedAt"] == created.isoformat()
    assert "update_service" not in fake.calls


def test_older_primary_after_a_crash_means_waiting_not_rolled_back() -> None:
    # The service names revision 4, but ECS has not created its deployment yet: the primary
    # still runs revision 3, created after the stale recorded start.
    fake = FakeEcs(service())
    primary = fake.service["deployments"][0]
    primary.update(taskDefinition=f"{PREFIX}:task-definition/web:3", rolloutStateReason="")
    result = reconcile.reconcile_service(work(fake, {**RECORDED, **STALE_ROLLOUT}), spec())

    assert result.outcome.reason == "WaitingForDeployment"
    assert result.status["rollout"]["startedAt"] is None


NEXT_TD = f"{PREFIX}:task-definition/web:5"


def drift_events(result: Result) -> list[str]:
    return [e.message for e in result.events if e.reason == "DriftRepaired"]


def test_a_revision_gantry_moves_to_is_a_rollout_not_a_drift_repair() -> None:
    # In sync on revision 4; the desired revision is now 5 with no spec change, as when an
    # imageFrom tag was pushed again and resolves to a new digest.
    fake = FakeEcs(service())
    status = {**RECORDED, "taskDefinition": {"arn": TD}}
    result = reconcile.reconcile_service(work(fake, status, True), spec(taskDefinitionArn=NEXT_TD))
    assert fake.service["taskDefinition"] == NEXT_TD
    assert drift_events(result) == []


def test_a_revision_changed_outside_gantry_is_restored_and_reported() -> None:
    fake = FakeEcs(service())  # someone pointed the service at revision 4
    status = {**RECORDED, "taskDefinition": {"arn": NEXT_TD}}
    result = reconcile.reconcile_service(work(fake, status, True), spec(taskDefinitionArn=NEXT_TD))
    assert fake.service["taskDefinition"] == NEXT_TD
    assert drift_events(result) == [
        f"service web: changed outside Gantry, restored: taskDefinition {TD} -> {NEXT_TD}"
    ]


def test_deletion_scales_to_zero_deletes_and_waits_while_ecs_drains() -> None:
    fake = FakeEcs(service(runningCount=2))
    result = reconcile.delete_service(work(fake, dict(RECORDED)), spec())
    assert fake.calls[:3] == ["describe_services", "update_service", "delete_service"]
    assert fake.service["desiredCount"] == 0
    assert result is not None
    assert result.outcome.phase is Phase.DELETING
    assert result.outcome.reason == "Draining"
    assert "2 task(s) still running" in result.outcome.message
    assert result.poll_after is not None


def test_long_drain_is_reported_and_deletion_keeps_waiting() -> None:
    fake = FakeEcs(service(status="DRAINING", runningCount=1))
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)).isoformat()
    result = reconcile.delete_service(
        work(fake, {**RECORDED, "deletionStartedAt": long_ago}), spec()
    )
    assert result is not None
    assert result.outcome.reason == "DrainingTooLong"
    assert "IAM role" in result.outcome.message
    assert fake.calls == ["describe_services"]  # no second delete


def test_deletion_finishes_once_the_service_is_inactive() -> None:
    fake = FakeEcs(service(status="INACTIVE", desiredCount=0))
    assert reconcile.delete_service(work(fake, dict(RECORDED)), spec()) is None


class FakeClusterEcs:
    """An empty cluster of ours whose DeleteCluster answers with the given error code."""

    def __init__(self, error: str) -> None:
        self.error = error
        self.arn = f"{PREFIX}:cluster/shop"

    def describe_clusters(self, **_: Any) -> Any:
        return {"clusters": [{"clusterArn": self.arn, "status": "ACTIVE", "tags": []}]}

    def get_paginator(self, name: str) -> Any:
        class Pages:
            def paginate(self, **_: Any) -> Any:
                return [{}]

        return Pages()

    def delete_cluster(self, **_: Any) -> Any:
        error = {"Error": {"Code": self.error, "Message": "no"}}
        raise ClientError(error, "DeleteCluster")  # type: ignore[arg-type]


def delete_empty_cluster(error: str) -> Result | None:
    fake = FakeClusterEcs(error)
    return reconcile.delete_cluster(work(fake, {"arn": fake.arn}), EcsClusterSpec())  # type: ignore[arg-type]


def test_standalone_tasks_found_by_delete_cluster_block_the_deletion_and_say_so() -> None:
    result = delete_empty_cluster("ClusterContainsTasksException")
    assert result is not None
    assert conditions(result)["DeletionBlocked"] == "True"
    assert "running tasks" in result.outcome.message


def test_throttled_delete_cluster_is_a_retry_not_a_blocked_deletion() -> None:
    with pytest.raises(Retryable) as raised:
        delete_empty_cluster("ThrottlingException")
    assert raised.value.code == "ThrottlingException"
