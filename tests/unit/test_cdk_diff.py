"""CdkBootstrap decisions: parameters from the spec, stack states, versions, drift, templates."""

from __future__ import annotations

from typing import Any

import pytest
from gantry.cdk import diff, template
from gantry.cdk.diff import StackState
from gantry.cdk.models import CdkBootstrapSpec
from gantry.core.errors import Terminal
from gantry.core.ownership import Owner

OWNER = Owner("test", "ns", "CdkBootstrap", "env", "uid-1")


def spec(**fields: Any) -> CdkBootstrapSpec:
    return CdkBootstrapSpec.model_validate({"regions": ["us-east-1"], **fields})


def test_defaults_give_aws_managed_key_deny_external_id_and_blocked_public_access() -> None:
    values = diff.parameter_values(spec(allowAdministratorAccess=True), "us-east-1")
    assert values["Qualifier"] == "hnb659fds"
    assert values["FileAssetsBucketKmsKeyId"] == template.AWS_MANAGED_KEY
    assert values["DenyExternalId"] == "true"
    assert values["PublicAccessBlockConfiguration"] == "true"
    assert values["TrustedAccounts"] == ""


def test_administrator_access_is_sent_explicitly_with_the_region_partition() -> None:
    values = diff.parameter_values(spec(allowAdministratorAccess=True), "cn-north-1")
    expected = "arn:aws-cn:iam::aws:policy/AdministratorAccess"
    assert values["CloudFormationExecutionPolicies"] == expected


def test_trust_never_inherits_administrator_access() -> None:
    trusting = spec(allowAdministratorAccess=True, trust={"accounts": ["111111111111"]})
    assert diff.parameter_values(trusting, "us-east-1")["CloudFormationExecutionPolicies"] == ""


def test_every_option_maps_to_its_parameter() -> None:
    values = diff.parameter_values(
        spec(
            qualifier="team1",
            trust={
                "accounts": ["111111111111", "222222222222"],
                "lookupAccounts": ["333333333333"],
                "denyExternalId": False,
            },
            cloudFormationExecutionPolicies=["arn:aws:iam::aws:policy/PowerUserAccess"],
            assetsBucket={
                "name": "assets-x",
                "kms": {"mode": "Existing", "keyArn": "arn:aws:kms:us-east-1:1:key/k"},
                "blockPublicAccess": False,
                "noncurrentVersionDays": 7,
            },
            containerRepository={"name": "images"},
            permissionsBoundary={"policyName": "boundary"},
        ),
        "us-east-1",
    )
    assert values == {
        "Qualifier": "team1",
        "TrustedAccounts": "111111111111,222222222222",
        "TrustedAccountsForLookup": "333333333333",
        "CloudFormationExecutionPolicies": "arn:aws:iam::aws:policy/PowerUserAccess",
        "FileAssetsBucketName": "assets-x",
        "FileAssetsBucketKmsKeyId": "arn:aws:kms:us-east-1:1:key/k",
        "ContainerAssetsRepositoryName": "images",
        "PublicAccessBlockConfiguration": "false",
        "InputPermissionsBoundary": "boundary",
        "DenyExternalId": "false",
        "NoncurrentVersionDays": "7",
    }


def test_created_key_is_asked_for_with_an_empty_key_id() -> None:
    created = spec(allowAdministratorAccess=True, assetsBucket={"kms": {"mode": "Create"}})
    assert diff.parameter_values(created, "us-east-1")["FileAssetsBucketKmsKeyId"] == ""


def test_builtin_template_declares_every_parameter_the_spec_sets() -> None:
    values = diff.parameter_values(spec(allowAdministratorAccess=True), "us-east-1")
    assert diff.parameters_for(template.render(), values) == values


def test_user_template_gets_only_what_it_declares_when_the_rest_is_neutral() -> None:
    user = {"Parameters": {"Qualifier": {}, "TrustedAccounts": {}}, "Resources": {}}
    values = diff.parameter_values(spec(), "us-east-1")
    assert diff.parameters_for(user, values) == {"Qualifier": "hnb659fds", "TrustedAccounts": ""}


def test_user_template_lacking_a_parameter_the_spec_sets_is_refused() -> None:
    user = {"Parameters": {"Qualifier": {}}, "Resources": {}}
    values = diff.parameter_values(
        spec(cloudFormationExecutionPolicies=["arn:aws:iam::aws:policy/X"]), "us-east-1"
    )
    with pytest.raises(Terminal, match="CloudFormationExecutionPolicies"):
        diff.parameters_for(user, values)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (None, StackState.ABSENT),
        ("DELETE_COMPLETE", StackState.ABSENT),
        ("CREATE_COMPLETE", StackState.HEALTHY),
        ("UPDATE_COMPLETE", StackState.HEALTHY),
        ("UPDATE_ROLLBACK_COMPLETE", StackState.HEALTHY),
        ("ROLLBACK_COMPLETE", StackState.RECREATE),
        ("REVIEW_IN_PROGRESS", StackState.RECREATE),
        ("UPDATE_ROLLBACK_FAILED", StackState.ROLLBACK_FAILED),
        ("UPDATE_IN_PROGRESS", StackState.IN_PROGRESS),
        ("CREATE_IN_PROGRESS", StackState.IN_PROGRESS),
        ("DELETE_IN_PROGRESS", StackState.IN_PROGRESS),
        ("CREATE_FAILED", StackState.FAILED),
        ("DELETE_FAILED", StackState.FAILED),
        ("ROLLBACK_FAILED", StackState.FAILED),
    ],
)
def test_stack_status_decides_what_to_do(status: str | None, state: StackState) -> None:
    assert diff.stack_state(status) is state


@pytest.mark.parametrize(
    ("deployed", "allowed", "refused"),
    [(None, False, False), (31, False, False), (32, False, False), (40, False, True),
     (40, True, False)],
)  # fmt: skip
def test_downgrade_is_refused_unless_allowed(
    deployed: int | None, allowed: bool, refused: bool
) -> None:
    problem = diff.downgrade_problem(32, deployed, allowed)
    assert (problem is not None) is refused
    if problem:
        assert "allowDowngrade" in problem


@pytest.mark.parametrize(
    ("parameter", "repair"),
    [
        ({"Type": "String", "Value": "32"}, False),
        ({"Type": "String", "Value": "31"}, True),
        ({"Type": "String", "Value": "thirty-two"}, True),
        ({"Type": "SecureString", "Value": "32"}, True),
        (None, True),
    ],
    ids=["intact", "other-number", "not-a-number", "secure-string", "missing"],
)
def test_tampered_version_parameter_is_repaired(parameter: Any, repair: bool) -> None:
    drift = diff.version_parameter_drift(parameter, 32)
    assert (drift is not None) is repair


def test_removed_trusted_account_is_reported() -> None:
    document = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "123456789012"}},
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111111111111:root"]}},
            None,  # moto keeps an AWS::NoValue statement as null
        ]
    }
    expected = {"123456789012", "111111111111", "222222222222"}
    assert diff.trust_drift(document, expected) == {"222222222222"}


def test_equal_inputs_give_equal_fingerprints_and_change_set_names() -> None:
    one = diff.fingerprint("h", {"A": "1", "B": "2"}, {"t": "v"})
    two = diff.fingerprint("h", {"B": "2", "A": "1"}, {"t": "v"})
    assert one == two
    assert one != diff.fingerprint("h", {"A": "1", "B": "3"}, {"t": "v"})
    assert diff.change_set_name(one).startswith("gantry-")
    assert len(diff.change_set_name(one)) <= 128


def test_stack_is_ours_by_owner_tag_or_recorded_id() -> None:
    tagged = {"StackId": "arn:1", "Tags": [{"Key": "gantry.dev/owner", "Value": OWNER.value}]}
    assert diff.is_ours(tagged, OWNER, None)
    assert diff.is_ours({"StackId": "arn:2", "Tags": []}, OWNER, "arn:2")
    assert not diff.is_ours({"StackId": "arn:3", "Tags": []}, OWNER, "arn:2")


def test_foreign_stack_is_described_by_its_maker() -> None:
    cli = {"Parameters": [{"ParameterKey": "BootstrapVariant", "ParameterValue": "AWS CDK: X"}]}
    assert "cdk bootstrap" in diff.describe_foreign(cli)
    other = {"Tags": [{"Key": "gantry.dev/owner", "Value": "c/ns/CdkBootstrap/other"}]}
    assert "c/ns/CdkBootstrap/other" in diff.describe_foreign(other)


CDK_STYLE = """
Parameters:
  Qualifier: {Type: String, Default: hnb659fds}
  BootstrapVariant: {Type: String, Default: "AWS CDK: Default Resources"}
Resources:
  CdkBootstrapVersion:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub /cdk-bootstrap/${Qualifier}/version
      Type: String
      Value: "32"
  StagingBucket: {Type: AWS::S3::Bucket}
Outputs:
  BucketName: {Value: !Ref StagingBucket}
  BucketDomainName: {Value: !GetAtt StagingBucket.RegionalDomainName}
  ImageRepositoryName: {Value: x}
  BootstrapVersion: {Value: !GetAtt [CdkBootstrapVersion, Value]}
"""


def test_user_yaml_with_short_tags_loads_and_declares_its_version() -> None:
    loaded = diff.load_template(CDK_STYLE)
    outputs = loaded["Outputs"]
    assert outputs["BucketDomainName"]["Value"] == {
        "Fn::GetAtt": ["StagingBucket", "RegionalDomainName"]
    }
    assert outputs["BucketName"]["Value"] == {"Ref": "StagingBucket"}
    assert diff.template_version(loaded) == 32  # from the parameter's literal value
    assert diff.template_variant(loaded) == "AWS CDK: Default Resources"
    assert diff.contract_problems(loaded) == []


def test_builtin_template_meets_the_contract() -> None:
    rendered = template.render()
    assert diff.contract_problems(rendered) == []
    assert diff.template_version(rendered) == template.BOOTSTRAP_VERSION


def test_template_without_the_contract_is_refused_with_what_is_missing() -> None:
    problems = diff.contract_problems(diff.load_template("Resources: {B: {Type: AWS::S3::Bucket}}"))
    text = "; ".join(problems)
    assert "BootstrapVersion" in text
    assert "Qualifier" in text
    assert "BootstrapVariant" in text


@pytest.mark.parametrize(
    "text",
    [
        "[1, 2]",
        "a: [",
        "Parameters: {}",
        "Resources: {B: AWS::S3::Bucket}",
        "Resources: {B: {Type: AWS::S3::Bucket}}\nOutputs: [BucketName]",
        "Resources: {B: {Type: AWS::S3::Bucket}}\nParameters: {Qualifier: x}",
    ],
)
def test_text_that_is_no_template_is_refused(text: str) -> None:
    with pytest.raises(Terminal, match="template"):
        diff.load_template(text)


def test_body_hash_matches_for_dict_and_text_forms() -> None:
    rendered = template.render()
    expected = template.template_hash(rendered)
    assert diff.body_hash(rendered) == expected
    assert diff.body_hash(template.canonical_json(rendered)) == expected
    assert diff.body_hash(template.to_yaml(rendered)) == expected


def test_physical_names_follow_spec_overrides() -> None:
    names = diff.physical_names(
        spec(qualifier="q", containerRepository={"name": "img"}), "123456789012", "eu-west-1"
    )
    assert names["bucketName"] == "cdk-q-assets-123456789012-eu-west-1"
    assert names["repositoryName"] == "img"
    assert names["versionParameter"] == "/cdk-bootstrap/q/version"
    assert "cdk-q-lookup-role-123456789012-eu-west-1" in names["roles"]


def test_change_summary_names_action_resource_and_replacement() -> None:
    changes = [
        {
            "ResourceChange": {
                "Action": "Modify",
                "LogicalResourceId": "DeploymentActionRole",
                "ResourceType": "AWS::IAM::Role",
                "Replacement": "False",
            }
        }
    ]
    assert diff.summarize_changes(changes) == [
        {
            "action": "Modify",
            "logicalId": "DeploymentActionRole",
            "resourceType": "AWS::IAM::Role",
            "replacement": "False",
        }
    ]


def test_an_unquoted_format_version_date_stays_the_text_cloudformation_reads() -> None:
    loaded = diff.load_template("AWSTemplateFormatVersion: 2010-09-09\n" + CDK_STYLE)
    assert loaded["AWSTemplateFormatVersion"] == "2010-09-09"


@pytest.mark.parametrize(
    "text",
    [
        "Metadata: &a [*a]\nResources: {B: {Type: AWS::S3::Bucket}}",
        "Metadata: " + "[" * 3000 + "]" * 3000 + "\nResources: {B: {Type: AWS::S3::Bucket}}",
        "Mappings: {C: {NO: {a: b}, SE: {a: b}}}\nResources: {B: {Type: AWS::S3::Bucket}}",
    ],
)
def test_yaml_that_cannot_become_json_is_an_invalid_template(text: str) -> None:
    with pytest.raises(Terminal, match="not valid YAML/JSON"):
        diff.load_template(text)


def test_versions_are_ascii_digits_only() -> None:
    assert diff.parse_version(" 32 ") == 32
    assert diff.parse_version("\u00b2") is None
    assert diff.parse_version("1" * 5000) is None


def test_a_trust_policy_naming_anyone_names_no_account() -> None:
    anyone = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}]}
    assert diff.trust_drift(anyone, {"111111111111"}) == {"111111111111"}


def test_yaml_mistakes_are_reported_with_what_and_where() -> None:
    with pytest.raises(Terminal, match=r"found character '\\t'.*line 3"):
        diff.load_template("Resources:\n  B:\n\tType: AWS::S3::Bucket\n")
    with pytest.raises(Terminal, match="must be a mapping"):
        diff.load_template("- Resources")
    with pytest.raises(Terminal, match="unknown tag !Frobnicate"):
        diff.load_template("Resources: {B: {Type: AWS::S3::Bucket}}\nX: !Frobnicate '32'")


def test_the_condition_short_form_is_a_condition_reference() -> None:
    loaded = diff.load_template("Resources: {B: {Type: X, Properties: {P: !Condition C}}}")
    assert loaded["Resources"]["B"]["Properties"]["P"] == {"Condition": "C"}
