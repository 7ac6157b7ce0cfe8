"""Gantry's CDK bootstrap template: valid per cfn-lint, and every option does what it says.

The options are CloudFormation parameters, so each test resolves the rendered template for a
set of parameter values with a small evaluator of the intrinsics it uses, then looks at the
resulting resources the way CloudFormation would create them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint
from click.testing import CliRunner
from gantry.cdk import template
from gantry.cli import main

ACCOUNT, REGION = "123456789012", "eu-west-1"
ROLE_NAMES = {
    "DeploymentActionRole": "deploy",
    "CloudFormationExecutionRole": "cfn-exec",
    "FilePublishingRole": "file-publishing",
    "ImagePublishingRole": "image-publishing",
    "LookupRole": "lookup",
}
NO_VALUE = object()


class Resolver:
    """Just enough of CloudFormation's intrinsics to resolve this template."""

    def __init__(self, rendered: dict[str, Any], **values: str) -> None:
        params = rendered["Parameters"]
        self.params: dict[str, Any] = {k: str(v.get("Default", "")) for k, v in params.items()}
        self.params.update(values)
        for name, spec in params.items():
            if spec["Type"] == "CommaDelimitedList":
                self.params[name] = self.params[name].split(",")
        self.params.update({"AWS::AccountId": ACCOUNT, "AWS::Region": REGION})
        self.params.update({"AWS::Partition": "aws", "AWS::NoValue": NO_VALUE})
        self.conditions = {k: self.value(v) for k, v in rendered["Conditions"].items()}
        self.template = rendered

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()  # fmt: skip
            if key == "Ref":
                return self.params.get(arg, f"<{arg}>")
            if key == "Fn::Sub":
                text = arg
                for name, value in self.params.items():
                    if isinstance(value, str):
                        text = text.replace("${" + name + "}", value)
                return text
            if key == "Fn::If":
                return self.value(arg[1] if self.conditions[arg[0]] else arg[2])
            if key == "Fn::Join":
                return arg[0].join(str(v) for v in self.value(arg[1]))
            if key == "Fn::Equals":
                return self.value(arg[0]) == self.value(arg[1])
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::GetAtt":
                return f"<{arg[0]}.{arg[1]}>"
        resolved = {k: self.value(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def resources(self) -> dict[str, dict[str, Any]]:
        result = {}
        for name, resource in self.template["Resources"].items():
            if "Condition" in resource and not self.conditions[resource["Condition"]]:
                continue
            result[name] = {**resource, "Properties": self.value(resource["Properties"])}
        return result


def resolved(**values: str) -> dict[str, dict[str, Any]]:
    return Resolver(template.render(), **values).resources()


def trusted(role: dict[str, Any]) -> set[str]:
    accounts: set[str] = set()
    for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
        principal = statement["Principal"].get("AWS", [])
        accounts.update(principal if isinstance(principal, list) else [principal])
    return accounts


def test_rendered_template_passes_cfn_lint() -> None:
    matches = lint(
        template.canonical_json(template.render()),
        config=ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"]),
    )
    assert [str(m) for m in matches] == []


def test_yaml_export_passes_cfn_lint_too() -> None:
    matches = lint(template.to_yaml(template.render()), config=ManualArgs(regions=[REGION]))
    assert [str(m) for m in matches] == []


def test_every_option_is_a_parameter() -> None:
    params = template.render()["Parameters"]
    assert set(params) >= {
        "Qualifier",
        "TrustedAccounts",
        "TrustedAccountsForLookup",
        "CloudFormationExecutionPolicies",
        "FileAssetsBucketName",
        "FileAssetsBucketKmsKeyId",
        "ContainerAssetsRepositoryName",
        "PublicAccessBlockConfiguration",
        "InputPermissionsBoundary",
        "DenyExternalId",
        "NoncurrentVersionDays",
        "BootstrapVariant",
    }
    assert params["Qualifier"]["Default"] == "hnb659fds"
    assert params["BootstrapVariant"]["Default"] == template.VARIANT
    assert "Gantry" in template.VARIANT  # a stray `cdk bootstrap` sees another variant
    assert params["FileAssetsBucketKmsKeyId"]["Default"] == template.AWS_MANAGED_KEY


def test_default_names_follow_the_contract() -> None:
    resources = resolved(Qualifier="abc")
    suffix = f"{ACCOUNT}-{REGION}"
    assert resources["StagingBucket"]["Properties"]["BucketName"] == f"cdk-abc-assets-{suffix}"
    repository = resources["ContainerAssetsRepository"]["Properties"]
    assert repository["RepositoryName"] == f"cdk-abc-container-assets-{suffix}"
    for logical, purpose in ROLE_NAMES.items():
        assert resources[logical]["Properties"]["RoleName"] == f"cdk-abc-{purpose}-role-{suffix}"
    version = resources["CdkBootstrapVersion"]["Properties"]
    assert version["Name"] == "/cdk-bootstrap/abc/version"
    assert version["Type"] == "String"
    assert version["Value"] == str(template.BOOTSTRAP_VERSION)


def test_outputs_are_the_contract_ones_with_a_literal_version() -> None:
    outputs = template.render()["Outputs"]
    assert set(outputs) == set(template.REQUIRED_OUTPUTS)
    assert outputs["BootstrapVersion"]["Value"] == str(template.BOOTSTRAP_VERSION)
    # Never read back from the parameter: moto drops every output then, AWS lags.
    assert "CdkBootstrapVersion" not in json.dumps(outputs)


def test_custom_bucket_and_repository_names_replace_the_defaults() -> None:
    resources = resolved(FileAssetsBucketName="my-assets", ContainerAssetsRepositoryName="my-repo")
    assert resources["StagingBucket"]["Properties"]["BucketName"] == "my-assets"
    assert resources["ContainerAssetsRepository"]["Properties"]["RepositoryName"] == "my-repo"


def test_staging_bucket_is_versioned_encrypted_private_retained_and_expires_versions() -> None:
    bucket = resolved(NoncurrentVersionDays="7")["StagingBucket"]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireNoncurrentVersions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == "7"
    assert rules["AbortStaleMultipartUploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }
    policy = resolved()["StagingBucketPolicy"]["Properties"]["PolicyDocument"]
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_public_access_block_can_be_turned_off() -> None:
    props = resolved(PublicAccessBlockConfiguration="false")["StagingBucket"]["Properties"]
    assert "PublicAccessBlockConfiguration" not in props


KEY = "arn:aws:kms:eu-west-1:123456789012:key/abc"


@pytest.mark.parametrize(
    ("kms", "key_created", "bucket_key"),
    [
        (template.AWS_MANAGED_KEY, False, None),
        ("", True, "<FileAssetsBucketEncryptionKey.Arn>"),
        (KEY, False, KEY),
    ],
    ids=["aws-managed", "create", "existing"],
)
def test_kms_option_chooses_the_bucket_key(kms: str, key_created: bool, bucket_key: Any) -> None:
    resources = resolved(FileAssetsBucketKmsKeyId=kms)
    assert ("FileAssetsBucketEncryptionKey" in resources) is key_created
    assert ("FileAssetsBucketEncryptionKeyAlias" in resources) is key_created
    rule = resources["StagingBucket"]["Properties"]["BucketEncryption"]
    default = rule["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    assert default.get("KMSMasterKeyID") == bucket_key


def test_created_key_is_deleted_with_the_stack_and_aliased_by_qualifier() -> None:
    resources = resolved(FileAssetsBucketKmsKeyId="", Qualifier="q1")
    assert resources["FileAssetsBucketEncryptionKey"]["DeletionPolicy"] == "Delete"
    alias = resources["FileAssetsBucketEncryptionKeyAlias"]["Properties"]["AliasName"]
    assert alias == "alias/cdk-q1-assets-key"


def test_container_repository_has_immutable_tags_and_untagged_expiry() -> None:
    props = resolved()["ContainerAssetsRepository"]["Properties"]
    assert props["ImageTagMutability"] == "IMMUTABLE"
    rules = json.loads(props["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert rules[0]["selection"]["tagStatus"] == "untagged"


def test_without_trust_only_the_own_account_is_trusted() -> None:
    resources = resolved()
    for logical in ("DeploymentActionRole", "FilePublishingRole", "LookupRole"):
        assert trusted(resources[logical]) == {ACCOUNT}


def test_trusted_accounts_reach_every_publishing_role_and_lookup_accounts_only_lookup() -> None:
    resources = resolved(
        TrustedAccounts="111111111111,222222222222",
        TrustedAccountsForLookup="333333333333",
        CloudFormationExecutionPolicies="arn:aws:iam::aws:policy/PowerUserAccess",
    )
    deploy_set = {ACCOUNT, "111111111111", "222222222222"}
    for logical in ("DeploymentActionRole", "FilePublishingRole", "ImagePublishingRole"):
        assert trusted(resources[logical]) == deploy_set
    assert trusted(resources["LookupRole"]) == deploy_set | {"333333333333"}
    exec_trust = resources["CloudFormationExecutionRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert exec_trust["Statement"][0]["Principal"] == {"Service": "cloudformation.amazonaws.com"}


def test_sessions_with_an_external_id_are_denied_unless_allowed() -> None:
    denied = resolved()["DeploymentActionRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert denied["Statement"][0]["Condition"] == {"Null": {"sts:ExternalId": "true"}}
    assert "sts:TagSession" in denied["Statement"][0]["Action"]
    allowed = resolved(DenyExternalId="false")["DeploymentActionRole"]["Properties"]
    assert "Condition" not in allowed["AssumeRolePolicyDocument"]["Statement"][0]


@pytest.mark.parametrize(
    ("trust", "policies", "expected"),
    [
        ("", "", ["arn:aws:iam::aws:policy/AdministratorAccess"]),
        ("111111111111", "", None),
        ("111111111111", "arn:aws:iam::aws:policy/ReadOnlyAccess",
         ["arn:aws:iam::aws:policy/ReadOnlyAccess"]),
    ],
    ids=["admin-when-alone", "nothing-with-trust", "explicit"],
)  # fmt: skip
def test_execution_role_policies(trust: str, policies: str, expected: Any) -> None:
    resources = resolved(TrustedAccounts=trust, CloudFormationExecutionPolicies=policies)
    props = resources["CloudFormationExecutionRole"]["Properties"]
    assert props.get("ManagedPolicyArns") == expected


def test_permissions_boundary_applies_to_every_role() -> None:
    for logical, resource in resolved(InputPermissionsBoundary="my/boundary").items():
        if logical in ROLE_NAMES:
            expected = f"arn:aws:iam::{ACCOUNT}:policy/my/boundary"
            assert resource["Properties"]["PermissionsBoundary"] == expected
    assert all(
        "PermissionsBoundary" not in r["Properties"]
        for name, r in resolved().items()
        if name in ROLE_NAMES
    )


def test_declared_version_is_backed_by_the_deploy_role_permissions() -> None:
    # 23: rollback; 28: refactor; 30-32: CloudFormation read-only managed policy.
    resources = resolved()
    actions = json.dumps(resources["DeploymentActionRoleDefaultPolicy"]["Properties"])
    for needed in ("RollbackStack", "ContinueUpdateRollback", "CreateStackRefactor",
                   "ExecuteStackRefactor", "ssm:GetParameter", "iam:PassRole"):  # fmt: skip
        assert needed in actions
    managed = resources["DeploymentActionRole"]["Properties"]["ManagedPolicyArns"]
    assert managed == ["arn:aws:iam::aws:policy/AWSCloudFormationReadOnlyAccess"]
    publishing = resources["FilePublishingRoleDefaultPolicy"]["Properties"]["PolicyDocument"]
    conditions = [s.get("Condition") for s in publishing["Statement"]]
    assert {"StringEquals": {"aws:ResourceAccount": ACCOUNT}} in conditions  # 21
    assert template.BOOTSTRAP_VERSION == 32


def test_cli_prints_the_template_in_yaml_and_json() -> None:
    runner = CliRunner()
    as_yaml = runner.invoke(main, ["cdk-template"])
    assert as_yaml.exit_code == 0
    assert yaml.safe_load(as_yaml.output) == template.render()
    as_json = runner.invoke(main, ["cdk-template", "--json"])
    assert json.loads(as_json.output) == template.render()


def test_template_hash_is_stable_and_content_sensitive() -> None:
    first, second = template.render(), template.render()
    assert template.template_hash(first) == template.template_hash(second)
    second["Description"] = "changed"
    assert template.template_hash(first) != template.template_hash(second)
