"""Gantry's own CDK bootstrap template: a pure renderer of the contract `cdk deploy` relies on.

Called by `reconcile.py` (the stack it deploys), by `gantry cdk-template` (export for StackSets
or any other CloudFormation tool) and by the tests. It returns a plain dict; it does no I/O
and knows nothing of the CdkBootstrap spec: every option is a CloudFormation parameter, so
one rendered text fits every account and region, and the operator only chooses parameter
values.

Parameter names are the contract's own (`Qualifier`, `TrustedAccounts`, ...) so the same
values also drive a user's template such as the CDK CLI's. The version declared below is the
highest whose permissions the roles here really grant (see docs/cdk-bootstrap.md).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

# The contract version this template satisfies; written to the SSM parameter and to the
# BootstrapVersion output as a literal (reading the parameter back is eventually consistent).
BOOTSTRAP_VERSION = 32
VARIANT = "Gantry: Default Resources"
DEFAULT_QUALIFIER = "hnb659fds"
AWS_MANAGED_KEY = "AWS_MANAGED_KEY"
VERSION_PARAMETER = "/cdk-bootstrap/{qualifier}/version"
REQUIRED_OUTPUTS = ("BucketName", "BucketDomainName", "ImageRepositoryName", "BootstrapVersion")
ROLE_PURPOSES = ("deploy", "cfn-exec", "file-publishing", "image-publishing", "lookup")

Node = dict[str, Any]
NO_VALUE: Node = {"Ref": "AWS::NoValue"}


def sub(text: str) -> Node:
    return {"Fn::Sub": text}


def ref(name: str) -> Node:
    return {"Ref": name}


def if_(condition: str, then: Any, otherwise: Any = NO_VALUE) -> Node:
    return {"Fn::If": [condition, then, otherwise]}


def physical(purpose: str) -> Node:
    """The contract's name pattern `cdk-<qualifier>-<purpose>-<account>-<region>`."""
    return sub(f"cdk-${{Qualifier}}-{purpose}-${{AWS::AccountId}}-${{AWS::Region}}")


def managed_policy(name: str) -> Node:
    return sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{name}")


# --- parameters and conditions -----------------------------------------------------------


def _parameters() -> Node:
    def text(description: str, default: str = "", **extra: Any) -> Node:
        return {"Type": "String", "Default": default, "Description": description, **extra}

    def accounts(description: str) -> Node:
        return {"Type": "CommaDelimitedList", "Default": "", "Description": description}

    flag = {"AllowedValues": ["true", "false"]}
    return {
        "Qualifier": text(
            "Lower-case letters, digits and '-', embedded in every physical name.",
            DEFAULT_QUALIFIER,
            AllowedPattern="[a-z0-9-]{1,10}",
        ),
        "TrustedAccounts": accounts("Accounts that may deploy and publish assets here."),
        "TrustedAccountsForLookup": accounts("Accounts that may only look up context here."),
        "CloudFormationExecutionPolicies": accounts(
            "Managed policy ARNs for the CloudFormation execution role. Empty with no trusted "
            "accounts means AdministratorAccess; empty with trusted accounts means none."
        ),
        "FileAssetsBucketName": text("Staging bucket name; empty for the default name."),
        "FileAssetsBucketKmsKeyId": text(
            f"{AWS_MANAGED_KEY} (default), empty to create a key, or an existing key's ARN.",
            AWS_MANAGED_KEY,
        ),
        "ContainerAssetsRepositoryName": text("Repository name; empty for the default name."),
        "PublicAccessBlockConfiguration": text(
            "Block all public access to the staging bucket.", "true", **flag
        ),
        "InputPermissionsBoundary": text(
            "Name of a managed policy applied as permissions boundary to every role."
        ),
        "DenyExternalId": text("Refuse role sessions that pass an external id.", "true", **flag),
        "NoncurrentVersionDays": {
            "Type": "Number",
            "Default": 30,
            "MinValue": 1,
            "Description": "Days a replaced asset version is kept (for rollbacks and cdk gc).",
        },
        "BootstrapVariant": text("Which template family made this stack.", VARIANT),
    }


def _not_empty(parameter: str, joined: bool = False) -> Node:
    value: Any = {"Fn::Join": ["", ref(parameter)]} if joined else ref(parameter)
    return {"Fn::Not": [{"Fn::Equals": ["", value]}]}


def _conditions() -> Node:
    return {
        "HasTrustedAccounts": _not_empty("TrustedAccounts", joined=True),
        "HasTrustedAccountsForLookup": _not_empty("TrustedAccountsForLookup", joined=True),
        "HasExecutionPolicies": _not_empty("CloudFormationExecutionPolicies", joined=True),
        "HasCustomBucketName": _not_empty("FileAssetsBucketName"),
        "HasCustomRepositoryName": _not_empty("ContainerAssetsRepositoryName"),
        "CreateNewKey": {"Fn::Equals": ["", ref("FileAssetsBucketKmsKeyId")]},
        "UseAwsManagedKey": {"Fn::Equals": [AWS_MANAGED_KEY, ref("FileAssetsBucketKmsKeyId")]},
        "BlockPublicAccess": {"Fn::Equals": ["true", ref("PublicAccessBlockConfiguration")]},
        "HasPermissionsBoundary": _not_empty("InputPermissionsBoundary"),
        "DenyExternalIdSessions": {"Fn::Equals": ["true", ref("DenyExternalId")]},
    }


# --- trust and permissions -----------------------------------------------------------------


def _trust_statement(principals: Any) -> Node:
    # An external id is how a third party confuses a deputy; CDK tools never pass one.
    return {
        "Effect": "Allow",
        "Principal": {"AWS": principals},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": if_("DenyExternalIdSessions", {"Null": {"sts:ExternalId": "true"}}),
    }


def trust_policy(lookup: bool = False) -> Node:
    """Own account, the trusted accounts, and for the lookup role the lookup-only ones."""
    statements: list[Any] = [
        _trust_statement(ref("AWS::AccountId")),
        if_("HasTrustedAccounts", _trust_statement(ref("TrustedAccounts"))),
    ]
    if lookup:
        statements.append(
            if_("HasTrustedAccountsForLookup", _trust_statement(ref("TrustedAccountsForLookup")))
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _boundary() -> Node:
    return if_(
        "HasPermissionsBoundary",
        sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${InputPermissionsBoundary}"),
    )


def _role(purpose: str, trust: Node, bootstrap_role: str | None = None, **extra: Any) -> Node:
    properties: Node = {
        "RoleName": physical(f"{purpose}-role"),
        "AssumeRolePolicyDocument": trust,
        "PermissionsBoundary": _boundary(),
        **extra,
    }
    if bootstrap_role:
        properties["Tags"] = [{"Key": "aws-cdk:bootstrap-role", "Value": bootstrap_role}]
    return {"Type": "AWS::IAM::Role", "Properties": properties}


def _policy(name: str, role: str, statements: list[Any]) -> Node:
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": physical(name),
            "Roles": [ref(role)],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        },
    }


def _allow(actions: list[str], resources: Any, condition: Node | None = None) -> Node:
    statement: Node = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


BUCKET_ARN: Node = {"Fn::GetAtt": ["StagingBucket", "Arn"]}
BUCKET_OBJECTS: Node = {"Fn::Join": ["", [BUCKET_ARN, "/*"]]}
KEY_ARN: Node = if_(
    "CreateNewKey",
    {"Fn::GetAtt": ["FileAssetsBucketEncryptionKey", "Arn"]},
    if_(
        "UseAwsManagedKey",
        sub("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/aws/s3"),
        ref("FileAssetsBucketKmsKeyId"),
    ),
)
OWN_ACCOUNT: Node = {"StringEquals": {"aws:ResourceAccount": ref("AWS::AccountId")}}
KEY_USE = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
]
OBJECT_READ = ["s3:GetObject*", "s3:GetBucket*", "s3:List*"]
OBJECT_WRITE = [*OBJECT_READ, "s3:Abort*", "s3:DeleteObject*", "s3:PutObject*"]


def _file_publishing() -> Node:
    # Only buckets of this account (contract v21): a deleted staging bucket whose name was
    # claimed elsewhere must not receive this account's assets.
    return _policy(
        "file-publishing-role-default-policy",
        "FilePublishingRole",
        [
            _allow(OBJECT_WRITE, [BUCKET_ARN, BUCKET_OBJECTS], OWN_ACCOUNT),
            _allow(KEY_USE, KEY_ARN),
        ],
    )


def _image_publishing() -> Node:
    repository = {"Fn::GetAtt": ["ContainerAssetsRepository", "Arn"]}
    push_pull = [
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:BatchCheckLayerAvailability",
        "ecr:DescribeRepositories",
        "ecr:DescribeImages",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ]
    return _policy(
        "image-publishing-role-default-policy",
        "ImagePublishingRole",
        [_allow(push_pull, repository), _allow(["ecr:GetAuthorizationToken"], "*")],
    )


STACK_WRITES = [
    "cloudformation:CreateChangeSet",
    "cloudformation:DeleteChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:CreateStack",
    "cloudformation:UpdateStack",
    "cloudformation:DeleteStack",
    "cloudformation:UpdateTerminationProtection",
    "cloudformation:RollbackStack",  # v23: cdk rollback
    "cloudformation:ContinueUpdateRollback",
    "cloudformation:CreateStackRefactor",  # v28: cdk refactor
    "cloudformation:ExecuteStackRefactor",
]


def _deploy_policy() -> Node:
    version = sub(
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
        ":parameter/cdk-bootstrap/${Qualifier}/version"
    )
    other_accounts = {"StringNotEquals": {"aws:ResourceAccount": ref("AWS::AccountId")}}
    return _policy(
        "deploy-role-default-policy",
        "DeploymentActionRole",
        [
            _allow(STACK_WRITES, "*"),
            _allow(["iam:PassRole"], {"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]}),
            _allow(OBJECT_READ, [BUCKET_ARN, BUCKET_OBJECTS]),
            _allow(["ssm:GetParameter", "ssm:GetParameters"], version),
            # Artifact buckets of CDK Pipelines live in the pipeline's account.
            _allow(OBJECT_WRITE, "*", other_accounts),
            _allow(
                KEY_USE,
                "*",
                {"StringEquals": {"kms:ViaService": sub("s3.${AWS::Region}.amazonaws.com")}},
            ),
        ],
    )


def _execution_policies() -> Node:
    # Explicit policies win; none and no trust means an account-local admin; none with trust
    # means nothing at all, so trusting an account never silently hands it admin rights.
    return if_(
        "HasExecutionPolicies",
        ref("CloudFormationExecutionPolicies"),
        if_("HasTrustedAccounts", NO_VALUE, [managed_policy("AdministratorAccess")]),
    )


def _roles() -> Node:
    cloudformation = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudformation.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    deny_decrypt = {
        "PolicyName": "LookupRoleNoDecrypt",
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}],
        },
    }
    return {
        "FilePublishingRole": _role("file-publishing", trust_policy(), "file-publishing"),
        "FilePublishingRoleDefaultPolicy": _file_publishing(),
        "ImagePublishingRole": _role("image-publishing", trust_policy(), "image-publishing"),
        "ImagePublishingRoleDefaultPolicy": _image_publishing(),
        "LookupRole": _role(
            "lookup",
            trust_policy(lookup=True),
            "lookup",
            ManagedPolicyArns=[managed_policy("ReadOnlyAccess")],
            Policies=[deny_decrypt],
        ),
        "DeploymentActionRole": _role(
            "deploy",
            trust_policy(),
            "deploy",
            ManagedPolicyArns=[managed_policy("AWSCloudFormationReadOnlyAccess")],
        ),
        "DeploymentActionRoleDefaultPolicy": _deploy_policy(),
        "CloudFormationExecutionRole": _role(
            "cfn-exec", cloudformation, ManagedPolicyArns=_execution_policies()
        ),
    }


# --- storage -----------------------------------------------------------------------------


def _key() -> Node:
    root = sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
    publisher = {"Fn::GetAtt": ["FilePublishingRole", "Arn"]}
    via_s3 = {
        "StringEquals": {
            "kms:CallerAccount": ref("AWS::AccountId"),
            "kms:ViaService": sub("s3.${AWS::Region}.amazonaws.com"),
        }
    }
    statements = [
        {"Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": KEY_USE, "Resource": "*",
         "Condition": via_s3},
        {"Effect": "Allow", "Principal": {"AWS": publisher}, "Action": KEY_USE, "Resource": "*"},
    ]  # fmt: skip
    return {
        "FileAssetsBucketEncryptionKey": {
            "Type": "AWS::KMS::Key",
            "Condition": "CreateNewKey",
            # Explicit (contract v26): the key goes with the stack, and old assets with it.
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "EnableKeyRotation": True,
                "KeyPolicy": {"Version": "2012-10-17", "Statement": statements},
            },
        },
        "FileAssetsBucketEncryptionKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Condition": "CreateNewKey",
            "Properties": {
                "AliasName": sub("alias/cdk-${Qualifier}-assets-key"),
                "TargetKeyId": ref("FileAssetsBucketEncryptionKey"),
            },
        },
    }


def _bucket() -> Node:
    encryption = {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": if_(
            "CreateNewKey",
            {"Fn::GetAtt": ["FileAssetsBucketEncryptionKey", "Arn"]},
            if_("UseAwsManagedKey", NO_VALUE, ref("FileAssetsBucketKmsKeyId")),
        ),
    }
    block_all = {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    lifecycle = [
        {
            "Id": "ExpireNoncurrentVersions",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": ref("NoncurrentVersionDays")},
        },
        {
            "Id": "AbortStaleMultipartUploads",
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
    ]
    name = if_("HasCustomBucketName", ref("FileAssetsBucketName"), physical("assets"))
    return {
        "Type": "AWS::S3::Bucket",
        # Assets of deployed stacks live here; losing them breaks rollbacks.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": name,
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": encryption, "BucketKeyEnabled": True}
                ]
            },
            "PublicAccessBlockConfiguration": if_("BlockPublicAccess", block_all),
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {"Rules": lifecycle},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        },
    }


def _bucket_policy() -> Node:
    tls_only = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [BUCKET_ARN, BUCKET_OBJECTS],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": ref("StagingBucket"),
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [tls_only]},
        },
    }


UNTAGGED_EXPIRY = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "Untagged images are never referenced by a deployed stack",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 365,
            },
            "action": {"type": "expire"},
        }
    ]
}


def _pull_for(service: str, source_arn: str) -> Node:
    return {
        "Sid": f"{service.split('.')[0].title().replace('-', '')}Pull",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        "Condition": {"StringLike": {"aws:SourceArn": sub(source_arn)}},
    }


def _repository() -> Node:
    # Lambda and EMR Serverless pull images as services, not as a role (contract v27).
    pull = [
        _pull_for(
            "lambda.amazonaws.com",
            "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*",
        ),
        _pull_for(
            "emr-serverless.amazonaws.com",
            "arn:${AWS::Partition}:emr-serverless:${AWS::Region}:${AWS::AccountId}:/applications/*",
        ),
    ]
    name = if_(
        "HasCustomRepositoryName",
        ref("ContainerAssetsRepositoryName"),
        physical("container-assets"),
    )
    return {
        "Type": "AWS::ECR::Repository",
        "Properties": {
            "RepositoryName": name,
            "ImageTagMutability": "IMMUTABLE",
            "LifecyclePolicy": {
                "LifecyclePolicyText": json.dumps(UNTAGGED_EXPIRY, separators=(",", ":"))
            },
            "RepositoryPolicyText": {"Version": "2012-10-17", "Statement": pull},
        },
    }


def _version_parameter() -> Node:
    return {
        "Type": "AWS::SSM::Parameter",
        "Properties": {
            "Name": sub("/cdk-bootstrap/${Qualifier}/version"),
            "Type": "String",
            "Value": str(BOOTSTRAP_VERSION),
            "Description": sub("CDK bootstrap contract version (${BootstrapVariant})"),
        },
    }


def _outputs() -> Node:
    return {
        "BucketName": {"Description": "Staging bucket for file assets.",
                       "Value": ref("StagingBucket")},
        "BucketDomainName": {"Description": "Regional domain name of the staging bucket.",
                             "Value": {"Fn::GetAtt": ["StagingBucket", "RegionalDomainName"]}},
        "ImageRepositoryName": {"Description": "Repository for container image assets.",
                                "Value": ref("ContainerAssetsRepository")},
        # A literal on purpose: reading the parameter's Value back is eventually consistent.
        "BootstrapVersion": {"Description": "The bootstrap contract version.",
                             "Value": str(BOOTSTRAP_VERSION)},
    }  # fmt: skip


def render() -> Node:
    """The whole template as a dict; every option is a parameter, nothing is baked in."""
    resources: Node = {
        **_key(),
        "StagingBucket": _bucket(),
        "StagingBucketPolicy": _bucket_policy(),
        "ContainerAssetsRepository": _repository(),
        **_roles(),
        "CdkBootstrapVersion": _version_parameter(),
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            f"Gantry CDK bootstrap environment (bootstrap contract version {BOOTSTRAP_VERSION})"
        ),
        "Parameters": _parameters(),
        "Conditions": _conditions(),
        "Resources": resources,
        "Outputs": _outputs(),
    }


def canonical_json(template: Node) -> str:
    """The text sent to CloudFormation and hashed: stable key order, compact."""
    return json.dumps(template, sort_keys=True, separators=(",", ":"))


def template_hash(template: Node) -> str:
    return hashlib.sha256(canonical_json(template).encode()).hexdigest()


class _PlainDumper(yaml.SafeDumper):
    """No anchors and aliases: CloudFormation refuses them, and shared nodes are common here."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(template: Node) -> str:
    return yaml.dump(template, Dumper=_PlainDumper, sort_keys=False, width=100)
