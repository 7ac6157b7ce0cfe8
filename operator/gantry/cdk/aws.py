"""boto3 I/O for CdkBootstrap: CloudFormation stacks and change sets, and the reads that check
for collisions and drift (S3, ECR, SSM, IAM, STS).

Called by `reconcile.py` with clients from `core.aws.Clients`; every exception leaves this
module as Retryable, Terminal or NotFound through `core.errors.translate`, except where an
endpoint's lack of an operation is expected and reported instead (termination protection,
continue-rollback).
"""

from __future__ import annotations

from typing import Any

from gantry.core.errors import ErrorClass, GantryError, NotFound, register_codes, translate

CLOUDFORMATION = "cloudformation"
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]

register_codes(
    CLOUDFORMATION,
    {
        "ChangeSetNotFound": ErrorClass.NOT_FOUND,
        "ChangeSetNotFoundException": ErrorClass.NOT_FOUND,
        "AlreadyExistsException": ErrorClass.TERMINAL,
        "InsufficientCapabilitiesException": ErrorClass.TERMINAL,
        "TokenAlreadyExistsException": ErrorClass.RETRYABLE,
        "OperationInProgressException": ErrorClass.RETRYABLE,
    },
)
register_codes("ssm", {"ParameterNotFound": ErrorClass.NOT_FOUND})
register_codes("iam", {"NoSuchEntity": ErrorClass.NOT_FOUND})
register_codes(
    "s3",
    {
        "NoSuchBucket": ErrorClass.NOT_FOUND,
        "404": ErrorClass.NOT_FOUND,
        "NotFound": ErrorClass.NOT_FOUND,
        "BucketNotEmpty": ErrorClass.TERMINAL,
    },
)
register_codes("ecr", {"RepositoryNotFoundException": ErrorClass.NOT_FOUND})

# What an endpoint answers for an operation it lacks (moto: an HTML 500, unparsable).
UNSUPPORTED = ("UnparsableResponse",)


def account_id(sts: Any) -> str:
    with translate("sts"):
        return str(sts.get_caller_identity()["Account"])


def describe_stack(cfn: Any, name: str) -> dict[str, Any] | None:
    """The stack, or None when absent. CloudFormation reports absence as a ValidationError."""
    try:
        with translate(CLOUDFORMATION):
            stacks = cfn.describe_stacks(StackName=name).get("Stacks") or []
    except GantryError as exc:
        if exc.code == "ValidationError" and "does not exist" in exc.message:
            return None
        raise
    stack: dict[str, Any] | None = stacks[0] if stacks else None
    if stack and stack.get("StackStatus") == "DELETE_COMPLETE":
        return None
    return stack


def template_body(cfn: Any, name: str) -> Any:
    with translate(CLOUDFORMATION):
        return cfn.get_template(StackName=name, TemplateStage="Original").get("TemplateBody")


def change_sets(cfn: Any, name: str) -> list[dict[str, Any]]:
    with translate(CLOUDFORMATION):
        found: list[dict[str, Any]] = cfn.list_change_sets(StackName=name).get("Summaries") or []
    return found


def create_change_set(
    cfn: Any,
    stack: str,
    change_set: str,
    body: str,
    parameters: dict[str, str],
    tags: dict[str, str],
    create: bool,
) -> str:
    with translate(CLOUDFORMATION):
        response = cfn.create_change_set(
            StackName=stack,
            ChangeSetName=change_set,
            ChangeSetType="CREATE" if create else "UPDATE",
            TemplateBody=body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            Capabilities=CAPABILITIES,
            Description="Gantry CdkBootstrap",
        )
    return str(response["Id"])


def describe_change_set(cfn: Any, stack: str, change_set: str) -> dict[str, Any] | None:
    try:
        with translate(CLOUDFORMATION):
            found: dict[str, Any] = cfn.describe_change_set(
                StackName=stack, ChangeSetName=change_set
            )
    except NotFound:
        return None
    except GantryError as exc:
        if exc.code == "ValidationError":
            return None
        raise
    return found


def execute_change_set(cfn: Any, stack: str, change_set: str) -> None:
    with translate(CLOUDFORMATION):
        cfn.execute_change_set(StackName=stack, ChangeSetName=change_set)


def delete_change_set(cfn: Any, stack: str, change_set: str) -> None:
    try:
        with translate(CLOUDFORMATION):
            cfn.delete_change_set(StackName=stack, ChangeSetName=change_set)
    except NotFound:
        return


def delete_stack(cfn: Any, name: str) -> None:
    with translate(CLOUDFORMATION):
        cfn.delete_stack(StackName=name)


def set_termination_protection(cfn: Any, name: str, enabled: bool) -> str | None:
    """None when applied; a note when the endpoint lacks the operation (reported, not
    retried: a retry would meet the same answer)."""
    try:
        with translate(CLOUDFORMATION):
            cfn.update_termination_protection(StackName=name, EnableTerminationProtection=enabled)
    except GantryError as exc:
        if exc.code in UNSUPPORTED:
            return f"the endpoint does not implement UpdateTerminationProtection ({exc.code})"
        raise
    return None


def continue_update_rollback(cfn: Any, name: str) -> str | None:
    try:
        with translate(CLOUDFORMATION):
            cfn.continue_update_rollback(StackName=name)
    except GantryError as exc:
        if exc.code in UNSUPPORTED:
            return f"the endpoint does not implement ContinueUpdateRollback ({exc.code})"
        raise
    return None


def version_parameter(ssm: Any, name: str) -> dict[str, Any] | None:
    try:
        with translate("ssm"):
            found: dict[str, Any] = ssm.get_parameter(Name=name)["Parameter"]
    except NotFound:
        return None
    return found


def put_version_parameter(ssm: Any, name: str, version: int) -> None:
    with translate("ssm"):
        ssm.put_parameter(Name=name, Value=str(version), Type="String", Overwrite=True)


def bucket_exists(s3: Any, name: str) -> bool:
    try:
        with translate("s3"):
            s3.head_bucket(Bucket=name)
    except NotFound:
        return False
    except GantryError as exc:
        if exc.code in ("403", "AccessDenied"):
            return True  # it exists, in another account
        raise
    return True


def delete_empty_bucket(s3: Any, name: str) -> bool:
    """Delete a bucket if it holds nothing; S3 itself refuses when any object version is
    left, so there is no window between a check and the delete. False when it was kept."""
    try:
        with translate("s3"):
            s3.delete_bucket(Bucket=name)
    except NotFound:
        return True
    except GantryError as exc:
        if exc.code == "BucketNotEmpty":
            return False
        raise
    return True


def repository_exists(ecr: Any, name: str) -> bool:
    try:
        with translate("ecr"):
            ecr.describe_repositories(repositoryNames=[name])
    except NotFound:
        return False
    return True


def role_trust(iam: Any, name: str) -> dict[str, Any] | None:
    try:
        with translate("iam"):
            role = iam.get_role(RoleName=name)["Role"]
    except NotFound:
        return None
    document: dict[str, Any] = role.get("AssumeRolePolicyDocument") or {}
    return document
