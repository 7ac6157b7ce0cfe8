"""The EcsService and EcsCluster reconciles: observe, diff, apply, report.

Called by `handlers.py` through the shared runner with a `Pass` and the parsed spec; reads
other objects through `refs.py`, calls `aws.py` for AWS I/O and `diff.py` for every decision.
Returns a Result (an ECS rollout in progress is PROGRESSING with `poll_after`, so the runner
looks again soon); raises Retryable / Terminal for the runner to report. Knows nothing of kopf.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from gantry.core.conditions import (
    FALSE,
    TRUE,
    Outcome,
    Phase,
    extra_condition,
    find_condition,
    now_rfc3339,
)
from gantry.core.errors import Retryable
from gantry.core.models import DeletionPolicy
from gantry.core.ownership import OWNER_TAG, Claim, claim
from gantry.core.reconcile import Event, Pass, Result
from gantry.ecs import aws, refs
from gantry.ecs.diff import (
    HASH_TAG,
    Rollout,
    RolloutState,
    assess_rollout,
    aws_tags,
    canonical_task_definition,
    content_hash,
    create_cluster_params,
    create_service_params,
    deployment_started_at,
    desired_tags,
    family,
    new_events,
    parse_time,
    plan_cluster,
    plan_service,
    preflight,
    revision_of,
    revisions_to_delete,
    tag_map,
    tags_to_add,
    task_definition_arn,
)
from gantry.ecs.models import EcsClusterSpec, EcsServiceSpec, OnImmutableChange
from gantry.settings import SETTINGS

# A service that drains for longer than this is reported (deletion keeps waiting).
DRAIN_REPORT_AFTER = dt.timedelta(minutes=15)
# A sibling applied together with this object creates its AWS resource within seconds.
SIBLING_POLL_S = 2.0


@dataclass(frozen=True)
class Target:
    """Where the service lives in ECS."""

    cluster: str
    service: str


@dataclass(frozen=True)
class DesiredTask:
    arn: str
    status: dict[str, Any]
    registered: bool
    images: list[dict[str, Any]]


def _now() -> str:
    # Microseconds matter: a deployment ECS creates right after our update must compare later.
    return dt.datetime.now(dt.UTC).isoformat()


def _waiting(reason: str, message: str, soon: bool = False) -> Result:
    """Progressing, polled again later. `soon` is for a sibling object that exists and is
    creating its AWS resource (applied together with this one): that takes seconds, so look
    again in seconds rather than after the retry delay."""
    delay = min(SETTINGS.retry_delay, SIBLING_POLL_S) if soon else SETTINGS.retry_delay
    return Result(Outcome(Phase.PROGRESSING, reason, message), poll_after=delay)


# -- EcsService -------------------------------------------------------------------------------


def reconcile_service(work: Pass, spec: EcsServiceSpec) -> Result:
    preflight(spec)
    target = _target(work, spec)
    if isinstance(target, Result):
        return target
    moved = _moved(work, target)
    if moved is not None:
        replacing = _replace(work, spec, *moved, new_name=target.service)
        if replacing is not None:
            return replacing
    ecs = work.client(aws.SERVICE)
    service = aws.describe_service(ecs, target.cluster, target.service)
    if service is not None and service.get("status") == "DRAINING":
        return _waiting("WaitingForDrain", f"an earlier service {target.service} is draining")
    if service is not None and service.get("status") == "INACTIVE":
        service = None  # deleted: a new service of the same name may be created
    # Someone else's service is refused before anything is registered for it.
    refusal = _refuse_foreign(work, target, service) if service is not None else None
    if refusal is not None:
        return refusal

    if service is None and aws.describe_cluster(ecs, target.cluster) is None:
        # Nothing is registered for a service whose cluster is missing (a wrong name or
        # region, or a cluster made elsewhere that does not exist yet).
        return _waiting(
            "WaitingForCluster",
            f"ECS cluster {target.cluster} does not exist in {work.identity.region}; create "
            "it, or correct spec.clusterName or spec.region",
        )
    task = _desired_task(work, spec, target, ecs)
    if isinstance(task, Result):
        return task
    started: str | None = None
    if service is None:
        started = _now()
        service = _create_service(work, spec, target, task, ecs)
    return _converge(work, spec, target, task, service, started)


def _converge(
    work: Pass,
    spec: EcsServiceSpec,
    target: Target,
    task: DesiredTask,
    service: dict[str, Any],
    started: str | None,
) -> Result:
    ecs = work.client(aws.SERVICE)
    restart = bool(spec.restarted_at) and spec.restarted_at != work.status.get("restartedAt")
    plan = plan_service(spec, service, task.arn, restart and started is None)
    observed_tags = tag_map(service.get("tags"))  # UpdateService answers without tags
    if plan.immutable_mismatches:
        replacing = _replace(work, spec, target, plan.immutable_mismatches, target.service)
        # The old service is gone: the next pass creates the new one.
        return replacing or _waiting("Replacing", "old service deleted; creating the new one")
    repaired: list[Event] = []
    if plan.update:
        if "taskDefinition" in plan.update or "forceNewDeployment" in plan.update:
            started = _now()
        # A revision Gantry moved to this pass (a re-pushed imageFrom tag) is no drift.
        moved = task.arn != (work.status.get("taskDefinition") or {}).get("arn")
        ours = ("taskDefinition",) if moved else ()
        repaired = _drift_repaired(work, f"service {target.service}", service, plan.update, ours)
        service = aws.update_service(ecs, target.cluster, target.service, plan.update)
        work.logger.info("service %s updated: %s", target.service, ", ".join(plan.changed))
    missing = tags_to_add(desired_tags(spec, work.owner.tags()), observed_tags)
    if missing:
        aws.tag(ecs, service["serviceArn"], aws_tags(missing))

    rollout_started = started or _recorded_start(work, service, task.arn)
    rollout = assess_rollout(
        service,
        task.arn,
        parse_time(rollout_started) if rollout_started else None,
        spec.progress_deadline_seconds,
        dt.datetime.now(dt.UTC),
    )
    if task.registered or _just_completed(work, rollout):
        _clean_revisions(work, spec, task, service)
    status = _service_status(work, spec, task, service, rollout, rollout_started)
    result = _rollout_result(work, target, service, rollout, status)
    result.events[:0] = repaired
    return result


def _drift_repaired(
    work: Pass,
    what: str,
    observed: dict[str, Any],
    update: dict[str, Any],
    ours: tuple[str, ...] = (),
) -> list[Event]:
    """A write to an object that was in sync at its generation repairs a change made outside
    Gantry: say what it was and what it is again, as a Warning Event. `ours` names fields
    Gantry itself changed this pass, which are not repairs."""
    if not work.in_sync:
        return []
    changes = [
        f"{key} {_brief(observed.get(key))} -> {_brief(value)}"
        for key, value in sorted(update.items())
        if key not in _NOT_SETTINGS and key not in ours
    ]
    if not changes:
        return []
    message = f"{what}: changed outside Gantry, restored: {'; '.join(changes)}"
    work.logger.warning(message)
    return [Event("Warning", "DriftRepaired", message)]


# Parameters of an update call that name what is updated, or how, rather than a setting.
_NOT_SETTINGS = ("cluster", "resourceArn", "forceNewDeployment")


def _brief(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _recorded_start(work: Pass, service: dict[str, Any], task_definition: str) -> str | None:
    """When the rollout of `task_definition` started, as the last pass recorded it. A start
    recorded for another revision is not this rollout's: the operator stopped between
    UpdateService and writing status. Then ECS's own deployment of the revision tells,
    or nothing does (and no deadline or rollback is judged from a wrong time)."""
    recorded = work.status.get("rollout") or {}
    if recorded.get("startedAt") and recorded.get("taskDefinition") == task_definition:
        return str(recorded["startedAt"])
    return deployment_started_at(service, task_definition)


def _target(work: Pass, spec: EcsServiceSpec) -> Target | Result:
    service = spec.service_name or work.name
    if spec.cluster_name:
        return Target(spec.cluster_name, service)
    ref = spec.cluster_ref.name if spec.cluster_ref else ""
    found = refs.cluster(work.namespace, ref)
    if found is None:
        return _waiting("WaitingForCluster", f"EcsCluster {ref} does not exist in this namespace")
    if not found.created:
        return _waiting(
            "WaitingForCluster", f"EcsCluster {ref} has not created its cluster yet", soon=True
        )
    if found.region and found.region != work.identity.region:
        return Result.stalled(
            "RegionMismatch",
            f"EcsCluster {ref} is in {found.region}, but this service would be created in "
            f"{work.identity.region}: a service runs in its cluster's region. Set spec.region "
            f"to {found.region} (or remove it if {found.region} is the namespace's region).",
        )
    return Target(found.name, service)


def _moved(work: Pass, target: Target) -> tuple[Target, list[str]] | None:
    """ECS cannot rename a service or move it to another cluster; the ARN in status says
    where the service Gantry manages lives. Returns that old place and what differs."""
    recorded = _recorded_target(work)
    if recorded is None:
        return None
    cluster, name = recorded.cluster, recorded.service
    problems = []
    if name != target.service:
        problems.append(f"serviceName is {name} in ECS but {target.service} in the spec")
    if cluster != target.cluster:
        problems.append(f"the cluster is {cluster} in ECS but {target.cluster} in the spec")
    return (Target(cluster, name), problems) if problems else None


def _recorded_target(work: Pass) -> Target | None:
    """Where the service this object created lives, from the names recorded at creation."""
    name = str(work.status.get("serviceName") or "")
    cluster_arn = str(work.status.get("clusterArn") or "")
    if not (work.status.get("serviceArn") and name and cluster_arn):
        return None
    return Target(cluster_arn.rsplit("/", 1)[-1], name)


def _replace(
    work: Pass, spec: EcsServiceSpec, old: Target, problems: list[str], new_name: str
) -> Result | None:
    """Block reports the change; Recreate deletes the old service first. None once the old
    one is gone and the new one may be created."""
    if spec.on_immutable_change == OnImmutableChange.BLOCK:
        return _immutable_result(problems)
    draining = _drain(work, work.client(aws.SERVICE), old)
    if draining is None:
        work.logger.info("old service %s deleted; creating its replacement", old.service)
        old_family = _recorded_family(work)
        if old_family and spec.task_template and old_family != family(spec, new_name):
            _delete_family(work, old_family)  # the new service registers its own family
        return None
    message = "; ".join(problems) + f". Replacing the service: {draining.outcome.message}"
    return Result(
        Outcome(Phase.PROGRESSING, "Replacing", message),
        draining.status,
        poll_after=SETTINGS.retry_delay,
    )


def _immutable_result(problems: list[str]) -> Result:
    message = "; ".join(problems) + (
        ". ECS cannot change this in place and onImmutableChange is Block: restore the spec, "
        "or set onImmutableChange: Recreate to delete the service and create it anew."
    )
    return Result.stalled("ImmutableFieldChanged", message)


def _desired_task(
    work: Pass, spec: EcsServiceSpec, target: Target, ecs: Any
) -> DesiredTask | Result:
    if spec.task_definition_arn:
        arn = spec.task_definition_arn
        return DesiredTask(arn, {"arn": arn, "revision": revision_of(arn)}, False, [])
    images = _resolve_images(work, spec)
    if isinstance(images, Result):
        return images
    params = canonical_task_definition(
        spec, target.service, {i["container"]: i["image"] for i in images}
    )
    digest = content_hash(params)
    known = work.status.get("taskDefinition") or {}
    # A revision never changes, so one whose hash we recorded needs no second look.
    if known.get("hash") == digest and known.get("arn"):
        return DesiredTask(str(known["arn"]), dict(known), False, images)
    latest = aws.latest_hash(ecs, params["family"])
    if latest is not None and latest[1] == digest:
        arn = latest[0]
        registered = False
    else:
        tags = aws_tags({**desired_tags(spec, work.owner.tags()), HASH_TAG: digest})
        arn = str(aws.register_task_definition(ecs, params, tags)["taskDefinitionArn"])
        registered = True
        work.logger.info("task definition %s registered", arn)
    status = {"arn": arn, "revision": revision_of(arn), "hash": digest}
    work.record({"taskDefinition": status})
    return DesiredTask(arn, status, registered, images)


def _resolve_images(work: Pass, spec: EcsServiceSpec) -> list[dict[str, Any]] | Result:
    """Every container's image; imageFrom tags become digests, so a re-pushed tag is a new
    revision (a visible, deliberate rollout) rather than a silent change."""
    resolved: list[dict[str, Any]] = []
    for container in spec.task_template.containers if spec.task_template else []:
        source = container.image_from
        if source is None:
            resolved.append({"container": container.name, "image": container.image or ""})
            continue
        repo = refs.repository(work.namespace, source.repository_ref.name)
        if repo is None or repo.uri is None:
            return _waiting(
                "WaitingForImage",
                f"EcrRepository {source.repository_ref.name} does not exist or has not created "
                "its repository yet",
                soon=repo is not None,
            )
        digest = source.digest or _digest(work, repo, source.tag or "")
        if digest is None:
            return _waiting(
                "ImageNotFound",
                f"tag {source.tag} is not in ECR repository {repo.name}; push it, or fix the tag",
            )
        image = {"container": container.name, "image": f"{repo.uri}@{digest}", "digest": digest}
        resolved.append({**image, "tag": source.tag} if source.tag else image)
    return resolved


def _digest(work: Pass, repo: refs.RepositoryFacts, tag: str) -> str | None:
    identity = work.identity
    if repo.region and repo.region != identity.region:
        identity = type(identity)(region=repo.region, role_arn=identity.role_arn)
    return aws.image_digest(work.clients.get(aws.ECR, identity), repo.name, tag)


def _create_service(
    work: Pass, spec: EcsServiceSpec, target: Target, task: DesiredTask, ecs: Any
) -> dict[str, Any]:
    params = create_service_params(
        spec, (target.cluster, target.service), task.arn, work.owner.tags(), work.owner.uid
    )
    service = aws.create_service(ecs, params)
    # The ARN goes into status before anything else can fail, so a later failure is a retry
    # on a known service, never an orphan.
    work.record(
        {
            "serviceArn": service["serviceArn"],
            "serviceName": target.service,
            "clusterArn": service.get("clusterArn"),
            "region": work.identity.region,
            "restartedAt": spec.restarted_at,
        }
    )
    work.logger.info("service %s created in cluster %s", target.service, target.cluster)
    return service


def _refuse_foreign(work: Pass, target: Target, service: dict[str, Any]) -> Result | None:
    if work.status.get("serviceArn") == service.get("serviceArn"):
        return None
    tags = tag_map(service.get("tags"))
    found = claim(tags, work.owner)
    if found is Claim.OURS:
        return None
    if found is Claim.OTHER:
        return Result.stalled(
            "OwnedByOther",
            f"service {target.service} is managed by {tags.get(OWNER_TAG)}; it is left "
            "untouched. Choose another serviceName, or delete the other object first.",
        )
    return Result.stalled(
        "AlreadyExists",
        f"service {target.service} already exists in cluster {target.cluster} and is not "
        "managed by Gantry; choose another serviceName, or delete the existing service.",
    )


def _just_completed(work: Pass, rollout: Rollout) -> bool:
    previous = (work.status.get("rollout") or {}).get("state")
    return rollout.state is RolloutState.COMPLETED and previous != RolloutState.COMPLETED


def _clean_revisions(
    work: Pass, spec: EcsServiceSpec, task: DesiredTask, service: dict[str, Any]
) -> None:
    """Delete Gantry's revisions beyond revisionHistoryLimit, never one a deployment runs."""
    if spec.task_template is None:
        return
    ecs = work.client(aws.SERVICE)
    arn = str(service.get("serviceArn", ""))
    in_use = {task.arn, task_definition_arn(str(service.get("taskDefinition", "")), arn)}
    in_use |= {
        task_definition_arn(str(d.get("taskDefinition", "")), arn)
        for d in service.get("deployments") or []
    }
    family_name = task.arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
    owned = [
        revision
        for revision in aws.active_revisions(ecs, family_name)
        if claim(aws.revision_tags(ecs, revision), work.owner) is Claim.OURS
    ]
    for revision in revisions_to_delete(owned, in_use, spec.revision_history_limit):
        aws.delete_revision(ecs, revision)
        work.logger.info("task definition %s deleted (revisionHistoryLimit)", revision)


def _service_status(
    work: Pass,
    spec: EcsServiceSpec,
    task: DesiredTask,
    service: dict[str, Any],
    rollout: Rollout,
    started: str | None,
) -> dict[str, Any]:
    return {
        "serviceArn": service.get("serviceArn"),
        "serviceName": service.get("serviceName"),
        "clusterArn": service.get("clusterArn"),
        "region": work.identity.region,
        "taskDefinition": task.status,
        "images": task.images,
        "desiredCount": service.get("desiredCount"),
        "runningCount": service.get("runningCount"),
        "pendingCount": service.get("pendingCount"),
        "restartedAt": spec.restarted_at,
        "deletionStartedAt": None,  # set only while an old service drains
        "rollout": {
            "state": rollout.state.value,
            "reason": rollout.reason,
            "message": rollout.message,
            "startedAt": started,
            "taskDefinition": task.arn,
            "failedTasks": rollout.failed_tasks,
        },
    }


def _rollout_result(
    work: Pass,
    target: Target,
    service: dict[str, Any],
    rollout: Rollout,
    status: dict[str, Any],
) -> Result:
    latest, fresh = new_events(service, work.status.get("events") or [])
    status["events"] = latest
    events = [Event("Normal", "ServiceEvent", e["message"]) for e in reversed(fresh)]
    if rollout.state is RolloutState.COMPLETED:
        status["stoppedTasks"] = []
        ok = extra_condition("DeploymentFailed", FALSE, "RolloutCompleted", rollout.message)
        outcome = Outcome(Phase.READY, "Available", rollout.message, extra=(ok,))
        return Result(outcome, status, events)
    if rollout.state is RolloutState.IN_PROGRESS:
        # A new rollout replaces the verdict on the last one.
        pending = extra_condition("DeploymentFailed", FALSE, rollout.reason, rollout.message)
        outcome = Outcome(Phase.PROGRESSING, rollout.reason, rollout.message, extra=(pending,))
        return Result(outcome, status, events, poll_after=SETTINGS.retry_delay)

    status["stoppedTasks"] = _stopped(work, target)
    failed = extra_condition("DeploymentFailed", TRUE, rollout.reason, rollout.message)
    previous = find_condition(work.status.get("conditions") or [], "DeploymentFailed")
    if not previous or previous.get("status") != TRUE:
        work.logger.warning("rollout failed: %s", rollout.message)
        events.append(Event("Warning", "DeploymentFailed", rollout.message))
    outcome = Outcome(Phase.STALLED, rollout.reason, rollout.message, extra=(failed,))
    return Result(outcome, status, events)


def _stopped(work: Pass, target: Target) -> list[dict[str, Any]]:
    tasks = aws.stopped_tasks(work.client(aws.SERVICE), target.cluster, target.service)
    return [
        {
            "taskArn": t["taskArn"],
            "stoppedReason": t.get("stoppedReason"),
            "stopCode": t.get("stopCode"),
            "containers": [
                {
                    "name": c.get("name", ""),
                    "exitCode": c.get("exitCode"),
                    "reason": c.get("reason"),
                }
                for c in t.get("containers") or []
            ],
        }
        for t in tasks
    ]


def delete_service(work: Pass, spec: EcsServiceSpec) -> Result | None:
    """Scale to zero, delete, wait for INACTIVE, then delete Gantry's revisions. None when
    the object may go; a Result (with progress) while ECS drains the service."""
    if spec.deletion_policy == DeletionPolicy.RETAIN:
        work.logger.info("deletionPolicy Retain: service and revisions left in ECS")
        return None
    recorded = _recorded_target(work)
    if recorded is not None:
        waiting = _drain(work, work.client(aws.SERVICE), recorded)
        if waiting is not None:
            return waiting
    _delete_owned_revisions(work, spec)
    return None


def _drain(work: Pass, ecs: Any, target: Target) -> Result | None:
    service = aws.describe_service(ecs, target.cluster, target.service)
    if service is None or service.get("status") == "INACTIVE":
        return None
    foreign = claim(tag_map(service.get("tags")), work.owner) is Claim.OTHER
    if foreign or service.get("serviceArn") != work.status.get("serviceArn"):
        return None  # a different service of the same name: not ours to delete
    started = work.status.get("deletionStartedAt") or now_rfc3339()
    if service.get("status") == "ACTIVE":
        if service.get("desiredCount"):
            aws.update_service(ecs, target.cluster, target.service, {"desiredCount": 0})
        aws.delete_service(ecs, target.cluster, target.service)
        work.logger.info("service %s scaled to zero and deleted; draining", target.service)
        service = aws.describe_service(ecs, target.cluster, target.service) or {}
        if service.get("status") in (None, "INACTIVE"):
            return None
    return _draining(service, started)


def _draining(service: dict[str, Any], started: str) -> Result:
    running = service.get("runningCount", 0)
    since = parse_time(started) or dt.datetime.now(dt.UTC)
    message = f"service {service.get('serviceName')} is draining; {running} task(s) still running"
    reason = "Draining"
    if dt.datetime.now(dt.UTC) - since > DRAIN_REPORT_AFTER:
        reason = "DrainingTooLong"
        message += (
            f"; draining since {started}. Check that the tasks can stop and that the service's "
            "IAM role still exists; the deletion keeps waiting"
        )
    outcome = Outcome(Phase.DELETING, reason, message)
    return Result(outcome, {"deletionStartedAt": started}, poll_after=SETTINGS.retry_delay)


def _delete_owned_revisions(work: Pass, spec: EcsServiceSpec) -> None:
    recorded = _recorded_family(work)
    if spec.task_template is not None and recorded:
        _delete_family(work, recorded)


def _recorded_family(work: Pass) -> str:
    arn = str((work.status.get("taskDefinition") or {}).get("arn") or "")
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] if arn else ""


def _delete_family(work: Pass, family_name: str) -> None:
    """Deregister and delete every revision of the family that Gantry registered for us."""
    ecs = work.client(aws.SERVICE)
    for revision in aws.active_revisions(ecs, family_name):
        if claim(aws.revision_tags(ecs, revision), work.owner) is Claim.OURS:
            aws.delete_revision(ecs, revision)
    work.logger.info("task definitions of family %s deleted", family_name)


# -- EcsCluster -------------------------------------------------------------------------------


def cluster_name(work: Pass, spec: EcsClusterSpec) -> str:
    return spec.cluster_name or work.name


def reconcile_cluster(work: Pass, spec: EcsClusterSpec) -> Result:
    name = cluster_name(work, spec)
    ecs = work.client(aws.SERVICE)
    cluster = aws.describe_cluster(ecs, name)
    created = cluster is None
    if cluster is None:
        cluster = aws.create_cluster(ecs, create_cluster_params(spec, name, work.owner.tags()))
        work.record({"arn": cluster["clusterArn"], "clusterName": name})
        work.logger.info("cluster %s created", name)
    elif work.status.get("arn") != cluster["clusterArn"]:
        refusal = _refuse_foreign_cluster(work, name, cluster)
        if refusal is not None:
            return refusal
    events: list[Event] = []
    for operation, params in plan_cluster(spec, cluster, work.owner.tags()):
        if not created:
            events += _drift_repaired(work, f"cluster {name}", cluster, params)
        aws.apply_cluster(ecs, operation, params)
        work.logger.info("cluster %s: %s", name, operation)
    verb = "created" if created else "in sync"
    result = Result.ready(f"cluster {name} {verb}", _cluster_status(work, name, cluster))
    result.events.extend(events)
    return result


def _refuse_foreign_cluster(work: Pass, name: str, cluster: dict[str, Any]) -> Result | None:
    tags = tag_map(cluster.get("tags"))
    found = claim(tags, work.owner)
    if found is Claim.OURS:
        return None
    if found is Claim.OTHER:
        return Result.stalled(
            "OwnedByOther",
            f"cluster {name} is managed by {tags.get(OWNER_TAG)}; it is left untouched.",
        )
    return Result.stalled(
        "AlreadyExists",
        f"cluster {name} already exists and is not managed by Gantry; choose another "
        "clusterName (services may still use the existing cluster through clusterName).",
    )


def _cluster_status(work: Pass, name: str, cluster: dict[str, Any]) -> dict[str, Any]:
    return {
        "arn": cluster.get("clusterArn"),
        "clusterName": name,
        "region": work.identity.region,
        "clusterStatus": cluster.get("status"),
        "registeredContainerInstances": cluster.get("registeredContainerInstancesCount", 0),
        "runningTasks": cluster.get("runningTasksCount", 0),
        "pendingTasks": cluster.get("pendingTasksCount", 0),
        "activeServices": cluster.get("activeServicesCount", 0),
    }


# What DeleteCluster answers when something appeared after the checks above (standalone
# tasks, which those checks do not count, most of all).
_NOT_EMPTY = {
    "ClusterContainsServicesException": "services (ECS says so, though none was listed)",
    "ClusterContainsTasksException": "running tasks (standalone tasks, started by RunTask)",
    "ClusterContainsContainerInstancesException": "container instances",
}


def delete_cluster(work: Pass, spec: EcsClusterSpec) -> Result | None:
    """None when the object may go; DeletionBlocked, naming what remains, while it must wait."""
    name = cluster_name(work, spec)
    if spec.deletion_policy == DeletionPolicy.RETAIN:
        work.logger.info("deletionPolicy Retain: cluster %s left in ECS", name)
        return None
    ecs = work.client(aws.SERVICE)
    cluster = aws.describe_cluster(ecs, name)
    if cluster is None:
        return None
    if (
        work.status.get("arn") != cluster["clusterArn"]
        and claim(tag_map(cluster.get("tags")), work.owner) is not Claim.OURS
    ):
        work.logger.info("cluster %s is not ours; left in ECS", name)
        return None
    services = aws.live_service_names(ecs, name)
    instances = aws.container_instance_count(ecs, name)
    if services or instances:
        return _cluster_blocked(work, name, services, instances)
    try:
        aws.delete_cluster(ecs, name)
    except Retryable as exc:
        # Only "still holds something" blocks; throttling and the like are plain retries.
        if exc.code not in _NOT_EMPTY:
            raise
        return _cluster_blocked(work, name, [], 0, _NOT_EMPTY[exc.code])
    work.logger.info("cluster %s deleted", name)
    return None


def _cluster_blocked(
    work: Pass, name: str, services: list[str], instances: int, detail: str = ""
) -> Result:
    remains = []
    if services:
        remains.append(f"{len(services)} service(s): {', '.join(services)}")
    if instances:
        remains.append(f"{instances} container instance(s)")
    what = " and ".join(remains) or detail
    message = (
        f"cluster {name} still has {what}; deletion waits until they are gone. Delete those "
        "EcsService objects (or the services), stop standalone tasks, deregister the instances, "
        "or set deletionPolicy: Retain."
    )
    previous = find_condition(work.status.get("conditions") or [], "DeletionBlocked")
    events = []
    if not previous or previous.get("status") != TRUE:
        work.logger.warning(message)
        events.append(Event("Warning", "DeletionBlocked", message))
    outcome = Outcome(
        Phase.DELETING,
        "DeletionBlocked",
        message,
        extra=(extra_condition("DeletionBlocked", TRUE, "ClusterNotEmpty", message),),
    )
    return Result(outcome, {}, events, poll_after=SETTINGS.blocked_retry_delay)
