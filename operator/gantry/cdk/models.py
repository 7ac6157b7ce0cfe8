"""CdkBootstrap spec and status. The CRD schema, with its CEL rules, is generated from here."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field

from gantry.core.crd import KindInfo
from gantry.core.models import (
    AwsTags,
    DeletionPolicy,
    GantryModel,
    cel,
    immutable,
    validations,
)

ACCOUNT_PATTERN = r"^\d{12}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"
QUALIFIER_PATTERN = r"^[a-z0-9-]{1,10}$"
POLICY_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/.+$"
APPROVE_ANNOTATION = "gantry.dev/approve-change-set"
CONTINUE_ROLLBACK_ANNOTATION = "gantry.dev/continue-update-rollback"


class KmsMode(StrEnum):
    AWS_MANAGED = "AwsManaged"
    CREATE = "Create"
    EXISTING = "Existing"


class TemplateSource(StrEnum):
    BUILTIN = "Builtin"
    CONFIG_MAP = "ConfigMap"


class ChangeSetExecution(StrEnum):
    AUTO = "Auto"
    MANUAL = "Manual"


class Trust(GantryModel):
    """Accounts whose principals may use this environment's roles."""

    accounts: list[str] = Field(
        default_factory=list,
        description="Accounts that may deploy here and publish assets (cdk --trust).",
        max_length=100,
        json_schema_extra={"items": {"type": "string", "pattern": ACCOUNT_PATTERN}},
    )
    lookup_accounts: list[str] = Field(
        default_factory=list,
        description="Accounts that may only look up context here (cdk --trust-for-lookup).",
        max_length=100,
        json_schema_extra={"items": {"type": "string", "pattern": ACCOUNT_PATTERN}},
    )
    deny_external_id: bool = Field(
        default=True, description="Refuse role sessions that pass an external id."
    )


class Kms(GantryModel):
    """The key encrypting the staging bucket."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "(has(self.mode) && self.mode == 'Existing') == has(self.keyArn)",
                "kms.keyArn is required exactly when kms.mode is Existing",
            )
        )
    )

    mode: KmsMode = Field(
        default=KmsMode.AWS_MANAGED,
        description="AwsManaged (the aws/s3 key), Create (a key in the stack) or Existing.",
    )
    key_arn: str | None = Field(
        default=None,
        description="ARN of an existing KMS key (mode Existing).",
        pattern=r"^arn:aws[a-z-]*:kms:.+$",
        max_length=2048,
    )


class AssetsBucket(GantryModel):
    """The staging bucket for file assets."""

    name: str | None = Field(
        default=None,
        description="Bucket name; default cdk-<qualifier>-assets-<account>-<region>. "
        "With several regions the name must be unique per region, so leave it unset.",
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
    )
    kms: Kms = Field(default_factory=Kms, description="Encryption key.")
    block_public_access: bool = Field(default=True, description="Block all public access.")
    noncurrent_version_days: int = Field(
        default=30, ge=1, le=3650, description="Days a replaced asset version is kept."
    )


class ContainerRepository(GantryModel):
    """The repository for container image assets."""

    name: str | None = Field(
        default=None,
        description="Repository name; default cdk-<qualifier>-container-assets-<account>-<region>.",
        pattern=r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$",
        max_length=256,
    )


class PermissionsBoundary(GantryModel):
    """A customer managed policy applied as permissions boundary to every role."""

    policy_name: str = Field(
        description="Policy name (a path prefix is allowed).",
        pattern=r"^[\w+=,.@/-]{1,128}$",
    )


class ConfigMapRef(GantryModel):
    name: str = Field(description="ConfigMap in the object's namespace.", max_length=253)
    key: str = Field(default="template.yaml", description="Key holding the template.")


class Template(GantryModel):
    """Which template to deploy: Gantry's own, or a user's held in a ConfigMap."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "(has(self.source) && self.source == 'ConfigMap') == has(self.configMapRef)",
                "template.configMapRef is required exactly when template.source is ConfigMap",
            )
        )
    )

    source: TemplateSource = Field(
        default=TemplateSource.BUILTIN, description="Builtin or ConfigMap."
    )
    config_map_ref: ConfigMapRef | None = Field(
        default=None,
        description="The ConfigMap holding a template (e.g. `cdk bootstrap --show-template`).",
    )


class CdkBootstrapSpec(GantryModel):
    """CdkBootstrap keeps AWS CDK bootstrap stacks in one account, one per region."""

    regions: list[str] = Field(
        description="Regions to bootstrap; one CloudFormation stack each.",
        min_length=1,
        max_length=30,
        json_schema_extra={
            "items": {"type": "string", "pattern": REGION_PATTERN, "maxLength": 32},
            "x-kubernetes-list-type": "set",
        },
    )
    qualifier: str = Field(
        default="hnb659fds",
        description="Embedded in every resource name; apps select it. Immutable.",
        pattern=QUALIFIER_PATTERN,
    )
    stack_name: str = Field(
        default="CDKToolkit",
        description="Stack name, the same in every region.",
        pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$",
    )
    trust: Trust = Field(default_factory=Trust, description="Trusted accounts.")
    cloud_formation_execution_policies: list[str] | None = Field(
        default=None,
        description="Managed policy ARNs for the CloudFormation execution role.",
        max_length=20,
        json_schema_extra={"items": {"type": "string", "pattern": POLICY_ARN_PATTERN}},
    )
    allow_administrator_access: bool = Field(
        default=False,
        description="Give the execution role AdministratorAccess; needed when no policies "
        "are listed, refused together with trusted accounts.",
    )
    assets_bucket: AssetsBucket = Field(default_factory=AssetsBucket, description="Staging bucket.")
    container_repository: ContainerRepository = Field(
        default_factory=ContainerRepository, description="Container assets repository."
    )
    permissions_boundary: PermissionsBoundary | None = Field(
        default=None, description="Permissions boundary for every role."
    )
    termination_protection: bool = Field(
        default=True, description="Protect the stacks against deletion."
    )
    tags: AwsTags = Field(
        default=None, description="Stack tags; CloudFormation copies them to the resources."
    )
    template: Template = Field(default_factory=Template, description="Which template.")
    change_set_execution: ChangeSetExecution = Field(
        default=ChangeSetExecution.AUTO,
        description=f"Auto executes change sets; Manual leaves them for review until the "
        f"annotation {APPROVE_ANNOTATION} names the change set.",
    )
    allow_downgrade: bool = Field(
        default=False, description="Deploy a template older than the deployed version."
    )
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.RETAIN,
        description="Retain the stacks in AWS, or Delete them (an emptied staging bucket too).",
    )


class ChangeSummary(GantryModel):
    action: str = Field(description="Add, Modify, Remove...")
    logical_id: str = Field(description="Logical resource id.")
    resource_type: str = Field(description="Resource type.")
    replacement: str | None = Field(default=None, description="True, False or Conditional.")


class PendingChangeSet(GantryModel):
    name: str = Field(description="Change set name; put it in the approval annotation.")
    id: str = Field(description="Change set ARN.")
    changes: list[ChangeSummary] = Field(default_factory=list, description="What it changes.")


class Resources(GantryModel):
    bucket_name: str | None = Field(default=None, description="Staging bucket.")
    repository_name: str | None = Field(default=None, description="Container repository.")
    version_parameter: str | None = Field(default=None, description="SSM version parameter.")
    roles: list[str] = Field(default_factory=list, description="The five role names.")


class RegionStatus(GantryModel):
    region: str = Field(description="Region.")
    state: str | None = Field(
        default=None, description="Ready, Progressing, Pending (approval), Blocked or Error."
    )
    message: str | None = Field(default=None, description="What happened and what to do.")
    stack_id: str | None = Field(default=None, description="Stack ARN.")
    stack_status: str | None = Field(default=None, description="CloudFormation stack status.")
    template_hash: str | None = Field(default=None, description="sha256 of the template.")
    applied: str | None = Field(
        default=None, description="Fingerprint of template, parameters and tags last applied."
    )
    executed: str | None = Field(
        default=None, description="Fingerprint of the change set last executed."
    )
    failed: str | None = Field(
        default=None, description="Fingerprint CloudFormation rolled back; not retried."
    )
    bootstrap_version_output: int | None = Field(
        default=None, description="Version from the BootstrapVersion output."
    )
    bootstrap_version_parameter: int | None = Field(
        default=None, description="Version from the SSM parameter."
    )
    version_mismatch: bool | None = Field(
        default=None, description="The output and the parameter disagree."
    )
    resources: Resources | None = Field(default=None, description="Physical names.")
    pending_change_set: PendingChangeSet | None = Field(
        default=None, description="A change set awaiting approval."
    )
    termination_protection: str | None = Field(
        default=None, description="Applied, or why it could not be."
    )
    drift: list[str] = Field(default_factory=list, description="Drift found on the last pass.")


class CdkBootstrapStatus(GantryModel):
    qualifier: str | None = Field(default=None, description="The qualifier in use.")
    account: str | None = Field(default=None, description="The AWS account bootstrapped.")
    bootstrap_version: int | None = Field(default=None, description="The template's version.")
    variant: str | None = Field(default=None, description="The template's variant.")
    trusted_accounts: list[str] = Field(default_factory=list, description="Effective trust.")
    lookup_accounts: list[str] = Field(default_factory=list, description="Lookup-only trust.")
    regions: list[RegionStatus] = Field(default_factory=list, description="One per region.")


KIND = KindInfo(
    kind="CdkBootstrap",
    plural="cdkbootstraps",
    short_names=("cdkboot",),
    spec=CdkBootstrapSpec,
    status=CdkBootstrapStatus,
    identifier_column=("Version", ".status.bootstrapVersion"),
    wide_columns=(("Qualifier", "string", ".status.qualifier"),),
    spec_rules=(
        immutable("qualifier", default=CdkBootstrapSpec.model_fields["qualifier"].default),
        cel(
            "!has(self.trust) || !has(self.trust.accounts) || size(self.trust.accounts) == 0 "
            "|| (has(self.cloudFormationExecutionPolicies) && "
            "size(self.cloudFormationExecutionPolicies) > 0)",
            "cloudFormationExecutionPolicies is required when trust.accounts is not empty",
            fieldPath=".cloudFormationExecutionPolicies",
        ),
        cel(
            "(has(self.cloudFormationExecutionPolicies) && "
            "size(self.cloudFormationExecutionPolicies) > 0) || "
            "(has(self.allowAdministratorAccess) && self.allowAdministratorAccess)",
            "list cloudFormationExecutionPolicies, or (when no account is trusted) set "
            "allowAdministratorAccess: true",
            fieldPath=".allowAdministratorAccess",
        ),
        cel(
            "!has(self.assetsBucket) || !has(self.assetsBucket.name) || size(self.regions) == 1",
            "assetsBucket.name is global: with several regions leave it unset",
            fieldPath=".assetsBucket.name",
        ),
    ),
)
