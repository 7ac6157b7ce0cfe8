"""EcrRepository spec and status. The CRD schema, with its CEL rules, is generated from here."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema

from gantry.core.crd import KindInfo
from gantry.core.models import (
    AwsTags,
    DeletionPolicy,
    GantryModel,
    cel,
    immutable,
    immutable_name,
    region_field,
    validations,
)

# ECR's repository name grammar (the OCI distribution one): lower-case components joined by
# `.`, `_`, `__` or one or more `-`, separated by `/`. Doubled separators are valid.
REPOSITORY_NAME_PATTERN = (
    r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$"
)
MAX_RULES = 50
MAX_STATEMENTS = 50

AnyJson = Annotated[
    Any,
    WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True}),
]


class TagMutability(StrEnum):
    MUTABLE = "MUTABLE"
    IMMUTABLE = "IMMUTABLE"
    IMMUTABLE_WITH_EXCLUSION = "IMMUTABLE_WITH_EXCLUSION"
    MUTABLE_WITH_EXCLUSION = "MUTABLE_WITH_EXCLUSION"


class EncryptionType(StrEnum):
    AES256 = "AES256"
    KMS = "KMS"
    KMS_DSSE = "KMS_DSSE"


class TagPolicy(StrEnum):
    ADDITIVE = "Additive"
    AUTHORITATIVE = "Authoritative"


class Adoption(StrEnum):
    IF_OWNED = "IfOwned"
    ADOPT = "Adopt"


class Encryption(GantryModel):
    """Encryption at rest. ECR accepts it only when the repository is created."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.kmsKey) || (has(self.type) && self.type != 'AES256')",
                "kmsKey applies to type KMS or KMS_DSSE only; remove it, or set one of those "
                "types (AES256, the default, uses keys S3 manages)",
                fieldPath=".kmsKey",
            )
        )
    )

    type: EncryptionType = Field(
        default=EncryptionType.AES256,
        description="AES256 (S3-managed keys), KMS or KMS_DSSE (AWS KMS keys).",
    )
    kms_key: str | None = Field(
        default=None,
        description="KMS key ARN or id for KMS and KMS_DSSE; the AWS-managed ECR key if unset.",
        max_length=2048,
    )


# ECR refuses these two rule shapes; the raw JSON form is checked with the same words.
COUNT_UNIT_WITH_IMAGE_COUNT = "an imageCountMoreThan rule counts images, not days: remove countUnit"
SINCE_PUSHED_WITHOUT_UNIT = "a sinceImagePushed rule needs countUnit: days"


class Selection(GantryModel):
    """Which images a lifecycle rule applies to. Keys newer than this schema are kept."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "x-kubernetes-preserve-unknown-fields": True,
            **validations(
                cel(
                    "self.tagStatus != 'tagged' || has(self.tagPrefixList) || "
                    "has(self.tagPatternList)",
                    "a rule with tagStatus tagged needs tagPrefixList or tagPatternList",
                ),
                cel(
                    "self.countType != 'imageCountMoreThan' || !has(self.countUnit)",
                    COUNT_UNIT_WITH_IMAGE_COUNT,
                ),
                cel(
                    "self.countType != 'sinceImagePushed' || has(self.countUnit)",
                    SINCE_PUSHED_WITHOUT_UNIT,
                ),
            ),
        },
    )

    tag_status: str = Field(
        description="tagged, untagged or any.",
        json_schema_extra={"enum": ["tagged", "untagged", "any"]},
    )
    tag_prefix_list: list[str] | None = Field(
        default=None, description="Tag prefixes (tagged rules).", max_length=100
    )
    tag_pattern_list: list[str] | None = Field(
        default=None, description="Tag wildcard patterns (tagged rules).", max_length=100
    )
    count_type: str = Field(
        description="imageCountMoreThan, sinceImagePushed, or newer AWS count types.",
        max_length=64,
    )
    count_unit: str | None = Field(default=None, description="days, for time counts.")
    count_number: int = Field(description="The count or number of days.", ge=1)


class LifecycleAction(GantryModel):
    """What a rule does with the selected images (expire, or newer AWS actions)."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )

    type: str = Field(default="expire", description="expire, or a newer AWS action type.")


class LifecycleRule(GantryModel):
    """One lifecycle rule, in ECR's own grammar."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )

    rule_priority: int = Field(description="Unique; lower numbers apply first.", ge=1, le=999)
    description: str | None = Field(default=None, description="Free text.", max_length=256)
    selection: Selection = Field(description="Which images the rule applies to.")
    action: LifecycleAction = Field(
        default_factory=LifecycleAction, description="What happens to them."
    )


class LifecyclePolicy(GantryModel):
    """A lifecycle policy, typed (`rules`) or raw (`json`), not both."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.rules) != has(self.json)",
                "set exactly one of lifecyclePolicy.rules and lifecyclePolicy.json",
            ),
            cel(
                "!has(self.rules) || self.rules.all(r, "
                "self.rules.exists_one(o, o.rulePriority == r.rulePriority))",
                "lifecyclePolicy.rules: rulePriority values must be unique",
            ),
            cel(
                "!has(self.rules) || self.rules.all(r, r.selection.tagStatus != 'any' || "
                "self.rules.all(o, o.rulePriority <= r.rulePriority))",
                "lifecyclePolicy.rules: a rule with tagStatus any must have the highest "
                "rulePriority",
            ),
        )
    )

    rules: list[LifecycleRule] | None = Field(
        default=None, description="Typed rules.", min_length=1, max_length=MAX_RULES
    )
    json_: str | None = Field(
        default=None,
        alias="json",
        description="The policy as ECR's JSON text.",
        max_length=30720,
    )


class Statement(GantryModel):
    """One repository policy statement, in IAM's grammar."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )

    sid: str | None = Field(default=None, alias="Sid", description="Statement id.")
    effect: str = Field(
        alias="Effect",
        description="Allow or Deny.",
        json_schema_extra={"enum": ["Allow", "Deny"]},
    )
    principal: AnyJson = Field(default=None, alias="Principal", description="Who.")
    action: AnyJson = Field(default=None, alias="Action", description="ECR actions.")
    condition: AnyJson = Field(default=None, alias="Condition", description="IAM conditions.")


class RepositoryPolicy(GantryModel):
    """A repository policy, typed (`statements`) or raw (`json`), not both."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.statements) != has(self.json)",
                "set exactly one of repositoryPolicy.statements and repositoryPolicy.json",
            )
        )
    )

    statements: list[Statement] | None = Field(
        default=None, description="Typed statements.", min_length=1, max_length=MAX_STATEMENTS
    )
    json_: str | None = Field(
        default=None,
        alias="json",
        description="The policy as IAM JSON text.",
        max_length=10240,
    )


class EcrRepositorySpec(GantryModel):
    """EcrRepository declares one Amazon ECR private repository."""

    repository_name: str | None = Field(
        default=None,
        description="Repository name; defaults to metadata.name. Immutable.",
        min_length=2,
        max_length=256,
        pattern=REPOSITORY_NAME_PATTERN,
    )
    region: str | None = region_field()
    image_tag_mutability: TagMutability = Field(
        default=TagMutability.MUTABLE,
        description="Whether tags may be overwritten; *_WITH_EXCLUSION modes take filters.",
    )
    image_tag_mutability_exclusion_filters: (
        list[Annotated[str, Field(pattern=r"^[0-9a-zA-Z._*-]{1,128}$")]] | None
    ) = Field(
        default=None,
        description="1 to 5 wildcard tag filters exempt from the mutability setting.",
        min_length=1,
        max_length=5,
    )
    scan_on_push: bool = Field(default=False, description="Scan images when they are pushed.")
    encryption: Encryption | None = Field(
        default=None,
        description="Encryption at rest; set at creation only. Unset: not checked.",
    )
    lifecycle_policy: LifecyclePolicy | None = Field(
        default=None,
        description="Lifecycle policy. Removing it deletes the policy only if Gantry set it.",
    )
    repository_policy: RepositoryPolicy | None = Field(
        default=None,
        description="Repository policy. Removing it deletes the policy only if Gantry set it.",
    )
    tags: AwsTags = Field(
        default=None, description="AWS tags; Gantry's ownership tags are always added."
    )
    tag_policy: TagPolicy = Field(
        default=TagPolicy.ADDITIVE,
        description="Additive touches declared keys only; Authoritative removes other tags.",
    )
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.DELETE,
        description="Delete the repository with the object, or Retain it in AWS.",
    )
    force: bool = Field(
        default=False, description="Delete even when the repository still holds images."
    )
    adoption: Adoption = Field(
        default=Adoption.IF_OWNED,
        description=(
            "IfOwned adopts an existing repository only when its ownership tags name this "
            "object; Adopt takes over an unowned repository of the same name and tags it."
        ),
    )


class ImageSummary(GantryModel):
    tag: str | None = Field(default=None, description="Image tag.")
    digest: str = Field(description="Image digest.")
    pushed_at: str | None = Field(default=None, description="When it was pushed.")


class Images(GantryModel):
    count: int = Field(default=0, description="Images in the repository.")
    recent: list[ImageSummary] = Field(
        default_factory=list, description="The most recently pushed images."
    )


class DriftRepair(GantryModel):
    field: str = Field(description="The setting restored.")
    old_value: str = Field(description="The value found in AWS.")
    new_value: str = Field(description="The value restored from the spec.")
    time: str = Field(description="When.")


class EcrRepositoryStatus(GantryModel):
    repository_uri: str | None = Field(default=None, description="The URI to push and pull.")
    arn: str | None = Field(default=None, description="Repository ARN.")
    registry_id: str | None = Field(default=None, description="The registry (account) id.")
    region: str | None = Field(default=None, description="Region the repository lives in.")
    created_at: str | None = Field(default=None, description="When ECR created it.")
    images: Images | None = Field(default=None, description="Image summary.")
    lifecycle_policy_managed: bool | None = Field(
        default=None, description="Gantry set the lifecycle policy (so may delete it)."
    )
    repository_policy_managed: bool | None = Field(
        default=None, description="Gantry set the repository policy (so may delete it)."
    )
    last_full_check: str | None = Field(
        default=None,
        description="When tags, policies and images were last read (they are checked less "
        "often than the repository's own settings).",
    )
    last_drift_repair: DriftRepair | None = Field(
        default=None, description="The last setting restored after a change outside Gantry."
    )


KIND = KindInfo(
    kind="EcrRepository",
    plural="ecrrepositories",
    short_names=("ecrrepo",),
    spec=EcrRepositorySpec,
    status=EcrRepositoryStatus,
    identifier_column=("URI", ".status.repositoryUri"),
    wide_columns=(("ARN", "string", ".status.arn"),),
    object_rules=(immutable_name("repositoryName"),),
    spec_rules=(
        immutable("encryption"),
        cel(
            "(has(self.imageTagMutability) && "
            "self.imageTagMutability.endsWith('_WITH_EXCLUSION')) == "
            "has(self.imageTagMutabilityExclusionFilters)",
            "imageTagMutabilityExclusionFilters is required exactly when imageTagMutability "
            "ends in _WITH_EXCLUSION",
        ),
    ),
)
