"""EcrPullSecret and ClusterEcrPullSecret spec and status; the CRDs are generated from here.

Both kinds share the registry fields and the Secret's name; the namespaced kind adds the
service accounts to patch, the cluster-scoped kind the namespaces to serve. Defaults live
here, not in the CRD, so a GitOps tool never sees a field it did not write.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from gantry.core.crd import KindInfo
from gantry.core.models import GantryModel, cel, immutable_name, validations

# DNS-1123 subdomain (Secret and ServiceAccount names) and label (Namespace names).
SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# A Go-style duration in whole hours, minutes and seconds, as CEL's duration() reads it.
DURATION = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
MAX_SERVICE_ACCOUNTS = 50
MAX_NAMESPACES = 500

SecretName = Annotated[str, Field(pattern=SUBDOMAIN, max_length=253)]
NamespaceName = Annotated[str, Field(pattern=LABEL, max_length=63)]
# A label key and value as Kubernetes validates them: an optional DNS-subdomain prefix and a
# slash, then a name of up to 63 characters; a value is empty or such a name.
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE, max_length=63)]


class Registry(GantryModel):
    """Which ECR private registry the Secret logs in to."""

    region: str | None = Field(
        default=None,
        description=(
            "AWS region of the registry. Defaults to the namespace's bound region (annotation "
            "gantry.dev/aws-region, EcrPullSecret only), then the operator's default region."
        ),
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
        max_length=32,
    )
    account_id: str | None = Field(
        default=None,
        description=(
            "12-digit account id of the registry; defaults to the account of the identity "
            "Gantry acts as. The identity must be allowed to pull from it."
        ),
        pattern=r"^[0-9]{12}$",
    )


class PullSecretSpec(GantryModel):
    """What both kinds share: the registry, the Secret's name and when to refresh."""

    registry: Registry = Field(
        default_factory=Registry,
        description="The registry to log in to; unset: the identity's own account and region.",
    )
    secret_name: str | None = Field(
        default=None,
        description=(
            "Name of the kubernetes.io/dockerconfigjson Secret to write; defaults to "
            "metadata.name. Immutable."
        ),
        pattern=SUBDOMAIN,
        max_length=253,
    )
    refresh_before: str | None = Field(
        default=None,
        description=(
            "Refresh the token this long before it expires (a duration such as 2h or 90m, "
            "1m to 11h). Unset: at half of the token's remaining lifetime."
        ),
        pattern=DURATION,
        min_length=2,
        max_length=16,
        json_schema_extra=validations(
            cel(
                "duration(self) >= duration('1m') && duration(self) <= duration('11h')",
                "refreshBefore must be between 1m and 11h (ECR tokens last 12h)",
            )
        ),
    )

    @property
    def region(self) -> str | None:
        """The region the shared runner resolves the AWS identity for."""
        return self.registry.region


class EcrPullSecretSpec(PullSecretSpec):
    """EcrPullSecret keeps an ECR image pull Secret fresh in its own namespace."""

    service_accounts: list[SecretName] | None = Field(
        default=None,
        description=(
            "Service accounts in this namespace whose imagePullSecrets get the Secret; the "
            "entry is removed again when a name leaves this list or the object is deleted."
        ),
        max_length=MAX_SERVICE_ACCOUNTS,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class SelectorRequirement(GantryModel):
    """One label requirement, as in a Kubernetes label selector."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "(self.operator == 'In' || self.operator == 'NotIn') == "
                "(has(self.values) && size(self.values) > 0)",
                "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
            )
        )
    )

    key: str = Field(description="The label key.", pattern=LABEL_KEY, max_length=317)
    operator: SelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[LabelValue] | None = Field(
        default=None, description="Label values, for In and NotIn.", max_length=100
    )


class NamespaceSelector(GantryModel):
    """A label selector over Namespaces; an empty selector matches every namespace."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.matchLabels) || self.matchLabels.all(k, k.matches("
                + repr(LABEL_KEY)
                + ") && size(k) <= 317)",
                "matchLabels keys must be label keys: an optional DNS prefix and '/', then "
                "up to 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric",
                fieldPath=".matchLabels",
            )
        )
    )

    match_labels: dict[str, LabelValue] | None = Field(
        default=None,
        description="Labels a namespace must carry, all of them.",
        max_length=20,
    )
    match_expressions: list[SelectorRequirement] | None = Field(
        default=None,
        description="Requirements a namespace's labels must meet, all of them.",
        max_length=20,
    )


class ClusterEcrPullSecretSpec(PullSecretSpec):
    """ClusterEcrPullSecret keeps an ECR image pull Secret fresh in every matching namespace."""

    namespace_selector: NamespaceSelector | None = Field(
        default=None,
        description=(
            "Serve the namespaces whose labels match; {} matches every namespace. Combined "
            "with namespaces, a namespace matching either is served."
        ),
    )
    namespaces: list[NamespaceName] | None = Field(
        default=None,
        description="Serve these namespaces by name (they need not exist yet).",
        max_length=MAX_NAMESPACES,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class PullSecretStatus(GantryModel):
    registry: str | None = Field(default=None, description="The registry endpoint logged in to.")
    secret_name: str | None = Field(default=None, description="The Secret written.")
    expires_at: str | None = Field(default=None, description="When the current token expires.")
    last_refresh_time: str | None = Field(
        default=None, description="When the current token was fetched."
    )
    next_refresh_time: str | None = Field(
        default=None, description="When the token will be fetched again."
    )
    conflicts: list[str] | None = Field(
        default=None,
        description=(
            "Namespaces holding a Secret of the same name that Gantry does not own; those "
            "Secrets are left untouched."
        ),
    )


class EcrPullSecretStatus(PullSecretStatus):
    service_accounts: list[str] | None = Field(
        default=None, description="Service accounts whose imagePullSecrets name the Secret."
    )


class ClusterEcrPullSecretStatus(PullSecretStatus):
    namespaces: list[str] | None = Field(
        default=None, description="Namespaces the Secret is written to."
    )
    namespace_count: int | None = Field(default=None, description="How many namespaces.")


KIND = KindInfo(
    kind="EcrPullSecret",
    plural="ecrpullsecrets",
    short_names=("ecrpull",),
    spec=EcrPullSecretSpec,
    status=EcrPullSecretStatus,
    identifier_column=("Secret", ".status.secretName"),
    wide_columns=(
        ("Expires", "string", ".status.expiresAt"),
        ("Registry", "string", ".status.registry"),
    ),
    object_rules=(immutable_name("secretName"),),
)

CLUSTER_KIND = KindInfo(
    kind="ClusterEcrPullSecret",
    plural="clusterecrpullsecrets",
    short_names=("cecrpull",),
    spec=ClusterEcrPullSecretSpec,
    status=ClusterEcrPullSecretStatus,
    scope="Cluster",
    identifier_column=("Secret", ".status.secretName"),
    wide_columns=(
        ("Namespaces", "integer", ".status.namespaceCount"),
        ("Expires", "string", ".status.expiresAt"),
        ("Registry", "string", ".status.registry"),
    ),
    object_rules=(immutable_name("secretName"),),
    spec_rules=(
        cel(
            "has(self.namespaceSelector) || has(self.namespaces)",
            "set namespaceSelector, namespaces or both",
        ),
    ),
)
