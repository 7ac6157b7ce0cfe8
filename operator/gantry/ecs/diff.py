"""Pure decisions for EcsService and EcsCluster: canonical forms, plans and the rollout machine.

Called by `reconcile.py` with what `aws.py` read and what other objects resolved to (image
digests, the cluster name); its results go back to `aws.py` as calls. No I/O and no kopf, so
everything here is tested with plain data, including recorded DescribeServices shapes.

Task definitions are never compared with what ECS echoes back (ECS fills defaults and reorders
lists): the desired definition is put in canonical form and hashed, and the hash is tagged on
the revision registered from it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gantry.core.errors import Terminal
from gantry.ecs.models import (
    DEFAULT_MAX_PERCENT,
    DEFAULT_MIN_HEALTHY_PERCENT,
    Container,
    EcsClusterSpec,
    EcsServiceSpec,
    NetworkMode,
    ReplicaPolicy,
    TaskTemplate,
)

HASH_TAG = "gantry.dev/task-hash"
EVENTS_KEPT = 10

# Fargate's task sizes: CPU units -> the memory values (MiB) it accepts.
FARGATE_MEMORY: Mapping[int, Sequence[int]] = {
    256: (512, 1024, 2048),
    512: range(1024, 4097, 1024),
    1024: range(2048, 8193, 1024),
    2048: range(4096, 16385, 1024),
    4096: range(8192, 30721, 1024),
    8192: range(16384, 61441, 4096),
    16384: range(32768, 122881, 8192),
}


def invalid(message: str) -> Terminal:
    return Terminal("InvalidSpec", message)


# -- preflight ----------------------------------------------------------------------------


def preflight(spec: EcsServiceSpec) -> None:
    """What the CRD's CEL cannot check (or cannot check for every path), before any write."""
    template = spec.task_template
    if template is not None:
        _check_runs_on_fargate(spec, template)
        _check_fargate_size(template)
        _check_container_memory(template)
        _check_awsvpc_ports(template)
        _check_depends_on(template)
    if rollout_deadlocks(spec):
        raise invalid(
            "deploymentConfiguration: maximumPercent and minimumHealthyPercent leave no room "
            f"to start or stop a task at desiredCount {spec.desired_tasks()}, so a rollout "
            "would never progress; raise maximumPercent or lower minimumHealthyPercent"
        )


def _check_runs_on_fargate(spec: EcsServiceSpec, template: TaskTemplate) -> None:
    # ECS registers such a task definition and then refuses the service; catching it here
    # names the field before anything is registered. (A service that inherits its cluster's
    # default strategy is not checked: that needs the cluster, which preflight does not read.)
    providers = [item.capacity_provider for item in spec.capacity_provider_strategy or []]
    on_fargate = spec.launch_type == "FARGATE" or any(p.startswith("FARGATE") for p in providers)
    if on_fargate and "FARGATE" not in (template.requires_compatibilities or []):
        how = "launchType FARGATE" if spec.launch_type else "a FARGATE capacity provider"
        raise invalid(
            f"the service runs on Fargate ({how}) but taskTemplate.requiresCompatibilities "
            "does not include FARGATE, so ECS would refuse the service; add FARGATE to it"
        )


def _check_fargate_size(template: TaskTemplate) -> None:
    if "FARGATE" not in (template.requires_compatibilities or []):
        return
    # Digits only (the schema's pattern), but not bounded: a value too long for int() is
    # no Fargate size either.
    cpu, memory = _units(template.cpu), _units(template.memory)
    allowed = FARGATE_MEMORY.get(cpu)
    if allowed is None:
        sizes = ", ".join(str(c) for c in FARGATE_MEMORY)
        shown = (template.cpu or "0")[:12]
        raise invalid(f"taskTemplate.cpu {shown} is not a Fargate size; use one of {sizes}")
    if memory not in allowed:
        raise invalid(
            f"taskTemplate.memory {(template.memory or '0')[:12]} does not fit cpu {cpu} on "
            "Fargate; use "
            f"{_choices(allowed)}"
        )


def _check_awsvpc_ports(template: TaskTemplate) -> None:
    # Under awsvpc a task has its own address: ECS refuses a host port that differs.
    if template.network_mode != "awsvpc":
        return
    for container in template.containers:
        for port in container.ports or []:
            if port.host_port is not None and port.host_port != port.container_port:
                raise invalid(
                    f"container {container.name}: hostPort {port.host_port} differs from "
                    f"containerPort {port.container_port}, which networkMode awsvpc does not "
                    "allow; leave hostPort out or make it equal"
                )


def _check_depends_on(template: TaskTemplate) -> None:
    names = {container.name for container in template.containers}
    for container in template.containers:
        for dependency in container.depends_on or []:
            if dependency.container_name not in names - {container.name}:
                raise invalid(
                    f"container {container.name}: dependsOn names {dependency.container_name}, "
                    f"which is not another container of this task ({', '.join(sorted(names))})"
                )


def _units(value: str | None) -> int:
    return int(value) if value and len(value) <= 9 else -1 if value else 0


def _check_container_memory(template: TaskTemplate) -> None:
    # ECS refuses the registration otherwise; saying so here names the container and the fix.
    if template.memory:
        return
    for container in template.containers:
        if not container.memory and not container.memory_reservation:
            raise invalid(
                f"container {container.name} has no memory or memoryReservation, and the task "
                "has no memory: set one of them (ECS needs a memory size for every container "
                "of a task without task-level memory)"
            )


def _choices(allowed: Sequence[int]) -> str:
    if isinstance(allowed, range):
        return f"{allowed.start} to {allowed[-1]} MiB in steps of {allowed.step}"
    return ", ".join(str(m) for m in allowed) + " MiB"


def rollout_deadlocks(spec: EcsServiceSpec) -> bool:
    """ECS rounds the healthy minimum up and the maximum down; with no task of room between
    them a rollout can neither start a new task nor stop an old one."""
    count = spec.desired_tasks()
    deployment = desired_deployment_configuration(spec)
    most = count * deployment["maximumPercent"] // 100
    least = -(-count * deployment["minimumHealthyPercent"] // 100)  # rounded up
    return count > 0 and most - least < 1


# -- task definition ------------------------------------------------------------------------


def family(spec: EcsServiceSpec, service_name: str) -> str:
    template = spec.task_template
    return (template.family if template else None) or service_name


def canonical_task_definition(
    spec: EcsServiceSpec, service_name: str, images: Mapping[str, str]
) -> dict[str, Any]:
    """The RegisterTaskDefinition parameters with AWS defaults filled in and lists sorted, so
    equal content always gives equal JSON. `images` maps container name -> resolved image."""
    template = spec.task_template
    if template is None:
        raise ValueError("no taskTemplate")
    awsvpc = template.network_mode == NetworkMode.AWSVPC
    result: dict[str, Any] = {
        "family": family(spec, service_name),
        "networkMode": template.network_mode or NetworkMode.BRIDGE,
        "containerDefinitions": sorted(
            (_container(c, images[c.name], awsvpc) for c in template.containers),
            key=lambda c: str(c["name"]),
        ),
        "volumes": sorted(
            (v.model_dump(by_alias=True, exclude_none=True) for v in template.volumes or []),
            key=lambda v: str(v["name"]),
        ),
    }
    optional = {
        "requiresCompatibilities": sorted(template.requires_compatibilities or []),
        "cpu": template.cpu,
        "memory": template.memory,
        "executionRoleArn": template.execution_role_arn,
        "taskRoleArn": template.task_role_arn,
        "runtimePlatform": template.runtime_platform
        and template.runtime_platform.model_dump(by_alias=True, exclude_none=True),
    }
    result.update({k: v for k, v in optional.items() if v})
    return result


def _container(container: Container, image: str, awsvpc: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": container.name,
        "image": image,
        "essential": container.essential,
        "cpu": container.cpu or 0,
        "portMappings": sorted(
            (
                _port(p.model_dump(by_alias=True, exclude_none=True), awsvpc)
                for p in container.ports or []
            ),
            key=lambda p: (p["containerPort"], p["protocol"]),
        ),
        "environment": _pairs(container.env, "value"),
        "secrets": _pairs(container.secrets, "valueFrom"),
        "mountPoints": sorted(
            (m.model_dump(by_alias=True) for m in container.mount_points or []),
            key=lambda m: str(m["containerPath"]),
        ),
        "volumesFrom": [],
    }
    optional: dict[str, Any] = {
        "memory": container.memory,
        "memoryReservation": container.memory_reservation,
        "command": container.command,
        "entryPoint": container.entry_point,
        "workingDirectory": container.working_directory,
        "healthCheck": container.health_check and container.health_check.to_api(),
        "logConfiguration": _log_configuration(container),
        "dependsOn": _depends_on(container),
    }
    result.update({k: v for k, v in optional.items() if v is not None})
    return result


def _depends_on(container: Container) -> list[dict[str, Any]] | None:
    if container.depends_on is None:
        return None
    items = [d.to_api() for d in container.depends_on]
    return sorted(items, key=lambda d: str(d["containerName"]))


def _port(port: dict[str, Any], awsvpc: bool) -> dict[str, Any]:
    # Under awsvpc the host port is the container port (preflight refuses another one), and
    # ECS echoes it so even when it was left out.
    if awsvpc:
        port["hostPort"] = port["containerPort"]
    return port


def _pairs(values: Mapping[str, str] | None, key: str) -> list[dict[str, str]]:
    return [{"name": k, key: v} for k, v in sorted((values or {}).items())]


def _log_configuration(container: Container) -> dict[str, Any] | None:
    config = container.log_configuration
    if config is None:
        return None
    result: dict[str, Any] = {"logDriver": config.log_driver, "options": config.options or {}}
    if config.secret_options:
        result["secretOptions"] = _pairs(config.secret_options, "valueFrom")
    return result


def content_hash(task_definition: Mapping[str, Any]) -> str:
    text = json.dumps(task_definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def task_definition_arn(reference: str, service_arn: str) -> str:
    """A full revision ARN for what a service names. `family:rev` is completed from the
    service ARN's partition, region and account; a bare family cannot be, and stays as is
    (so it never equals a desired ARN and is replaced by one)."""
    if reference.startswith("arn:"):
        return reference
    if ":" not in reference:
        return reference
    prefix = service_arn.split(":service/")[0]
    return f"{prefix}:task-definition/{reference}"


def revision_of(arn: str) -> int:
    tail = arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def revisions_to_delete(owned: Iterable[str], in_use: Iterable[str], keep: int) -> list[str]:
    """Owned revisions beyond the newest `keep`, never one a deployment still runs."""
    newest_first = sorted(set(owned), key=revision_of, reverse=True)
    used = set(in_use)
    return [arn for arn in newest_first[keep:] if arn not in used]


# -- the service -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ServicePlan:
    """UpdateService parameters (only what changed) and what ECS cannot change in place."""

    update: dict[str, Any]
    changed: list[str]
    immutable_mismatches: list[str] = field(default_factory=list)


def desired_deployment_configuration(spec: EcsServiceSpec) -> dict[str, Any]:
    config = spec.deployment_configuration
    breaker = config.circuit_breaker if config else None
    result: dict[str, Any] = {
        "maximumPercent": DEFAULT_MAX_PERCENT,
        "minimumHealthyPercent": DEFAULT_MIN_HEALTHY_PERCENT,
        "deploymentCircuitBreaker": {
            "enable": bool(breaker and breaker.enable),
            "rollback": bool(breaker and breaker.rollback),
        },
    }
    if config is not None:
        if config.maximum_percent is not None:
            result["maximumPercent"] = config.maximum_percent
        if config.minimum_healthy_percent is not None:
            result["minimumHealthyPercent"] = config.minimum_healthy_percent
        if config.alarms is not None:
            alarms = config.alarms.to_api()
            alarms["alarmNames"] = sorted(alarms["alarmNames"])
            result["alarms"] = alarms
    return result


def _observed_deployment_configuration(service: Mapping[str, Any]) -> dict[str, Any]:
    # ECS always returns the configuration with defaults; an emulator that drops it is read
    # as ECS's defaults, so only a declared non-default value causes a write.
    have = dict(service.get("deploymentConfiguration") or {})
    breaker = have.get("deploymentCircuitBreaker") or {}
    result: dict[str, Any] = {
        "maximumPercent": have.get("maximumPercent", DEFAULT_MAX_PERCENT),
        "minimumHealthyPercent": have.get("minimumHealthyPercent", DEFAULT_MIN_HEALTHY_PERCENT),
        "deploymentCircuitBreaker": {
            "enable": bool(breaker.get("enable")),
            "rollback": bool(breaker.get("rollback")),
        },
    }
    alarms = have.get("alarms")
    if alarms and alarms.get("alarmNames"):
        result["alarms"] = {
            "alarmNames": sorted(alarms["alarmNames"]),
            "enable": bool(alarms.get("enable")),
            "rollback": bool(alarms.get("rollback")),
        }
    return result


def desired_network(spec: EcsServiceSpec) -> dict[str, Any] | None:
    network = spec.network_configuration
    if network is None:
        return None
    return {
        "awsvpcConfiguration": {
            "subnets": sorted(network.subnets),
            "securityGroups": sorted(network.security_groups or []),
            "assignPublicIp": network.assign_public_ip,
        }
    }


def _observed_network(service: Mapping[str, Any]) -> dict[str, Any] | None:
    vpc = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if not vpc:
        return None
    return {
        "awsvpcConfiguration": {
            "subnets": sorted(vpc.get("subnets") or []),
            "securityGroups": sorted(vpc.get("securityGroups") or []),
            "assignPublicIp": vpc.get("assignPublicIp") or "DISABLED",
        }
    }


def _sorted_dicts(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return sorted((dict(i) for i in items), key=lambda i: json.dumps(i, sort_keys=True))


def desired_load_balancers(spec: EcsServiceSpec) -> list[dict[str, Any]]:
    return _sorted_dicts(lb.to_api() for lb in spec.load_balancers or [])


def desired_strategy(spec: EcsServiceSpec) -> list[dict[str, Any]] | None:
    if spec.capacity_provider_strategy is None:
        return None
    return _sorted_dicts(s.to_api() for s in spec.capacity_provider_strategy)


def _observed_strategy(service: Mapping[str, Any]) -> list[dict[str, Any]]:
    return _sorted_dicts(
        {
            "capacityProvider": s["capacityProvider"],
            "weight": s.get("weight", 0),
            "base": s.get("base", 0),
        }
        for s in service.get("capacityProviderStrategy") or []
    )


def desired_tags(spec: EcsServiceSpec | EcsClusterSpec, owner: Mapping[str, str]) -> dict[str, str]:
    return {**(spec.tags or {}), **owner}


def aws_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def tag_map(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {t["key"]: t["value"] for t in tags or []}


def create_service_params(
    spec: EcsServiceSpec,
    names: tuple[str, str],
    task_definition: str,
    owner: Mapping[str, str],
    client_token: str,
) -> dict[str, Any]:
    cluster, service_name = names
    params: dict[str, Any] = {
        "cluster": cluster,
        "serviceName": service_name,
        "taskDefinition": task_definition,
        "desiredCount": spec.desired_tasks(),
        "deploymentConfiguration": desired_deployment_configuration(spec),
        "enableExecuteCommand": spec.enable_execute_command,
        "tags": aws_tags(desired_tags(spec, owner)),
        "clientToken": client_token[:36],
        "loadBalancers": desired_load_balancers(spec),
    }
    optional: dict[str, Any] = {
        "launchType": spec.launch_type,
        "capacityProviderStrategy": desired_strategy(spec),
        "networkConfiguration": desired_network(spec),
        "healthCheckGracePeriodSeconds": spec.health_check_grace_period_seconds,
        "propagateTags": spec.propagate_tags,
        "placementConstraints": _placement(spec.placement_constraints),
        "placementStrategy": _placement(spec.placement_strategy),
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    return params


def _placement(items: Iterable[Any] | None) -> list[dict[str, Any]] | None:
    return None if items is None else [i.to_api() for i in items]


def plan_service(
    spec: EcsServiceSpec,
    service: Mapping[str, Any],
    desired_task_definition: str,
    restart: bool,
) -> ServicePlan:
    """The UpdateService call (possibly none) for an existing ACTIVE service."""
    update: dict[str, Any] = {}
    current = task_definition_arn(str(service.get("taskDefinition", "")), service["serviceArn"])
    if current != desired_task_definition:
        update["taskDefinition"] = desired_task_definition
    # Only Managed sends the count after creation: InitialOnly and External leave it to
    # people and autoscalers.
    managed = spec.replica_policy == ReplicaPolicy.MANAGED
    if managed and service.get("desiredCount") != spec.desired_tasks():
        update["desiredCount"] = spec.desired_tasks()
    update.update(_settings_changes(spec, service))
    strategy = desired_strategy(spec)
    if strategy is not None and strategy != _observed_strategy(service):
        update["capacityProviderStrategy"] = strategy
        update["forceNewDeployment"] = True  # ECS requires it for a strategy change
    if restart:
        update["forceNewDeployment"] = True
    return ServicePlan(
        update=update,
        changed=sorted(k for k in update if k != "forceNewDeployment")
        + (["restartedAt"] if restart else []),
        immutable_mismatches=_launch_type_mismatch(spec, service),
    )


def _settings_changes(spec: EcsServiceSpec, service: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    deployment = desired_deployment_configuration(spec)
    if deployment != _observed_deployment_configuration(service):
        changes["deploymentConfiguration"] = deployment
    network = desired_network(spec)
    if network is not None and network != _observed_network(service):
        changes["networkConfiguration"] = network
    balancers = desired_load_balancers(spec)
    if balancers != _sorted_dicts(service.get("loadBalancers") or []):
        changes["loadBalancers"] = balancers
    grace = spec.health_check_grace_period_seconds
    if grace is not None and grace != service.get("healthCheckGracePeriodSeconds", 0):
        changes["healthCheckGracePeriodSeconds"] = grace
    if spec.enable_execute_command != bool(service.get("enableExecuteCommand")):
        changes["enableExecuteCommand"] = spec.enable_execute_command
    if spec.propagate_tags and spec.propagate_tags != service.get("propagateTags", "NONE"):
        changes["propagateTags"] = spec.propagate_tags
    for key, declared in (
        ("placementConstraints", _placement(spec.placement_constraints)),
        ("placementStrategy", _placement(spec.placement_strategy)),
    ):
        if declared is not None and declared != list(service.get(key) or []):
            changes[key] = declared
    return changes


def _launch_type_mismatch(spec: EcsServiceSpec, service: Mapping[str, Any]) -> list[str]:
    have = service.get("launchType")
    if spec.launch_type is None or have is None or have == spec.launch_type:
        return []
    return [f"launchType is {have} in ECS but {spec.launch_type} in the spec"]


def tags_to_add(want: Mapping[str, str], have: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in want.items() if have.get(k) != v}


# -- the rollout state machine ------------------------------------------------------------


class RolloutState(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"


@dataclass(frozen=True)
class Rollout:
    state: RolloutState
    reason: str
    message: str
    failed_tasks: int = 0


def assess_rollout(
    service: Mapping[str, Any],
    desired_task_definition: str,
    started_at: dt.datetime | None,
    deadline_seconds: int,
    now: dt.datetime,
) -> Rollout:
    """Where the rollout of `desired_task_definition` stands, from one DescribeServices
    answer. Ready needs the PRIMARY deployment to run the desired revision, be COMPLETED,
    be alone, and the service to run as many tasks as it wants."""
    arn = str(service.get("serviceArn", ""))
    deployments = list(service.get("deployments") or [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    failed = sum(int(d.get("failedTasks") or 0) for d in deployments)
    if primary is None:
        return Rollout(RolloutState.IN_PROGRESS, "WaitingForDeployment", "no primary deployment")

    ours = [d for d in deployments if _td(d, arn) == desired_task_definition]
    failure = next((d for d in ours if d.get("rolloutState") == "FAILED"), None)
    if _td(primary, arn) != desired_task_definition:
        return _not_primary(primary, arn, desired_task_definition, failure, started_at, failed)
    if failure is not None:
        return _failed("DeploymentFailed", failure, failed)
    if _completed(service, primary, deployments):
        return Rollout(
            RolloutState.COMPLETED,
            "RolloutCompleted",
            f"revision {revision_of(desired_task_definition)} runs "
            f"{service.get('runningCount', 0)} of {service.get('desiredCount', 0)} tasks",
        )
    return _in_progress_or_late(service, primary, started_at, deadline_seconds, now, failed)


def deployment_started_at(service: Mapping[str, Any], task_definition: str) -> str | None:
    """When ECS created its deployment of `task_definition`, if it has one: the start of a
    rollout whose own start time was never recorded."""
    arn = str(service.get("serviceArn", ""))
    for deployment in service.get("deployments") or []:
        created = _time(deployment.get("createdAt"))
        if created is not None and _td(deployment, arn) == task_definition:
            return created.isoformat()
    return None


def _td(deployment: Mapping[str, Any], service_arn: str) -> str:
    return task_definition_arn(str(deployment.get("taskDefinition", "")), service_arn)


def _completed(
    service: Mapping[str, Any], primary: Mapping[str, Any], deployments: list[Any]
) -> bool:
    # rolloutState is absent for services whose deployments predate it; then counts decide.
    state = primary.get("rolloutState", "COMPLETED")
    return (
        state == "COMPLETED"
        and len(deployments) == 1
        and service.get("runningCount") == service.get("desiredCount")
    )


def _failed(reason: str, deployment: Mapping[str, Any], failed: int) -> Rollout:
    why = deployment.get("rolloutStateReason") or "ECS reported the deployment as failed"
    return Rollout(RolloutState.FAILED, reason, f"{why} ({failed} failed tasks)", failed)


def _not_primary(
    primary: Mapping[str, Any],
    service_arn: str,
    desired: str,
    failure: Mapping[str, Any] | None,
    started_at: dt.datetime | None,
    failed: int,
) -> Rollout:
    """ECS runs another revision as PRIMARY. After our update that means a rollback (the
    circuit breaker or an alarm started a deployment of the last good revision); before it
    appears, it only means ECS has not created our deployment yet."""
    running = revision_of(_td(primary, service_arn))
    created = _time(primary.get("createdAt"))
    rolled_back = failure is not None or "roll" in str(primary.get("rolloutStateReason", ""))
    if started_at is not None and created is not None and created > started_at:
        rolled_back = True
    if rolled_back:
        return Rollout(
            RolloutState.FAILED,
            "RolledBack",
            f"the rollout of revision {revision_of(desired)} failed and ECS rolled back to "
            f"revision {running} ({failed} failed tasks); fix the task and change the spec",
            failed,
        )
    return Rollout(
        RolloutState.IN_PROGRESS,
        "WaitingForDeployment",
        f"ECS still runs revision {running} as primary; waiting for revision "
        f"{revision_of(desired)} to be deployed",
        failed,
    )


def _in_progress_or_late(
    service: Mapping[str, Any],
    primary: Mapping[str, Any],
    started_at: dt.datetime | None,
    deadline_seconds: int,
    now: dt.datetime,
    failed: int,
) -> Rollout:
    running, desired = primary.get("runningCount", 0), primary.get("desiredCount", 0)
    progress = f"{running} of {desired} new tasks running, {failed} failed"
    if started_at is not None and (now - started_at).total_seconds() > deadline_seconds:
        hint = (
            "no task failed, so ECS is likely unable to place tasks (capacity, subnets, "
            "image pull); see status.events"
            if failed == 0
            else "see status.stoppedTasks for why tasks stopped"
        )
        return Rollout(
            RolloutState.FAILED,
            "ProgressDeadlineExceeded",
            f"rollout not completed within {deadline_seconds}s: {progress}; {hint}",
            failed,
        )
    others = len(service.get("deployments") or []) - 1
    draining = f"; {others} older deployment(s) draining" if others else ""
    return Rollout(RolloutState.IN_PROGRESS, "RollingOut", progress + draining, failed)


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        return parse_time(value)
    return None


def parse_time(text: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def new_events(
    service: Mapping[str, Any], seen: Iterable[Mapping[str, Any]]
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(the latest EVENTS_KEPT service events for status, those not seen before)."""
    latest = [
        {
            "id": str(e.get("id", "")),
            "createdAt": str(e.get("createdAt", "")),
            "message": str(e.get("message", "")),
        }
        for e in list(service.get("events") or [])[:EVENTS_KEPT]
    ]
    known = {str(e.get("id")) for e in seen}
    return latest, [e for e in latest if e["id"] not in known]


# -- the cluster ---------------------------------------------------------------------------


def create_cluster_params(
    spec: EcsClusterSpec, name: str, owner: Mapping[str, str]
) -> dict[str, Any]:
    params: dict[str, Any] = {"clusterName": name, "tags": aws_tags(desired_tags(spec, owner))}
    if spec.container_insights:
        params["settings"] = [{"name": "containerInsights", "value": spec.container_insights}]
    if spec.capacity_providers is not None:
        params["capacityProviders"] = sorted(spec.capacity_providers)
        params["defaultCapacityProviderStrategy"] = _cluster_strategy(spec)
    if spec.service_connect_defaults:
        params["serviceConnectDefaults"] = spec.service_connect_defaults.to_api()
    return params


def _cluster_strategy(spec: EcsClusterSpec) -> list[dict[str, Any]]:
    return _sorted_dicts(s.to_api() for s in spec.default_capacity_provider_strategy or [])


def plan_cluster(
    spec: EcsClusterSpec, cluster: Mapping[str, Any], owner: Mapping[str, str]
) -> list[tuple[str, dict[str, Any]]]:
    """(operation, params) pairs that bring an ACTIVE cluster to the spec."""
    name = cluster["clusterName"]
    calls: list[tuple[str, dict[str, Any]]] = []
    update: dict[str, Any] = {}
    if spec.container_insights:
        have = {s["name"]: s["value"] for s in cluster.get("settings") or []}
        if have.get("containerInsights") != spec.container_insights:
            update["settings"] = [{"name": "containerInsights", "value": spec.container_insights}]
    if spec.service_connect_defaults:
        have_ns = (cluster.get("serviceConnectDefaults") or {}).get("namespace", "")
        if not _same_namespace(spec.service_connect_defaults.namespace, have_ns):
            update["serviceConnectDefaults"] = spec.service_connect_defaults.to_api()
    if update:
        calls.append(("UpdateCluster", {"cluster": name, **update}))
    if spec.capacity_providers is not None and (
        sorted(spec.capacity_providers) != sorted(cluster.get("capacityProviders") or [])
        or _cluster_strategy(spec)
        != _sorted_dicts(
            {"base": 0, "weight": 0, **s}
            for s in cluster.get("defaultCapacityProviderStrategy") or []
        )
    ):
        calls.append(
            (
                "PutClusterCapacityProviders",
                {
                    "cluster": name,
                    "capacityProviders": sorted(spec.capacity_providers),
                    "defaultCapacityProviderStrategy": _cluster_strategy(spec),
                },
            )
        )
    missing = tags_to_add(desired_tags(spec, owner), tag_map(cluster.get("tags")))
    if missing:
        calls.append(
            ("TagResource", {"resourceArn": cluster["clusterArn"], "tags": aws_tags(missing)})
        )
    return calls


def _same_namespace(declared: str, observed: str) -> bool:
    # ECS echoes the namespace as an ARN whose id is not the name, so a declared name cannot
    # be checked against it without Cloud Map; it is accepted as is (documented).
    if declared == observed:
        return True
    return observed.startswith("arn:") and not declared.startswith("arn:")
