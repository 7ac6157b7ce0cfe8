"""Pure decisions for CdkBootstrap: desired parameters, stack states, versions, drift.

Called by `reconcile.py` with what `aws.py` read; no I/O and no kopf, so every rule here is
tested with plain data. Templates are handled as dicts: a user's YAML (CloudFormation short
tags included) is loaded here, checked for the bootstrap contract, and re-sent as JSON, so the
hash of what we send and of what CloudFormation echoes back compare equal.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from gantry.cdk import template as builtin
from gantry.cdk.models import CdkBootstrapSpec, KmsMode
from gantry.core.errors import Terminal
from gantry.core.ownership import OWNER_TAG, Owner


class StackState(StrEnum):
    ABSENT = "Absent"
    HEALTHY = "Healthy"
    IN_PROGRESS = "InProgress"
    RECREATE = "Recreate"  # a create that never finished: delete it and start again
    ROLLBACK_FAILED = "RollbackFailed"  # a person must continue the rollback
    FAILED = "Failed"


HEALTHY = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
RECREATE = {"ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"}


def stack_state(status: str | None) -> StackState:
    if status is None or status == "DELETE_COMPLETE":
        return StackState.ABSENT
    if status in HEALTHY:
        return StackState.HEALTHY
    if status in RECREATE:
        return StackState.RECREATE
    if status == "UPDATE_ROLLBACK_FAILED":
        return StackState.ROLLBACK_FAILED
    if status.endswith("_IN_PROGRESS"):
        return StackState.IN_PROGRESS
    return StackState.FAILED


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _kms_value(spec: CdkBootstrapSpec) -> str:
    kms = spec.assets_bucket.kms
    if kms.mode == KmsMode.CREATE:
        return ""
    if kms.mode == KmsMode.EXISTING:
        return kms.key_arn or ""
    return builtin.AWS_MANAGED_KEY


def _execution_policies(spec: CdkBootstrapSpec, region: str) -> list[str]:
    # Always explicit: the template's "empty means admin" inference is for humans exporting
    # it; an object states what it wants (CEL refuses neither-nor).
    if spec.cloud_formation_execution_policies:
        return list(spec.cloud_formation_execution_policies)
    if spec.allow_administrator_access and not spec.trust.accounts:
        return [f"arn:{partition(region)}:iam::aws:policy/AdministratorAccess"]
    return []


def parameter_values(spec: CdkBootstrapSpec, region: str) -> dict[str, str]:
    """Every contract parameter with the value the spec asks for."""
    return {
        "Qualifier": spec.qualifier,
        "TrustedAccounts": ",".join(spec.trust.accounts),
        "TrustedAccountsForLookup": ",".join(spec.trust.lookup_accounts),
        "CloudFormationExecutionPolicies": ",".join(_execution_policies(spec, region)),
        "FileAssetsBucketName": spec.assets_bucket.name or "",
        "FileAssetsBucketKmsKeyId": _kms_value(spec),
        "ContainerAssetsRepositoryName": spec.container_repository.name or "",
        "PublicAccessBlockConfiguration": str(spec.assets_bucket.block_public_access).lower(),
        "InputPermissionsBoundary": (
            spec.permissions_boundary.policy_name if spec.permissions_boundary else ""
        ),
        "DenyExternalId": str(spec.trust.deny_external_id).lower(),
        "NoncurrentVersionDays": str(spec.assets_bucket.noncurrent_version_days),
    }


# A value a template may leave undeclared: it asks for nothing beyond the template's own.
_NEUTRAL = {
    "PublicAccessBlockConfiguration": "true",
    "DenyExternalId": "true",
    "NoncurrentVersionDays": "30",
    "FileAssetsBucketKmsKeyId": builtin.AWS_MANAGED_KEY,
}


def parameters_for(template: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """The values to send to a template: every one it declares. A value it does not declare
    but the spec asks for makes it unfit (Terminal), as CloudFormation would refuse it."""
    declared = set((template.get("Parameters") or {}).keys())
    missing = [
        key for key, value in values.items()
        if key not in declared and value not in ("", _NEUTRAL.get(key))
    ]  # fmt: skip
    if missing:
        raise Terminal(
            "InvalidTemplate",
            f"the template does not declare parameter(s) {', '.join(sorted(missing))} that "
            "the spec sets; use a template that declares them or drop those settings",
        )
    return {key: value for key, value in values.items() if key in declared}


def stack_tags(spec: CdkBootstrapSpec, owner: Owner) -> dict[str, str]:
    return {**(spec.tags or {}), **owner.tags()}


def fingerprint(template_hash: str, parameters: dict[str, str], tags: dict[str, str]) -> str:
    """What a deploy is made of; equal fingerprints mean nothing to deploy."""
    text = json.dumps([template_hash, parameters, tags], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def change_set_name(print_: str) -> str:
    return f"gantry-{print_[:16]}"


def is_ours(stack: dict[str, Any], owner: Owner, known_stack_id: str | None) -> bool:
    tags = {t["Key"]: t["Value"] for t in stack.get("Tags") or []}
    return tags.get(OWNER_TAG) == owner.value or stack.get("StackId") == known_stack_id


def describe_foreign(stack: dict[str, Any]) -> str:
    """Who probably made a stack that is not ours, for the Blocked message."""
    tags = {t["Key"]: t["Value"] for t in stack.get("Tags") or []}
    params = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters") or []}
    if OWNER_TAG in tags:
        return f"managed by {tags[OWNER_TAG]}"
    if "stacksets-exec" in str(stack.get("StackName", "")) or "StackSet" in str(
        stack.get("Description", "")
    ):
        return "made by CloudFormation StackSets"
    variant = params.get("BootstrapVariant")
    return f"bootstrap variant {variant!r}, probably `cdk bootstrap`" if variant else "unknown"


# --- templates -----------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short intrinsic tags (!Ref, !Sub, !GetAtt ...), and dates
    left as text: CloudFormation reads `AWSTemplateFormatVersion: 2010-09-09` as a string."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


# CloudFormation's short forms; any other tag is a mistake CloudFormation would refuse too.
INTRINSIC_TAGS = frozenset(
    {
        "Ref", "Condition", "Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue",
        "Join", "Length", "Select", "Split", "Sub", "Transform", "ToJsonString", "And",
        "Equals", "If", "Not", "Or", "ForEach",
    }
)  # fmt: skip


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if suffix not in INTRINSIC_TAGS:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown tag !{suffix} (not a CloudFormation function)", node.start_mark
        )
    name = "Ref" if suffix == "Ref" else "Condition" if suffix == "Condition" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(text: str) -> dict[str, Any]:
    """A template from JSON or YAML text; Terminal when it is neither."""
    try:
        loaded = yaml.load(text, Loader=_CfnLoader)  # a SafeLoader subclass
        # What is sent (and hashed) is JSON: a template that cannot be JSON is refused now.
        json.dumps(loaded, sort_keys=True)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        # ValueError/TypeError: an impossible date, a huge integer, keys of mixed types,
        # a self-referencing anchor; RecursionError: absurd nesting.
        # PyYAML's text says what and where over several lines ("found character '\t'",
        # "line 3, column 1"): keep all of it, on one line.
        what = " ".join(str(exc).split())[:400] if str(exc) else type(exc).__name__
        raise Terminal("InvalidTemplate", f"the template is not valid YAML/JSON: {what}") from exc
    if not isinstance(loaded, dict):
        raise Terminal("InvalidTemplate", "the template must be a mapping (Resources, ...)")
    if not isinstance(loaded.get("Resources"), dict):
        raise Terminal("InvalidTemplate", "the template has no Resources section")
    for section in ("Resources", "Outputs", "Parameters"):
        entries = loaded.get(section, {})
        if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
            raise Terminal(
                "InvalidTemplate", f"the template's {section} section must map names to objects"
            )
    return loaded


def template_version(template: dict[str, Any]) -> int | None:
    """The version a template declares: its BootstrapVersion output if literal, else the
    literal value of its version parameter resource."""
    output = ((template.get("Outputs") or {}).get("BootstrapVersion") or {}).get("Value")
    version = parse_version(output)
    if version is not None:
        return version
    for resource in (template.get("Resources") or {}).values():
        props = resource.get("Properties") or {}
        if not isinstance(props, dict):
            continue
        if resource.get("Type") == "AWS::SSM::Parameter" and "cdk-bootstrap" in str(
            props.get("Name")
        ):
            return parse_version(props.get("Value"))
    return None


def template_variant(template: dict[str, Any]) -> str | None:
    variant = (template.get("Parameters") or {}).get("BootstrapVariant") or {}
    default = variant.get("Default")
    return str(default) if default is not None else None


def contract_problems(template: dict[str, Any]) -> list[str]:
    """What a user's template lacks of the contract `cdk deploy` relies on."""
    problems = []
    outputs = template.get("Outputs") or {}
    missing = [name for name in builtin.REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        problems.append(f"missing output(s) {', '.join(missing)}")
    if template_version(template) is None:
        problems.append("no literal bootstrap version (BootstrapVersion output or parameter)")
    if "Qualifier" not in (template.get("Parameters") or {}):
        problems.append("no Qualifier parameter")
    if template_variant(template) is None:
        problems.append("no BootstrapVariant parameter default")
    return problems


def parse_version(value: Any) -> int | None:
    """The integer a version value holds; None for anything else (a tampered parameter)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _VERSION.fullmatch(value.strip()):
        return int(value)
    return None


_VERSION = re.compile(r"[0-9]{1,9}", re.ASCII)  # str.isdigit() also takes "²", int() not


def body_hash(body: Any) -> str | None:
    """Hash of a template body as GetTemplate returns it (a dict, or JSON/YAML text)."""
    if isinstance(body, dict):
        return builtin.template_hash(body)
    if isinstance(body, str):
        try:
            return builtin.template_hash(load_template(body))
        except Terminal:
            return None
    return None


# --- versions and drift ---------------------------------------------------------------------


def downgrade_problem(
    template_version_: int, deployed: int | None, allow_downgrade: bool
) -> str | None:
    if deployed is None or deployed <= template_version_ or allow_downgrade:
        return None
    return (
        f"the deployed bootstrap version {deployed} is newer than the template's "
        f"{template_version_}; nothing was changed. Use a template of version {deployed} or "
        "later, or set allowDowngrade: true if older roles are really wanted."
    )


@dataclass(frozen=True)
class ParameterDrift:
    found: str  # what AWS holds, for the message
    repair: bool


def version_parameter_drift(
    parameter: dict[str, Any] | None, expected: int
) -> ParameterDrift | None:
    """None when the version parameter holds exactly the expected plain-String integer."""
    if parameter is None:
        return ParameterDrift("missing", True)
    value, type_ = parameter.get("Value"), parameter.get("Type")
    if type_ == "String" and str(value) == str(expected):
        return None
    return ParameterDrift(f"{type_} {value!r}", True)


def trust_drift(document: dict[str, Any] | str, expected_accounts: set[str]) -> set[str]:
    """Accounts the spec trusts that a role's trust policy no longer names."""
    data = json.loads(document) if isinstance(document, str) else document
    named: set[str] = set()
    for statement in data.get("Statement") or []:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal") or {}
        if not isinstance(principal, dict):  # "*": anyone, which names no account
            continue
        principals = principal.get("AWS") or []
        for item in principals if isinstance(principals, list) else [principals]:
            named.add(str(item).removeprefix("arn:aws:iam::").split(":")[0])
    return expected_accounts - named


def physical_names(spec: CdkBootstrapSpec, account: str, region: str) -> dict[str, Any]:
    q = spec.qualifier
    return {
        "bucketName": spec.assets_bucket.name or f"cdk-{q}-assets-{account}-{region}",
        "repositoryName": spec.container_repository.name
        or f"cdk-{q}-container-assets-{account}-{region}",
        "versionParameter": builtin.VERSION_PARAMETER.format(qualifier=q),
        "roles": [f"cdk-{q}-{p}-role-{account}-{region}" for p in builtin.ROLE_PURPOSES],
    }


def summarize_changes(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    summary = []
    for change in changes:
        resource = change.get("ResourceChange") or {}
        item = {
            "action": str(resource.get("Action") or "Unknown"),
            "logicalId": str(resource.get("LogicalResourceId") or ""),
            "resourceType": str(resource.get("ResourceType") or ""),
        }
        if resource.get("Replacement"):
            item["replacement"] = str(resource["Replacement"])
        summary.append(item)
    return summary
