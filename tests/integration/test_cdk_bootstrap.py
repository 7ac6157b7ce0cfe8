"""CdkBootstrap through the real API server, moto and the operator process.

moto's CloudFormation is synchronous, skips bucket policies, keeps no outputs on stacks made
from change sets, does not update a role's trust on a stack update, and lacks
UpdateTerminationProtection (an HTML 500); the assertions below read AWS state that moto does
keep (resources, the version parameter, change sets) and the status Gantry reports.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from gantry.cdk import template
from support import GROUP_VERSION, Stack, condition, is_current, wait_condition, wait_for

pytestmark = pytest.mark.integration
PLURAL = "cdkbootstraps"
ACCOUNT = "123456789012"
ADMIN = {"allowAdministratorAccess": True}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cdk-bootstrap.yaml"


def manifest(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "CdkBootstrap",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"regions": ["us-east-1"], **spec},
    }


def ready(stack: Stack, namespace: str, name: str, timeout: float = 120) -> dict[str, Any]:
    return wait_condition(stack, PLURAL, namespace, name, "Ready", timeout=timeout)


def blocked(stack: Stack, namespace: str, name: str) -> dict[str, Any]:
    obj = wait_condition(stack, PLURAL, namespace, name, "Blocked", timeout=90)
    assert condition(obj, "Ready")["status"] == "False"
    return condition(obj, "Blocked")


def describe(stack: Stack, region: str, name: str = "CDKToolkit") -> dict[str, Any] | None:
    cfn = stack.aws("cloudformation", region)
    try:
        found: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except cfn.exceptions.ClientError:
        return None
    return None if found["StackStatus"] == "DELETE_COMPLETE" else found


def version_parameter(stack: Stack, region: str, qualifier: str = "hnb659fds") -> Any:
    ssm = stack.aws("ssm", region)
    return ssm.get_parameter(Name=f"/cdk-bootstrap/{qualifier}/version")["Parameter"]


def bucket_exists(stack: Stack, name: str) -> bool:
    names = [b["Name"] for b in stack.aws("s3").list_buckets().get("Buckets", [])]
    return name in names


def region_status(obj: dict[str, Any], region: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in obj["status"]["regions"] if r["region"] == region)
    return found


def calls(stack: Stack, operation: str) -> int:
    return sum(n for (_, op, _), n in stack.operator.aws_calls().items() if op == operation)


def test_example_is_bootstrapped_in_both_regions(stack: Stack, namespace: str) -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    example["metadata"]["namespace"] = namespace
    stack.apply(example)
    obj = ready(stack, namespace, "workloads")

    assert obj["status"]["bootstrapVersion"] == template.BOOTSTRAP_VERSION
    assert obj["status"]["trustedAccounts"] == ["111111111111"]
    for region in ("us-east-1", "eu-west-1"):
        cfn_stack = describe(stack, region)
        assert cfn_stack is not None
        assert cfn_stack["StackStatus"] == "CREATE_COMPLETE"
        status = region_status(obj, region)
        assert status["stackId"] == cfn_stack["StackId"]
        assert status["bootstrapVersionParameter"] == template.BOOTSTRAP_VERSION
        parameter = version_parameter(stack, region)
        assert (parameter["Type"], parameter["Value"]) == ("String", "32")
        assert bucket_exists(stack, f"cdk-hnb659fds-assets-{ACCOUNT}-{region}")
        role = stack.aws("iam").get_role(RoleName=f"cdk-hnb659fds-deploy-role-{ACCOUNT}-{region}")
        trust = json.dumps(role["Role"]["AssumeRolePolicyDocument"])
        assert "111111111111" in trust
        assert len(status["resources"]["roles"]) == 5
        # moto lacks UpdateTerminationProtection: reported, not retried, not a crash.
        assert status["terminationProtection"].startswith("NotApplied")
    assert condition(obj, "Blocked")["status"] == "False"
    assert condition(obj, "Drifted")["status"] == "False"


def test_resync_of_an_unchanged_environment_makes_no_write_call(
    stack: Stack, namespace: str
) -> None:
    stack.apply(manifest(namespace, "quiet", **ADMIN))
    ready(stack, namespace, "quiet")
    before = stack.writes()
    time.sleep(10)  # at least two drift passes at the tests' 4-second interval
    assert stack.writes() == before


def test_trust_change_is_deployed_by_a_change_set(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "trust", **ADMIN))
    first = ready(stack, namespace, "trust")
    executed = calls(stack, "ExecuteChangeSet")
    stack.apply(
        manifest(
            namespace,
            "trust",
            trust={"accounts": ["333333333333"]},
            cloudFormationExecutionPolicies=["arn:aws:iam::aws:policy/PowerUserAccess"],
        )
    )
    obj = ready(stack, namespace, "trust")
    assert obj["metadata"]["generation"] == 2
    assert obj["status"]["trustedAccounts"] == ["333333333333"]
    assert calls(stack, "ExecuteChangeSet") == executed + 1
    before, after = region_status(first, "us-east-1"), region_status(obj, "us-east-1")
    assert after["applied"] != before["applied"]
    assert after["stackId"] == before["stackId"]  # updated, never replaced
    # moto keeps a role's trust on a stack update; the drift check reports exactly that.
    drifted = wait_condition(stack, PLURAL, namespace, "trust", "Drifted")
    assert "333333333333" in condition(drifted, "Drifted")["message"]


def test_manual_change_set_waits_for_the_approval_annotation(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "manual", changeSetExecution="Manual", **ADMIN))

    def pending() -> dict[str, Any] | None:
        obj = stack.get(PLURAL, namespace, "manual")
        regions = ((obj or {}).get("status") or {}).get("regions") or []
        found: dict[str, Any] | None = (regions[0] if regions else {}).get("pendingChangeSet")
        return found

    change_set = wait_for(pending, timeout=60, what="a pending change set")
    assert change_set["name"].startswith("gantry-")
    assert any(c["logicalId"] == "StagingBucket" for c in change_set["changes"])
    obj = stack.get(PLURAL, namespace, "manual")
    assert condition(obj, "Ready")["reason"] == "AwaitingApproval"
    assert change_set["name"] in condition(obj, "Ready")["message"]
    cfn_stack = describe(stack, "us-east-1")
    assert cfn_stack is not None
    assert cfn_stack["StackStatus"] == "REVIEW_IN_PROGRESS"  # nothing executed yet

    stack.cp.kubectl(
        "annotate", PLURAL, "manual", "-n", namespace,
        f"gantry.dev/approve-change-set={change_set['name']}",
    )  # fmt: skip
    obj = ready(stack, namespace, "manual")
    cfn_stack = describe(stack, "us-east-1")
    assert cfn_stack is not None
    assert cfn_stack["StackStatus"] == "CREATE_COMPLETE"
    assert "pendingChangeSet" not in region_status(obj, "us-east-1")


def test_stack_made_by_someone_else_is_left_alone(stack: Stack, namespace: str) -> None:
    foreign = {
        "Parameters": {"BootstrapVariant": {"Type": "String", "Default": "AWS CDK: Default"}},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    }
    stack.aws("cloudformation").create_stack(
        StackName="CDKToolkit", TemplateBody=json.dumps(foreign)
    )
    stack.apply(manifest(namespace, "foreign", **ADMIN))
    found = blocked(stack, namespace, "foreign")
    assert found["reason"] == "ForeignStack"
    assert "CDKToolkit" in found["message"]
    assert "cdk bootstrap" in found["message"]
    assert describe(stack, "us-east-1") is not None
    assert not bucket_exists(stack, f"cdk-hnb659fds-assets-{ACCOUNT}-us-east-1")


def test_resources_with_our_names_outside_the_stack_are_named(stack: Stack, namespace: str) -> None:
    bucket = f"cdk-hnb659fds-assets-{ACCOUNT}-us-east-1"
    stack.aws("s3").create_bucket(Bucket=bucket)
    stack.aws("ssm").put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="21", Type="String"
    )
    stack.apply(manifest(namespace, "collide", **ADMIN))
    found = blocked(stack, namespace, "collide")
    assert found["reason"] == "NameCollision"
    assert bucket in found["message"]
    assert "/cdk-bootstrap/hnb659fds/version" in found["message"]
    assert describe(stack, "us-east-1") is None


def newer_template(version: int, variant: str) -> str:
    rendered = template.render()
    rendered["Outputs"]["BootstrapVersion"]["Value"] = str(version)
    rendered["Resources"]["CdkBootstrapVersion"]["Properties"]["Value"] = str(version)
    rendered["Parameters"]["BootstrapVariant"]["Default"] = variant
    return yaml.safe_dump(rendered)


def test_user_template_from_a_config_map_then_downgrade_is_refused(
    stack: Stack, namespace: str
) -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "bootstrap-template", "namespace": namespace},
        "data": {"template.yaml": newer_template(40, "Team: hardened")},
    }
    stack.apply(config_map)
    source = {"source": "ConfigMap", "configMapRef": {"name": "bootstrap-template"}}
    stack.apply(manifest(namespace, "custom", template=source, **ADMIN))
    obj = ready(stack, namespace, "custom")
    assert obj["status"]["variant"] == "Team: hardened"
    assert obj["status"]["bootstrapVersion"] == 40
    assert version_parameter(stack, "us-east-1")["Value"] == "40"

    # Back to the builtin (32): an older template never replaces a newer one silently.
    stack.apply(manifest(namespace, "custom", **ADMIN))
    found = blocked(stack, namespace, "custom")
    assert found["reason"] == "DowngradeRefused"
    assert "allowDowngrade" in found["message"]
    assert version_parameter(stack, "us-east-1")["Value"] == "40"

    stack.apply(manifest(namespace, "custom", allowDowngrade=True, **ADMIN))
    ready(stack, namespace, "custom")
    assert version_parameter(stack, "us-east-1")["Value"] == "32"


def test_config_map_without_the_contract_is_refused(stack: Stack, namespace: str) -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "not-bootstrap", "namespace": namespace},
        "data": {"template.yaml": "Resources:\n  B:\n    Type: AWS::S3::Bucket\n"},
    }
    stack.apply(config_map)
    source = {"source": "ConfigMap", "configMapRef": {"name": "not-bootstrap"}}
    stack.apply(manifest(namespace, "bad-template", template=source, **ADMIN))
    obj = wait_condition(stack, PLURAL, namespace, "bad-template", "Stalled")
    assert condition(obj, "Synced")["reason"] == "InvalidTemplate"
    assert "BootstrapVersion" in condition(obj, "Synced")["message"]
    assert describe(stack, "us-east-1") is None


def test_tampered_version_parameter_is_restored(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "tamper", **ADMIN))
    ready(stack, namespace, "tamper")
    stack.aws("ssm").put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="latest", Type="String", Overwrite=True
    )
    wait_for(
        lambda: version_parameter(stack, "us-east-1")["Value"] == "32",
        timeout=30,
        what="version parameter repair",
    )
    events = wait_for(
        lambda: [e for e in stack.events(namespace, "tamper") if e["reason"] == "DriftRepaired"],
        what="DriftRepaired event",
    )
    assert "'latest'" in events[0]["message"]


def test_deleted_staging_bucket_is_reported(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "lost", **ADMIN))
    ready(stack, namespace, "lost")
    stack.aws("s3").delete_bucket(Bucket=f"cdk-hnb659fds-assets-{ACCOUNT}-us-east-1")
    found = blocked(stack, namespace, "lost")
    assert found["reason"] == "StagingBucketMissing"
    obj = stack.get(PLURAL, namespace, "lost")
    assert condition(obj, "Drifted")["status"] == "True"


def test_retained_environment_stays_in_aws(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "keep", **ADMIN))
    ready(stack, namespace, "keep")
    stack.delete(PLURAL, namespace, "keep")
    wait_for(lambda: stack.get(PLURAL, namespace, "keep") is None, what="object gone")
    assert describe(stack, "us-east-1") is not None
    assert version_parameter(stack, "us-east-1")["Value"] == "32"


def test_deleted_environment_leaves_nothing_behind(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "gone", deletionPolicy="Delete", **ADMIN))
    ready(stack, namespace, "gone")
    stack.delete(PLURAL, namespace, "gone")
    wait_for(lambda: stack.get(PLURAL, namespace, "gone") is None, timeout=60, what="deletion")
    assert describe(stack, "us-east-1") is None
    assert not bucket_exists(stack, f"cdk-hnb659fds-assets-{ACCOUNT}-us-east-1")


def test_region_removed_under_delete_loses_its_stack_and_empty_bucket(
    stack: Stack, namespace: str
) -> None:
    both = ["us-east-1", "eu-west-1"]
    stack.apply(manifest(namespace, "shrink", regions=both, deletionPolicy="Delete", **ADMIN))
    ready(stack, namespace, "shrink")
    stack.apply(manifest(namespace, "shrink", regions=both[:1], deletionPolicy="Delete", **ADMIN))

    def shrunk() -> dict[str, Any] | None:
        obj = stack.get(PLURAL, namespace, "shrink")
        regions = [r["region"] for r in ((obj or {}).get("status") or {}).get("regions") or []]
        done = is_current(obj) and condition(obj, "Ready").get("status") == "True"
        return obj if done and regions == both[:1] else None

    wait_for(shrunk, timeout=90, what="eu-west-1 gone from status, us-east-1 Ready")
    assert describe(stack, "eu-west-1") is None
    assert not bucket_exists(stack, f"cdk-hnb659fds-assets-{ACCOUNT}-eu-west-1")
    assert describe(stack, "us-east-1") is not None


def test_qualifier_cannot_change(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "fixed", qualifier="one", **ADMIN))
    out = stack.apply(manifest(namespace, "fixed", qualifier="two", **ADMIN), check=False)
    assert "qualifier is immutable" in out


def test_writing_out_the_default_qualifier_is_no_change(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "plain", **ADMIN))
    out = stack.apply(manifest(namespace, "plain", qualifier="hnb659fds", **ADMIN))
    assert "configured" in out or "unchanged" in out, out
    refused = stack.apply(manifest(namespace, "plain", qualifier="other", **ADMIN), check=False)
    assert "qualifier is immutable" in refused


def test_trust_without_execution_policies_is_refused_at_admission(
    stack: Stack, namespace: str
) -> None:
    out = stack.apply(
        manifest(namespace, "loose", trust={"accounts": ["111111111111"]}, **ADMIN), check=False
    )
    assert "cloudFormationExecutionPolicies is required" in out
