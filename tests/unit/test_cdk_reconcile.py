"""CdkBootstrap stack states moto never produces (it is synchronous and never rolls back),
driven through the reconcile with fake AWS clients shaped like the real responses."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError
from gantry.cdk import reconcile, template
from gantry.cdk.models import CdkBootstrapSpec
from gantry.core.aws import Identity
from gantry.core.conditions import Phase
from gantry.core.errors import Terminal
from gantry.core.ownership import Owner
from gantry.core.reconcile import Pass, Result

OWNER = Owner("test", "ns", "CdkBootstrap", "env", "uid-1")
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/CDKToolkit/1"
WRITES = (
    "create_change_set",
    "execute_change_set",
    "delete_change_set",
    "delete_stack",
    "update_termination_protection",
    "continue_update_rollback",
    "put_parameter",
)


class FakeAws:
    """One fake client for every service; records calls, answers like AWS does."""

    def __init__(self, stack_status: str | None, after_execute: str = "CREATE_COMPLETE") -> None:
        self.calls: list[str] = []
        self.after_execute = after_execute
        self.body: Any = None
        self.stack: dict[str, Any] | None = None
        # The stack's named resources exist once a stack was created; a create that never
        # finished left none behind.
        self.resources = bool(stack_status and stack_status.endswith("COMPLETE"))
        self.resources &= stack_status not in ("ROLLBACK_COMPLETE",)
        if stack_status:
            self.stack = {"StackId": STACK_ID, "StackName": "CDKToolkit",
                          "StackStatus": stack_status, "Tags": self._tags()}  # fmt: skip

    def _tags(self) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in OWNER.tags().items()]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            raise AttributeError(name)

        def call(**params: Any) -> Any:
            self.calls.append(name)
            return getattr(self, f"do_{name}", lambda **_: {})(**params)

        return call

    def writes(self) -> list[str]:
        return [c for c in self.calls if c in WRITES]

    def do_get_caller_identity(self, **_: Any) -> Any:
        return {"Account": "123456789012"}

    def do_describe_stacks(self, **_: Any) -> Any:
        if self.stack is None:
            error = {"Error": {"Code": "ValidationError", "Message": "Stack does not exist"}}
            raise ClientError(error, "DescribeStacks")  # type: ignore[arg-type]
        return {"Stacks": [self.stack]}

    def do_delete_stack(self, **_: Any) -> Any:
        self.stack = None
        self.resources = False

    def _absent(self, operation: str, code: str) -> None:
        if not self.resources:
            error = {"Error": {"Code": code, "Message": "absent"}}
            raise ClientError(error, operation)  # type: ignore[arg-type]

    def do_create_change_set(self, **params: Any) -> Any:
        self.body = params["TemplateBody"]
        if params["ChangeSetType"] == "CREATE":
            self.stack = {
                "StackId": STACK_ID,
                "StackName": "CDKToolkit",
                "StackStatus": "REVIEW_IN_PROGRESS",
                "Tags": self._tags(),
            }
        return {"Id": "arn:changeset/1"}

    def do_describe_change_set(self, **_: Any) -> Any:
        if "create_change_set" not in self.calls:
            error = {"Error": {"Code": "ChangeSetNotFound", "Message": "not found"}}
            raise ClientError(error, "DescribeChangeSet")  # type: ignore[arg-type]
        return {"Status": "CREATE_COMPLETE", "ChangeSetId": "arn:changeset/1", "Changes": []}

    def do_execute_change_set(self, **_: Any) -> Any:
        assert self.stack is not None
        self.stack["StackStatus"] = self.after_execute
        self.resources = True

    def do_update_termination_protection(self, **params: Any) -> Any:
        assert self.stack is not None
        self.stack["EnableTerminationProtection"] = params["EnableTerminationProtection"]

    def do_get_template(self, **_: Any) -> Any:
        return {"TemplateBody": self.body}

    def do_head_bucket(self, **_: Any) -> Any:
        self._absent("HeadBucket", "404")

    def do_describe_repositories(self, **_: Any) -> Any:
        self._absent("DescribeRepositories", "RepositoryNotFoundException")

    def do_get_parameter(self, **_: Any) -> Any:
        self._absent("GetParameter", "ParameterNotFound")
        return {"Parameter": {"Type": "String", "Value": str(template.BOOTSTRAP_VERSION)}}

    def do_get_role(self, **_: Any) -> Any:
        self._absent("GetRole", "NoSuchEntity")
        trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "123456789012"}}]}
        return {"Role": {"AssumeRolePolicyDocument": trust}}

    def do_list_change_sets(self, **_: Any) -> Any:
        return {"Summaries": []}


class FakeClients:
    def __init__(self, fake: FakeAws) -> None:
        self.fake = fake

    def get(self, service: str, identity: Identity) -> Any:
        return self.fake


def run(
    fake: FakeAws,
    status: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Result:
    body = {
        "metadata": {"name": "env", "namespace": "ns", "generation": 1,
                     "annotations": annotations or {}},
        "status": status or {},
    }  # fmt: skip
    work = Pass(
        body, logging.getLogger("test"), FakeClients(fake),  # type: ignore[arg-type]
        Identity("us-east-1"), OWNER, False, lambda _: None,
    )  # fmt: skip
    parsed = CdkBootstrapSpec.model_validate(
        {"regions": ["us-east-1"], "allowAdministratorAccess": True, **spec}
    )
    return reconcile.reconcile(work, parsed, read=lambda *_: None)


def then(result: Result) -> dict[str, Any]:
    """The status a second pass starts from."""
    return result.status


def test_new_environment_is_created_through_a_change_set() -> None:
    fake = FakeAws(None)
    result = run(fake)
    assert result.outcome.phase is Phase.READY
    assert fake.writes()[:2] == ["create_change_set", "execute_change_set"]


def test_unchanged_healthy_stack_is_left_alone() -> None:
    fake = FakeAws(None)
    first = run(fake)
    fake.calls.clear()
    second = run(fake, then(first))
    assert second.outcome.phase is Phase.READY
    assert fake.writes() == []


def test_rollback_complete_stack_of_ours_is_deleted_and_created_again() -> None:
    fake = FakeAws("ROLLBACK_COMPLETE")
    result = run(fake)
    assert fake.writes()[:3] == ["delete_stack", "create_change_set", "execute_change_set"]
    assert result.outcome.phase is Phase.READY


def test_update_rollback_failed_is_blocked_with_the_way_out() -> None:
    fake = FakeAws("UPDATE_ROLLBACK_FAILED")
    result = run(fake)
    assert result.outcome.phase is Phase.STALLED
    assert result.outcome.reason == "UpdateRollbackFailed"
    assert "continue-update-rollback" in result.outcome.message
    assert fake.writes() == []


def test_rollback_is_continued_only_when_annotated() -> None:
    fake = FakeAws("UPDATE_ROLLBACK_FAILED")
    result = run(fake, annotations={"gantry.dev/continue-update-rollback": "true"})
    assert fake.writes() == ["continue_update_rollback"]
    assert result.outcome.phase is Phase.PROGRESSING
    assert result.poll_after is not None


@pytest.mark.parametrize("status", ["UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS"])
def test_stack_in_progress_is_polled_without_writes(status: str) -> None:
    fake = FakeAws(status)
    result = run(fake)
    assert result.outcome.phase is Phase.PROGRESSING
    assert result.poll_after is not None
    assert fake.writes() == []


def test_deploy_that_cloudformation_rolled_back_is_not_retried() -> None:
    fake = FakeAws(None, after_execute="CREATE_IN_PROGRESS")
    first = run(fake)
    assert first.outcome.phase is Phase.PROGRESSING
    fake.stack["StackStatus"] = "ROLLBACK_COMPLETE"  # type: ignore[index]
    fake.calls.clear()
    second = run(fake, then(first))
    assert second.outcome.reason == "DeployRolledBack"
    assert fake.writes() == []


def test_stack_of_someone_else_is_never_written() -> None:
    fake = FakeAws("CREATE_COMPLETE")
    fake.stack["Tags"] = []  # type: ignore[index]
    result = run(fake)
    assert result.outcome.reason == "ForeignStack"
    assert fake.writes() == []


def deleting(clients: Any, status: dict[str, Any], regions: list[str]) -> tuple[Pass, Any]:
    """A pass over an object whose deletionPolicy is Delete, and its spec."""
    body = {"metadata": {"name": "env", "namespace": "ns", "generation": 1}, "status": status}
    work = Pass(body, logging.getLogger("test"), clients, Identity("us-east-1"), OWNER, False,
                lambda _: None)  # fmt: skip
    parsed = CdkBootstrapSpec.model_validate(
        {"regions": regions, "allowAdministratorAccess": True, "deletionPolicy": "Delete"}
    )
    return work, parsed


def delete(fake: FakeAws, status: dict[str, Any]) -> Result | None:
    return reconcile.delete(*deleting(FakeClients(fake), status, ["us-east-1"]))


RECORDED_REGION = {
    "region": "us-east-1",
    "stackId": STACK_ID,
    "resources": {"bucketName": "cdk-hnb659fds-assets-123456789012-us-east-1"},
}


def test_deletion_removes_the_stack_and_then_its_empty_retained_bucket() -> None:
    fake = FakeAws("CREATE_COMPLETE")
    assert delete(fake, {"regions": [RECORDED_REGION]}) is None
    assert fake.calls.count("delete_stack") == 1
    assert "delete_bucket" in fake.calls


def test_deletion_that_stopped_after_delete_stack_still_removes_the_empty_bucket() -> None:
    fake = FakeAws(None)  # DeleteStack went through; the status was never updated after it
    assert delete(fake, {"regions": [RECORDED_REGION]}) is None
    assert "delete_stack" not in fake.calls
    assert "delete_bucket" in fake.calls


def test_deletion_of_a_stack_never_created_touches_no_bucket() -> None:
    fake = FakeAws(None)
    assert delete(fake, {}) is None
    assert "delete_bucket" not in fake.calls


class SlowDelete(FakeAws):
    """CloudFormation as it really deletes: DeleteStack starts it, a later describe ends it."""

    def do_delete_stack(self, **_: Any) -> Any:
        assert self.stack is not None
        self.stack["StackStatus"] = "DELETE_IN_PROGRESS"


class RegionalClients:
    def __init__(self, fakes: dict[str, FakeAws]) -> None:
        self.fakes = fakes

    def get(self, service: str, identity: Identity) -> Any:
        return self.fakes[identity.region]


def run_regions(fakes: dict[str, FakeAws], status: dict[str, Any], regions: list[str]) -> Result:
    work, parsed = deleting(RegionalClients(fakes), status, regions)
    return reconcile.reconcile(work, parsed, read=lambda *_: None)


def test_a_removed_region_stays_in_status_until_its_stack_and_empty_bucket_are_gone() -> None:
    west = SlowDelete("CREATE_COMPLETE")
    fakes = {"us-east-1": FakeAws(None), "eu-west-1": west}
    bucket = "cdk-hnb659fds-assets-123456789012-eu-west-1"
    removed = {"region": "eu-west-1", "stackId": STACK_ID, "resources": {"bucketName": bucket}}

    first = run_regions(fakes, {"regions": [removed]}, ["us-east-1"])
    assert first.outcome.phase is Phase.PROGRESSING
    assert first.outcome.reason == "StackDeleting"
    kept = next(r for r in first.status["regions"] if r["region"] == "eu-west-1")
    assert kept["stackStatus"] == "DELETE_IN_PROGRESS"
    assert west.writes() == ["delete_stack"]
    assert "delete_bucket" not in west.calls  # the stack still holds it

    west.stack = None  # CloudFormation finished the deletion
    second = run_regions(fakes, then(first), ["us-east-1"])
    assert second.outcome.phase is Phase.READY
    assert [r["region"] for r in second.status["regions"]] == ["us-east-1"]
    assert "delete_bucket" in west.calls


class Unreachable(FakeAws):
    """A region whose endpoint answers every call with an HTML error page."""

    def do_describe_stacks(self, **_: Any) -> Any:
        error = {"Error": {"Code": "500", "Message": "<!doctype html>"}}
        raise ClientError(error, "DescribeStacks")  # type: ignore[arg-type]


def test_a_region_that_cannot_be_reached_does_not_hold_up_deleting_the_others() -> None:
    east = FakeAws("CREATE_COMPLETE")
    fakes = {"xx-fake-1": Unreachable(None), "us-east-1": east}
    status = {"regions": [{**RECORDED_REGION}, {"region": "xx-fake-1"}]}
    result = reconcile.delete(*deleting(RegionalClients(fakes), status, ["xx-fake-1", "us-east-1"]))

    assert east.writes() == ["delete_stack"]
    assert "delete_bucket" in east.calls
    assert result is not None
    assert result.outcome.reason == "DeletionFailed"
    assert "xx-fake-1: UnparsableResponse" in result.outcome.message
    assert "deletionPolicy: Retain" in result.outcome.message
    assert [r["region"] for r in result.status["regions"]] == ["xx-fake-1"]  # us-east-1 done


def test_a_template_too_big_to_send_inline_is_refused_before_any_call() -> None:
    big = {**template.render(), "Metadata": {"Padding": "x" * reconcile.TEMPLATE_BODY_LIMIT}}
    work, _ = deleting(FakeClients(FakeAws(None)), {}, ["us-east-1"])
    parsed = CdkBootstrapSpec.model_validate(
        {"regions": ["us-east-1"], "allowAdministratorAccess": True,
         "template": {"source": "ConfigMap", "configMapRef": {"name": "cdk"}}}
    )  # fmt: skip
    data = {"template.yaml": json.dumps(big)}
    with pytest.raises(Terminal, match="over CloudFormation's 51200 for a template sent inline"):
        reconcile.load_source(work, parsed, read=lambda *_: data)
