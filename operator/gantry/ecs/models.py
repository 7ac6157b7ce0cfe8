"""EcsCluster and EcsService spec and status. The CRD schemas, with their CEL rules, are
generated from here; `diff.py` re-checks what CEL cannot express (Fargate sizes)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo

from gantry.core.crd import KindInfo
from gantry.core.models import (
    AwsTags,
    DeletionPolicy,
    GantryModel,
    cel,
    deleting,
    immutable_name,
    region_field,
    validations,
)

NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$"
TASK_DEFINITION_ARN_PATTERN = r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/[\w-]+:\d+$"
MAX_CONTAINERS = 10
DEFAULT_DESIRED_COUNT = 1
DEFAULT_MAX_PERCENT = 200
DEFAULT_MIN_HEALTHY_PERCENT = 100

Tags = AwsTags


def _tags_field() -> Tags:
    return Field(default=None, description="AWS tags; Gantry's ownership tags are always added.")


class LocalRef(GantryModel):
    name: str = Field(description="Name of the object in the same namespace.", min_length=1)


# -- EcsCluster -------------------------------------------------------------------------------


class ContainerInsights(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    ENHANCED = "enhanced"


class FargateProvider(StrEnum):
    FARGATE = "FARGATE"
    FARGATE_SPOT = "FARGATE_SPOT"


class StrategyItem(GantryModel):
    capacity_provider: str = Field(
        description="A capacity provider (FARGATE, FARGATE_SPOT or an Auto Scaling one).",
        min_length=1,
        max_length=255,
    )
    weight: int = Field(default=0, description="Relative share of tasks.", ge=0, le=1000)
    base: int = Field(default=0, description="Tasks placed here first.", ge=0, le=100000)


def _check_strategy(
    items: list[StrategyItem] | None, info: ValidationInfo
) -> list[StrategyItem] | None:
    # ECS refuses these at CreateService or PutClusterCapacityProviders; a pydantic check
    # reports them (InvalidSpec) before anything is registered or created.
    if items and not deleting(info):
        if sum(1 for item in items if item.base > 0) > 1:
            raise ValueError("only one capacity provider of a strategy may have a base")
        if not any(item.weight > 0 for item in items):
            raise ValueError("at least one capacity provider of a strategy needs a weight above 0")
    return items


Strategy = Annotated[list[StrategyItem] | None, AfterValidator(_check_strategy)]


class ServiceConnectDefaults(GantryModel):
    namespace: str = Field(description="Cloud Map namespace name or ARN.", min_length=1)


class EcsClusterSpec(GantryModel):
    """EcsCluster declares one Amazon ECS cluster."""

    cluster_name: str | None = Field(
        default=None,
        description="Cluster name; defaults to metadata.name. Immutable.",
        pattern=NAME_PATTERN,
    )
    region: str | None = region_field()
    container_insights: ContainerInsights | None = Field(
        default=None, description="CloudWatch Container Insights. Unset: not managed."
    )
    capacity_providers: list[FargateProvider] | None = Field(
        default=None, description="Capacity providers of the cluster.", max_length=2
    )
    default_capacity_provider_strategy: Strategy = Field(
        default=None,
        description="Strategy for services that set neither launchType nor their own strategy.",
        max_length=6,
    )
    service_connect_defaults: ServiceConnectDefaults | None = Field(
        default=None, description="Default Service Connect namespace."
    )
    tags: Tags = _tags_field()
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.DELETE,
        description="Delete the cluster with the object, or Retain it in AWS.",
    )


class EcsClusterStatus(GantryModel):
    arn: str | None = Field(default=None, description="Cluster ARN.")
    cluster_name: str | None = Field(default=None, description="Cluster name in AWS.")
    region: str | None = Field(default=None, description="Region the cluster lives in.")
    cluster_status: str | None = Field(default=None, description="ACTIVE, INACTIVE, ...")
    registered_container_instances: int | None = Field(
        default=None, description="Container instances registered."
    )
    running_tasks: int | None = Field(default=None, description="Tasks running.")
    pending_tasks: int | None = Field(default=None, description="Tasks pending.")
    active_services: int | None = Field(default=None, description="Active services.")


CLUSTER_KIND = KindInfo(
    kind="EcsCluster",
    plural="ecsclusters",
    short_names=("ecscluster",),
    spec=EcsClusterSpec,
    status=EcsClusterStatus,
    identifier_column=("Cluster", ".status.clusterName"),
    wide_columns=(("ARN", "string", ".status.arn"),),
    object_rules=(immutable_name("clusterName"),),
    spec_rules=(
        cel(
            "!has(self.defaultCapacityProviderStrategy) || (has(self.capacityProviders) && "
            "self.defaultCapacityProviderStrategy.all(s, "
            "self.capacityProviders.exists(p, p == s.capacityProvider)))",
            "defaultCapacityProviderStrategy may only name providers in capacityProviders",
        ),
    ),
)


# -- EcsService: the task ---------------------------------------------------------------------


class NetworkMode(StrEnum):
    AWSVPC = "awsvpc"
    BRIDGE = "bridge"
    HOST = "host"
    NONE = "none"


class Compatibility(StrEnum):
    EC2 = "EC2"
    FARGATE = "FARGATE"
    EXTERNAL = "EXTERNAL"


class ImageFrom(GantryModel):
    """An image from an EcrRepository object, pinned by digest."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.tag) != has(self.digest)", "imageFrom: set exactly one of tag, digest")
        )
    )

    repository_ref: LocalRef = Field(description="The EcrRepository in the same namespace.")
    tag: str | None = Field(
        default=None,
        description="A tag; resolved to its digest through ECR on every pass.",
        pattern=r"^[\w][\w.-]{0,127}$",
    )
    digest: str | None = Field(
        default=None, description="A digest (sha256:...), used as given.", pattern=r"^sha256:"
    )


class PortMapping(GantryModel):
    container_port: int = Field(description="Port the container listens on.", ge=1, le=65535)
    host_port: int | None = Field(
        default=None,
        description="Host port; equals containerPort under awsvpc; 0 or unset is dynamic.",
        ge=0,
        le=65535,
    )
    protocol: str = Field(
        default="tcp", description="tcp or udp.", json_schema_extra={"enum": ["tcp", "udp"]}
    )
    name: str | None = Field(default=None, description="Name for Service Connect.", max_length=64)
    app_protocol: str | None = Field(
        default=None,
        description="http, http2 or grpc (Service Connect).",
        json_schema_extra={"enum": ["http", "http2", "grpc"]},
    )


class HealthCheck(GantryModel):
    command: list[str] = Field(description='e.g. ["CMD-SHELL", "curl -f localhost/ || exit 1"].')
    interval: int = Field(default=30, description="Seconds between checks.", ge=5, le=300)
    timeout: int = Field(default=5, description="Seconds before a check fails.", ge=2, le=120)
    retries: int = Field(default=3, description="Failures before unhealthy.", ge=1, le=10)
    start_period: int = Field(default=0, description="Grace seconds after start.", ge=0, le=300)


class LogConfiguration(GantryModel):
    log_driver: str = Field(description="awslogs, awsfirelens, fluentd, json-file, ...")
    options: dict[str, str] | None = Field(default=None, description="Driver options.")
    secret_options: dict[str, str] | None = Field(
        default=None, description="Option name -> Secrets Manager or SSM parameter ARN."
    )


class DependsOn(GantryModel):
    container_name: str = Field(description="The container depended on.")
    condition: str = Field(
        description="START, COMPLETE, SUCCESS or HEALTHY.",
        json_schema_extra={"enum": ["START", "COMPLETE", "SUCCESS", "HEALTHY"]},
    )


class MountPoint(GantryModel):
    source_volume: str = Field(description="A volume of the task.")
    container_path: str = Field(description="Where it is mounted.")
    read_only: bool = Field(default=False, description="Mount read-only.")


class Container(GantryModel):
    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("has(self.image) != has(self.imageFrom)", "set exactly one of image, imageFrom")
        )
    )

    name: str = Field(
        description="Container name, unique in the task.", pattern=NAME_PATTERN, max_length=255
    )
    image: str | None = Field(default=None, description="Image reference, used as given.")
    image_from: ImageFrom | None = Field(
        default=None, description="Take the image from an EcrRepository, pinned by digest."
    )
    essential: bool = Field(default=True, description="The task stops when this one stops.")
    ports: list[PortMapping] | None = Field(default=None, description="Port mappings.")
    env: dict[str, str] | None = Field(default=None, description="Environment variables.")
    secrets: dict[str, str] | None = Field(
        default=None, description="Variable -> Secrets Manager or SSM parameter ARN."
    )
    command: list[str] | None = Field(default=None, description="Command (overrides CMD).")
    entry_point: list[str] | None = Field(default=None, description="Entry point.")
    working_directory: str | None = Field(default=None, description="Working directory.")
    health_check: HealthCheck | None = Field(default=None, description="Container health.")
    log_configuration: LogConfiguration | None = Field(default=None, description="Logging.")
    cpu: int | None = Field(default=None, description="CPU units reserved.", ge=0)
    memory: int | None = Field(default=None, description="Hard memory limit, MiB.", ge=6)
    memory_reservation: int | None = Field(default=None, description="Soft limit, MiB.", ge=6)
    depends_on: list[DependsOn] | None = Field(default=None, description="Start order.")
    mount_points: list[MountPoint] | None = Field(default=None, description="Volume mounts.")


class HostVolume(GantryModel):
    source_path: str | None = Field(default=None, description="Path on the host (EC2).")


class Volume(GantryModel):
    name: str = Field(description="Volume name, referenced by mountPoints.")
    host: HostVolume | None = Field(default=None, description="A bind mount (EC2).")


class RuntimePlatform(GantryModel):
    cpu_architecture: str | None = Field(
        default=None,
        description="X86_64 or ARM64.",
        json_schema_extra={"enum": ["X86_64", "ARM64"]},
    )
    operating_system_family: str | None = Field(
        default=None, description="LINUX, or a WINDOWS_SERVER_* family.", max_length=64
    )


class TaskTemplate(GantryModel):
    """The task, registered as a task-definition revision only when its content changes."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.containers.all(c, self.containers.exists_one(o, o.name == c.name))",
                "container names must be unique",
            ),
            cel(
                "!has(self.requiresCompatibilities) || "
                "!self.requiresCompatibilities.exists(c, c == 'FARGATE') || "
                "(has(self.networkMode) && self.networkMode == 'awsvpc' && has(self.cpu) && "
                "has(self.memory))",
                "FARGATE tasks need networkMode awsvpc and task-level cpu and memory",
            ),
        )
    )

    family: str | None = Field(
        default=None,
        description="Task definition family; defaults to the service name.",
        pattern=NAME_PATTERN,
    )
    cpu: str | None = Field(
        default=None,
        description='Task CPU units, e.g. "256" (required on Fargate).',
        pattern=r"^[0-9]+$",
    )
    memory: str | None = Field(
        default=None,
        description='Task memory MiB, e.g. "512" (required on Fargate).',
        pattern=r"^[0-9]+$",
    )
    network_mode: NetworkMode | None = Field(
        default=None, description="awsvpc, bridge, host or none; ECS defaults to bridge."
    )
    requires_compatibilities: list[Compatibility] | None = Field(
        default=None, description="EC2, FARGATE, EXTERNAL."
    )
    execution_role_arn: str | None = Field(
        default=None, description="Role ECS uses to pull images and read secrets."
    )
    task_role_arn: str | None = Field(default=None, description="Role the task's code uses.")
    runtime_platform: RuntimePlatform | None = Field(default=None, description="CPU and OS.")
    volumes: list[Volume] | None = Field(default=None, description="Task volumes.")
    containers: list[Container] = Field(
        description="The containers.", min_length=1, max_length=MAX_CONTAINERS
    )


# -- EcsService: the service ------------------------------------------------------------------


class ReplicaPolicy(StrEnum):
    MANAGED = "Managed"
    INITIAL_ONLY = "InitialOnly"
    EXTERNAL = "External"


class LaunchType(StrEnum):
    EC2 = "EC2"
    FARGATE = "FARGATE"
    EXTERNAL = "EXTERNAL"


class OnImmutableChange(StrEnum):
    BLOCK = "Block"
    RECREATE = "Recreate"


class NetworkConfiguration(GantryModel):
    subnets: list[str] = Field(description="Subnet ids (awsvpc).", min_length=1, max_length=16)
    security_groups: list[str] | None = Field(
        default=None, description="Security group ids.", max_length=5
    )
    assign_public_ip: str = Field(
        default="DISABLED",
        description="ENABLED or DISABLED.",
        json_schema_extra={"enum": ["ENABLED", "DISABLED"]},
    )


class LoadBalancer(GantryModel):
    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.targetGroupArn) != has(self.loadBalancerName)",
                "loadBalancers: set exactly one of targetGroupArn, loadBalancerName",
            )
        )
    )

    target_group_arn: str | None = Field(default=None, description="ALB/NLB target group.")
    load_balancer_name: str | None = Field(default=None, description="Classic load balancer.")
    container_name: str = Field(description="The container receiving traffic.")
    container_port: int = Field(description="Its port.", ge=1, le=65535)


class CircuitBreaker(GantryModel):
    enable: bool = Field(default=False, description="Stop a rollout whose tasks keep failing.")
    rollback: bool = Field(default=False, description="Roll back to the last good revision.")


class Alarms(GantryModel):
    alarm_names: list[str] = Field(
        description="CloudWatch alarms watched during rollouts.", min_length=1, max_length=10
    )
    enable: bool = Field(default=True, description="Watch them.")
    rollback: bool = Field(default=False, description="Roll back when one fires.")


class DeploymentConfiguration(GantryModel):
    maximum_percent: int | None = Field(
        default=None, description="Upper limit of tasks during a rollout (ECS: 200).", ge=0
    )
    minimum_healthy_percent: int | None = Field(
        default=None, description="Lower limit of healthy tasks (ECS: 100).", ge=0, le=100
    )
    circuit_breaker: CircuitBreaker | None = Field(
        default=None, description="The deployment circuit breaker."
    )
    alarms: Alarms | None = Field(default=None, description="CloudWatch alarm rollback.")


class PlacementConstraint(GantryModel):
    type: str = Field(
        description="distinctInstance or memberOf.",
        json_schema_extra={"enum": ["distinctInstance", "memberOf"]},
    )
    expression: str | None = Field(default=None, description="Cluster query (memberOf).")


class PlacementStrategy(GantryModel):
    type: str = Field(
        description="random, spread or binpack.",
        json_schema_extra={"enum": ["random", "spread", "binpack"]},
    )
    field: str | None = Field(default=None, description="e.g. attribute:ecs.availability-zone.")


# CEL for the rollout deadlock check: ECS rounds the minimum up and the maximum down, and
# needs room for at least one task between them to make any progress.
_MAX = (
    "(has(self.deploymentConfiguration) && has(self.deploymentConfiguration.maximumPercent) ? "
    f"self.deploymentConfiguration.maximumPercent : {DEFAULT_MAX_PERCENT})"
)
_MIN = (
    "(has(self.deploymentConfiguration) && "
    "has(self.deploymentConfiguration.minimumHealthyPercent) ? "
    f"self.deploymentConfiguration.minimumHealthyPercent : {DEFAULT_MIN_HEALTHY_PERCENT})"
)
DEADLOCK_RULE = cel(
    "!has(self.desiredCount) || self.desiredCount <= 0 || "
    f"(self.desiredCount * {_MAX}) / 100 - (self.desiredCount * {_MIN} + 99) / 100 >= 1",
    "deploymentConfiguration: with this desiredCount, maximumPercent and "
    "minimumHealthyPercent leave no room to start or stop a task, so a rollout would never "
    "progress; raise maximumPercent or lower minimumHealthyPercent",
)


class EcsServiceSpec(GantryModel):
    """EcsService declares one Amazon ECS service and the task it runs."""

    cluster_ref: LocalRef | None = Field(
        default=None, description="An EcsCluster in the same namespace."
    )
    cluster_name: str | None = Field(
        default=None,
        description="An existing cluster's name (instead of clusterRef).",
        pattern=NAME_PATTERN,
    )
    service_name: str | None = Field(
        default=None,
        description="Service name; defaults to metadata.name. ECS cannot rename a service.",
        pattern=NAME_PATTERN,
    )
    region: str | None = region_field()
    task_template: TaskTemplate | None = Field(
        default=None, description="The task, registered by Gantry when its content changes."
    )
    task_definition_arn: str | None = Field(
        default=None,
        description="A task-definition revision managed elsewhere, used as given.",
        pattern=TASK_DEFINITION_ARN_PATTERN,
    )
    desired_count: int | None = Field(
        default=None, description="Number of tasks; 1 if unset.", ge=0, le=5000
    )
    replica_policy: ReplicaPolicy = Field(
        default=ReplicaPolicy.MANAGED,
        description=(
            "Managed: Gantry keeps desiredCount. InitialOnly: set at creation, then left "
            "alone. External: an autoscaler owns the count; it is only sent at creation."
        ),
    )
    launch_type: LaunchType | None = Field(
        default=None, description="EC2, FARGATE or EXTERNAL. Cannot change in place."
    )
    capacity_provider_strategy: Strategy = Field(
        default=None,
        description="Capacity providers (instead of launchType); unset inherits the cluster's.",
        max_length=6,
    )
    network_configuration: NetworkConfiguration | None = Field(
        default=None, description="awsvpc networking; required by networkMode awsvpc."
    )
    load_balancers: list[LoadBalancer] | None = Field(
        default=None, description="Load balancer targets.", max_length=5
    )
    health_check_grace_period_seconds: int | None = Field(
        default=None, description="Ignore load balancer health at start.", ge=0, le=2147483647
    )
    deployment_configuration: DeploymentConfiguration | None = Field(
        default=None, description="Rollout limits, circuit breaker and alarms."
    )
    progress_deadline_seconds: int = Field(
        default=600,
        description="A rollout not completed after this long is reported DeploymentFailed.",
        ge=30,
    )
    enable_execute_command: bool = Field(default=False, description="Allow ECS Exec.")
    propagate_tags: str | None = Field(
        default=None,
        description="Copy tags to tasks from SERVICE or TASK_DEFINITION.",
        json_schema_extra={"enum": ["NONE", "SERVICE", "TASK_DEFINITION"]},
    )
    placement_constraints: list[PlacementConstraint] | None = Field(
        default=None, description="Placement constraints (EC2).", max_length=10
    )
    placement_strategy: list[PlacementStrategy] | None = Field(
        default=None, description="Placement strategy (EC2).", max_length=5
    )
    tags: Tags = _tags_field()
    restarted_at: str | None = Field(
        default=None,
        description="Change this (a timestamp) to start a new deployment of the same task.",
        max_length=64,
    )
    on_immutable_change: OnImmutableChange = Field(
        default=OnImmutableChange.BLOCK,
        description=(
            "What to do with a change ECS cannot make in place (serviceName, cluster, "
            "launchType). Block: report it and change nothing. Recreate: delete the old "
            "service (scale to zero, wait until it is gone), then create the new one."
        ),
    )
    revision_history_limit: int = Field(
        default=5,
        description="Gantry-registered revisions to keep; older unused ones are deleted.",
        ge=1,
        le=100,
    )
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.DELETE,
        description="Delete the service (and its revisions) with the object, or Retain them.",
    )

    def desired_tasks(self) -> int:
        return DEFAULT_DESIRED_COUNT if self.desired_count is None else self.desired_count


class ResolvedImage(GantryModel):
    container: str = Field(description="Container name.")
    image: str = Field(description="The image reference registered.")
    tag: str | None = Field(default=None, description="The tag it was resolved from.")
    digest: str | None = Field(default=None, description="The digest pinned.")


class TaskDefinitionStatus(GantryModel):
    arn: str | None = Field(default=None, description="The revision the service should run.")
    revision: int | None = Field(default=None, description="Its revision number.")
    hash: str | None = Field(default=None, description="Content hash of the task template.")


class RolloutStatus(GantryModel):
    state: str | None = Field(default=None, description="InProgress, Completed or Failed.")
    reason: str | None = Field(default=None, description="A CamelCase word.")
    message: str | None = Field(default=None, description="What is happening.")
    started_at: str | None = Field(default=None, description="When Gantry started it.")
    task_definition: str | None = Field(default=None, description="The revision rolled out.")
    failed_tasks: int | None = Field(default=None, description="Tasks that failed to start.")


class ServiceEvent(GantryModel):
    id: str = Field(description="ECS event id.")
    created_at: str | None = Field(default=None, description="When.")
    message: str = Field(description="ECS's message.")


class ContainerExit(GantryModel):
    name: str = Field(description="Container name.")
    exit_code: int | None = Field(default=None, description="Exit code.")
    reason: str | None = Field(default=None, description="Why it stopped.")


class StoppedTask(GantryModel):
    task_arn: str = Field(description="Task ARN.")
    stopped_reason: str | None = Field(default=None, description="ECS's reason.")
    stop_code: str | None = Field(default=None, description="ECS's stop code.")
    containers: list[ContainerExit] = Field(default_factory=list, description="Exits.")


class EcsServiceStatus(GantryModel):
    service_arn: str | None = Field(default=None, description="Service ARN.")
    service_name: str | None = Field(default=None, description="Service name in AWS.")
    cluster_arn: str | None = Field(default=None, description="The cluster it runs in.")
    region: str | None = Field(default=None, description="Region.")
    task_definition: TaskDefinitionStatus | None = Field(
        default=None, description="The desired revision."
    )
    images: list[ResolvedImage] | None = Field(default=None, description="Images as pinned.")
    desired_count: int | None = Field(default=None, description="ECS's desired count.")
    running_count: int | None = Field(default=None, description="Tasks running.")
    pending_count: int | None = Field(default=None, description="Tasks pending.")
    rollout: RolloutStatus | None = Field(default=None, description="The latest rollout.")
    restarted_at: str | None = Field(
        default=None, description="The spec.restartedAt value last acted on."
    )
    events: list[ServiceEvent] | None = Field(
        default=None, description="The latest ten ECS service events."
    )
    stopped_tasks: list[StoppedTask] | None = Field(
        default=None, description="Why tasks of a failing rollout stopped."
    )
    deletion_started_at: str | None = Field(default=None, description="When deletion began.")


SERVICE_KIND = KindInfo(
    kind="EcsService",
    plural="ecsservices",
    short_names=("ecssvc",),
    spec=EcsServiceSpec,
    status=EcsServiceStatus,
    identifier_column=("Revision", ".status.taskDefinition.revision"),
    wide_columns=(
        ("Running", "integer", ".status.runningCount"),
        ("Desired", "integer", ".status.desiredCount"),
        ("ARN", "string", ".status.serviceArn"),
    ),
    spec_rules=(
        cel(
            "has(self.clusterRef) != has(self.clusterName)",
            "set exactly one of clusterRef, clusterName",
        ),
        cel(
            "has(self.taskTemplate) != has(self.taskDefinitionArn)",
            "set exactly one of taskTemplate, taskDefinitionArn",
        ),
        cel(
            "!(has(self.launchType) && has(self.capacityProviderStrategy))",
            "set at most one of launchType, capacityProviderStrategy",
        ),
        cel(
            "!has(self.taskTemplate) || !has(self.taskTemplate.networkMode) || "
            "self.taskTemplate.networkMode != 'awsvpc' || has(self.networkConfiguration)",
            "networkMode awsvpc needs networkConfiguration with at least one subnet",
        ),
        cel(
            "!has(self.healthCheckGracePeriodSeconds) || "
            "(has(self.loadBalancers) && size(self.loadBalancers) > 0)",
            "healthCheckGracePeriodSeconds needs loadBalancers",
        ),
        DEADLOCK_RULE,
    ),
)
