"""The rollout state machine over DescribeServices answers shaped like real ECS ones.

The shapes below follow what ECS returns for a rolling deployment (field names, deployment
statuses, rolloutState values and reasons), trimmed to the fields the machine reads.
"""

import datetime as dt
from typing import Any

from gantry.ecs.diff import RolloutState, assess_rollout, new_events

ACCOUNT = "arn:aws:ecs:eu-west-1:111122223333"
SERVICE_ARN = f"{ACCOUNT}:service/shop/web"
REV = {n: f"{ACCOUNT}:task-definition/shop-web:{n}" for n in range(1, 10)}
STARTED = dt.datetime(2026, 5, 4, 10, 0, 0, tzinfo=dt.UTC)
DEADLINE = 600


def deployment(
    rev: int,
    status: str = "PRIMARY",
    rollout: str = "COMPLETED",
    running: int = 2,
    desired: int = 2,
    failed: int = 0,
    created: dt.datetime = STARTED + dt.timedelta(seconds=1),
    reason: str = "",
) -> dict[str, Any]:
    return {
        "id": f"ecs-svc/{rev}{status}",
        "status": status,
        "taskDefinition": REV[rev],
        "desiredCount": desired,
        "pendingCount": max(desired - running, 0),
        "runningCount": running,
        "failedTasks": failed,
        "createdAt": created,
        "updatedAt": created + dt.timedelta(seconds=30),
        "launchType": "FARGATE",
        "rolloutState": rollout,
        "rolloutStateReason": reason or f"ECS deployment ecs-svc/{rev} {rollout.lower()}.",
    }


def service(*deployments: dict[str, Any], running: int = 2, desired: int = 2) -> dict[str, Any]:
    return {
        "serviceArn": SERVICE_ARN,
        "serviceName": "web",
        "status": "ACTIVE",
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": max(desired - running, 0),
        "taskDefinition": deployments[0]["taskDefinition"],
        "deployments": list(deployments),
        "events": [],
    }


def assess(svc: dict[str, Any], rev: int, minutes: float = 1) -> Any:
    return assess_rollout(svc, REV[rev], STARTED, DEADLINE, STARTED + dt.timedelta(minutes=minutes))


def test_completed_primary_with_desired_revision_and_all_tasks_running_is_completed() -> None:
    rollout = assess(service(deployment(2)), 2)
    assert rollout.state is RolloutState.COMPLETED
    assert "revision 2" in rollout.message


def test_new_primary_still_replacing_old_tasks_is_in_progress() -> None:
    svc = service(
        deployment(3, rollout="IN_PROGRESS", running=1),
        deployment(2, status="ACTIVE", running=2, created=STARTED - dt.timedelta(days=1)),
        running=3,
    )
    rollout = assess(svc, 3)
    assert rollout.state is RolloutState.IN_PROGRESS
    assert rollout.reason == "RollingOut"
    assert "1 of 2 new tasks running" in rollout.message
    assert "1 older deployment(s) draining" in rollout.message


def test_completed_deployment_with_fewer_running_than_desired_is_not_completed() -> None:
    rollout = assess(service(deployment(2), running=1), 2)
    assert rollout.state is RolloutState.IN_PROGRESS


def test_failed_rollout_is_failed_with_ecs_reason_and_count() -> None:
    reason = "ECS deployment circuit breaker: tasks failed to start."
    svc = service(
        deployment(4, rollout="FAILED", running=0, failed=3, reason=reason),
        deployment(3, status="ACTIVE", created=STARTED - dt.timedelta(days=1)),
    )
    rollout = assess(svc, 4)
    assert rollout.state is RolloutState.FAILED
    assert rollout.reason == "DeploymentFailed"
    assert reason in rollout.message
    assert rollout.failed_tasks == 3


def test_circuit_breaker_rollback_to_older_revision_is_failed_not_ready() -> None:
    # After a rollback ECS runs the last good revision as a new PRIMARY that completes
    # normally: every count looks healthy, but the desired revision is not what runs.
    svc = service(
        deployment(
            3,
            rollout="COMPLETED",
            created=STARTED + dt.timedelta(minutes=4),
            reason="ECS deployment ecs-svc/3 completed.",
        ),
        deployment(4, status="ACTIVE", rollout="FAILED", running=0, failed=4),
    )
    rollout = assess(svc, 4, minutes=6)
    assert rollout.state is RolloutState.FAILED
    assert rollout.reason == "RolledBack"
    assert "rolled back to revision 3" in rollout.message


def test_rollback_is_recognised_after_the_failed_deployment_is_gone() -> None:
    svc = service(deployment(3, created=STARTED + dt.timedelta(minutes=4)))
    rollout = assess(svc, 4, minutes=30)
    assert rollout.state is RolloutState.FAILED
    assert rollout.reason == "RolledBack"


def test_older_primary_created_before_our_update_means_waiting_not_rollback() -> None:
    svc = service(deployment(3, created=STARTED - dt.timedelta(hours=2)))
    rollout = assess(svc, 4, minutes=0.1)
    assert rollout.state is RolloutState.IN_PROGRESS
    assert rollout.reason == "WaitingForDeployment"


def test_deadline_passed_with_zero_failed_tasks_is_failed_with_a_placement_hint() -> None:
    svc = service(deployment(5, rollout="IN_PROGRESS", running=0), running=0)
    rollout = assess(svc, 5, minutes=11)
    assert rollout.state is RolloutState.FAILED
    assert rollout.reason == "ProgressDeadlineExceeded"
    assert rollout.failed_tasks == 0
    assert "no task failed" in rollout.message


def test_deadline_not_yet_passed_is_still_in_progress() -> None:
    svc = service(deployment(5, rollout="IN_PROGRESS", running=0), running=0)
    assert assess(svc, 5, minutes=9).state is RolloutState.IN_PROGRESS


def test_deployment_naming_revision_by_family_and_number_is_read_as_the_full_arn() -> None:
    svc = service(deployment(2))
    svc["deployments"][0]["taskDefinition"] = "shop-web:2"
    assert assess(svc, 2).state is RolloutState.COMPLETED


def test_only_unseen_service_events_are_new_and_ten_are_kept() -> None:
    events = [
        {"id": f"e{i}", "createdAt": f"2026-05-04T10:{i:02d}:00Z", "message": f"m{i}"}
        for i in range(12, 0, -1)
    ]
    latest, fresh = new_events({"events": events}, [{"id": "e12"}, {"id": "e11"}])
    assert [e["id"] for e in latest] == [f"e{i}" for i in range(12, 2, -1)]
    assert [e["id"] for e in fresh] == [f"e{i}" for i in range(10, 2, -1)]
