"""Pure diff for EcrRepository: desired spec + observed AWS state -> the calls to make.

Called by handlers with what `aws.observe()` read; its actions go to `aws.apply()`. Both sides
are put in canonical form first (lifecycle rules sorted by priority, policies parsed and
normalised, tags as maps), so an unchanged repository yields no action at all. No I/O, no
kopf: everything here is tested with plain data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from gantry.core.errors import Terminal, first_line
from gantry.core.ownership import is_ownership_tag
from gantry.core.policy import canonical_policy, check_policy, dumps
from gantry.ecr.models import (
    COUNT_UNIT_WITH_IMAGE_COUNT,
    SINCE_PUSHED_WITHOUT_UNIT,
    EcrRepositorySpec,
    Encryption,
    TagMutability,
    TagPolicy,
)

_INT_KEYS = ("rulePriority", "countNumber")
_SET_KEYS = ("tagPrefixList", "tagPatternList")


@dataclass(frozen=True)
class Observed:
    """What AWS holds for one repository; `repository` is None when it does not exist."""

    repository: dict[str, Any] | None
    tags: dict[str, str] = field(default_factory=dict)
    lifecycle_policy: str | None = None
    repository_policy: str | None = None
    # Only the repository itself was read (a cheap drift pass): tags and policies are unknown
    # and must not be compared.
    partial: bool = False


@dataclass(frozen=True)
class Action:
    """One AWS call. `field`, `old` and `new` describe it to a user (drift events)."""

    operation: str
    params: dict[str, Any]
    field: str
    old: str = ""
    new: str = ""


@dataclass(frozen=True)
class Plan:
    actions: list[Action]
    immutable_mismatches: list[str]


@dataclass(frozen=True)
class Managed:
    """Which optional documents Gantry set earlier (from status), so removal may delete them."""

    lifecycle_policy: bool = False
    repository_policy: bool = False


def invalid(message: str) -> Terminal:
    return Terminal("InvalidSpec", message)


_WHOLE = re.compile(r"[0-9]{1,9}", re.ASCII)  # str.isdigit() also takes "²", which int() refuses


# -- canonical forms ------------------------------------------------------------------------


def canonical_lifecycle(document: str | dict[str, Any]) -> dict[str, Any]:
    """Rules sorted by priority, numbers as numbers, tag lists as sorted sets."""
    try:
        data = json.loads(document) if isinstance(document, str) else document
    except (ValueError, RecursionError) as exc:  # a JSONDecodeError, a huge number, nesting
        what = first_line(str(exc), 200)
        raise invalid(f"lifecyclePolicy.json is not valid JSON: {what}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise invalid("lifecyclePolicy.json must be an object with a rules list")
    rules = [_canonical_rule(rule) for rule in data["rules"]]
    result: dict[str, Any] = {**data, "rules": sorted(rules, key=_priority)}
    return result


def _priority(rule: dict[str, Any]) -> int:
    value = rule.get("rulePriority", 0)
    return value if isinstance(value, int) else 0


def _canonical_rule(rule: Any) -> dict[str, Any]:
    if not isinstance(rule, dict):
        raise invalid("lifecyclePolicy: every rule must be an object")
    canonical: dict[str, Any] = _canonical_node(rule)
    return canonical


def _canonical_node(node: Any) -> Any:
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if value is None:
                continue
            if key in _INT_KEYS and isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
                value = int(value)
            elif key in _SET_KEYS and isinstance(value, list):
                value = sorted(str(v) for v in value)
            result[key] = _canonical_node(value)
        return result
    if isinstance(node, list):
        return [_canonical_node(item) for item in node]
    return node


def check_lifecycle(policy: dict[str, Any]) -> None:
    """The rules the CRD's CEL enforces for typed rules, applied to raw JSON too."""
    rules = policy["rules"]
    priorities = [r.get("rulePriority") for r in rules]
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in priorities):
        raise invalid("lifecyclePolicy: every rule needs a whole-number rulePriority")
    if len(set(priorities)) != len(priorities):
        raise invalid("lifecyclePolicy: rulePriority values must be unique")
    for rule in rules:
        selection = rule.get("selection") or {}
        if not isinstance(selection, dict):
            raise invalid(
                f"lifecyclePolicy: the selection of rule {rule['rulePriority']} must be an object"
            )
        _check_selection(rule["rulePriority"], selection)
        status = selection.get("tagStatus")
        if status == "any" and rule.get("rulePriority") != max(priorities):
            raise invalid(
                "lifecyclePolicy: a rule with tagStatus any must have the highest rulePriority"
            )
        if status == "tagged" and not (
            selection.get("tagPrefixList") or selection.get("tagPatternList")
        ):
            raise invalid(
                "lifecyclePolicy: a rule with tagStatus tagged needs tagPrefixList "
                "or tagPatternList"
            )
        _check_count(selection)


def _check_selection(priority: int, selection: dict[str, Any]) -> None:
    # What ECR requires of every rule; the typed form's schema says the same.
    status = selection.get("tagStatus")
    if status not in TAG_STATUSES:
        raise invalid(
            f"lifecyclePolicy: rule {priority} has tagStatus {status!r}; use one of "
            f"{', '.join(TAG_STATUSES)}"
        )
    count = selection.get("countNumber")
    if not selection.get("countType") or not isinstance(count, int) or count < 1:
        raise invalid(
            f"lifecyclePolicy: rule {priority} needs a countType and a countNumber of 1 or more"
        )


TAG_STATUSES = ("tagged", "untagged", "any")


def _check_count(selection: dict[str, Any]) -> None:
    # Newer count types (sinceImagePulled, ...) are left to ECR: their rules may change.
    count_type, has_unit = selection.get("countType"), "countUnit" in selection
    if count_type == "imageCountMoreThan" and has_unit:
        raise invalid(f"lifecyclePolicy: {COUNT_UNIT_WITH_IMAGE_COUNT}")
    if count_type == "sinceImagePushed" and not has_unit:
        raise invalid(f"lifecyclePolicy: {SINCE_PUSHED_WITHOUT_UNIT}")


def desired_lifecycle(spec: EcrRepositorySpec) -> dict[str, Any] | None:
    declared = spec.lifecycle_policy
    if declared is None:
        return None
    if declared.json_ is not None:
        policy = canonical_lifecycle(declared.json_)
    else:
        rules = [rule.model_dump(by_alias=True, exclude_none=True) for rule in declared.rules or []]
        policy = canonical_lifecycle({"rules": rules})
    check_lifecycle(policy)
    return policy


def desired_repository_policy(spec: EcrRepositorySpec) -> dict[str, Any] | None:
    declared = spec.repository_policy
    if declared is None:
        return None
    try:
        if declared.json_ is not None:
            policy = canonical_policy(declared.json_)
        else:
            statements = [
                s.model_dump(by_alias=True, exclude_none=True) for s in declared.statements or []
            ]
            policy = canonical_policy({"Statement": statements})
        check_policy(policy)
        return policy
    except (ValueError, TypeError, RecursionError) as exc:
        what = first_line(str(exc), 200)
        raise invalid(f"repositoryPolicy is not a valid policy document: {what}") from exc


def _observed_document(text: str | None, canonical: Any) -> Any:
    if text is None:
        return None
    try:
        return canonical(text)
    except (ValueError, Terminal):
        return {"unparsable": text}


# -- the plan --------------------------------------------------------------------------------


def create_params(spec: EcrRepositorySpec, name: str, tags: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "repositoryName": name,
        "imageTagMutability": spec.image_tag_mutability,
        "imageScanningConfiguration": {"scanOnPush": spec.scan_on_push},
        "tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
    }
    if spec.image_tag_mutability_exclusion_filters:
        params["imageTagMutabilityExclusionFilters"] = _filters(spec)
    if spec.encryption is not None:
        encryption: dict[str, Any] = {"encryptionType": spec.encryption.type}
        if spec.encryption.kms_key:
            encryption["kmsKey"] = spec.encryption.kms_key
        params["encryptionConfiguration"] = encryption
    return params


def _filters(spec: EcrRepositorySpec) -> list[dict[str, str]]:
    return [
        {"filterType": "WILDCARD", "filter": f}
        for f in sorted(spec.image_tag_mutability_exclusion_filters or [])
    ]


def plan(
    spec: EcrRepositorySpec,
    observed: Observed,
    owner_tags: dict[str, str],
    managed: Managed,
) -> Plan:
    """The in-place updates that bring an existing repository to the spec."""
    repo = observed.repository
    if repo is None:
        raise ValueError("plan() needs an existing repository; create it first")
    name = repo["repositoryName"]
    actions = [*_mutability(spec, repo, name), *_scanning(spec, repo, name)]
    if not observed.partial:
        actions += [
            *_lifecycle(spec, observed, name, managed),
            *_repository_policy(spec, observed, name, managed),
            *_tags(spec, observed, owner_tags, repo["repositoryArn"]),
        ]
    return Plan(actions=actions, immutable_mismatches=_encryption_mismatch(spec.encryption, repo))


def _mutability(spec: EcrRepositorySpec, repo: dict[str, Any], name: str) -> list[Action]:
    want_filters = _filters(spec)
    have_filters = sorted(
        repo.get("imageTagMutabilityExclusionFilters") or [], key=lambda f: f.get("filter", "")
    )
    have = repo.get("imageTagMutability", TagMutability.MUTABLE)
    if have == spec.image_tag_mutability and have_filters == want_filters:
        return []
    params: dict[str, Any] = {
        "repositoryName": name,
        "imageTagMutability": spec.image_tag_mutability,
    }
    if want_filters:
        params["imageTagMutabilityExclusionFilters"] = want_filters
    return [
        Action(
            "PutImageTagMutability",
            params,
            "imageTagMutability",
            str(have),
            str(spec.image_tag_mutability),
        )
    ]


def _scanning(spec: EcrRepositorySpec, repo: dict[str, Any], name: str) -> list[Action]:
    have = bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush", False))
    if have == spec.scan_on_push:
        return []
    params = {
        "repositoryName": name,
        "imageScanningConfiguration": {"scanOnPush": spec.scan_on_push},
    }
    return [
        Action(
            "PutImageScanningConfiguration",
            params,
            "scanOnPush",
            str(have).lower(),
            str(spec.scan_on_push).lower(),
        )
    ]


def _lifecycle(
    spec: EcrRepositorySpec, observed: Observed, name: str, managed: Managed
) -> list[Action]:
    want = desired_lifecycle(spec)
    have = _observed_document(observed.lifecycle_policy, canonical_lifecycle)
    if want == have:
        return []
    if want is None:
        if not managed.lifecycle_policy:
            return []  # someone else's policy: left alone
        return [
            Action(
                "DeleteLifecyclePolicy",
                {"repositoryName": name},
                "lifecyclePolicy",
                "set",
                "absent",
            )
        ]
    params = {"repositoryName": name, "lifecyclePolicyText": dumps(want)}
    old = "absent" if have is None else "a different policy"
    return [Action("PutLifecyclePolicy", params, "lifecyclePolicy", old, "the declared policy")]


def _repository_policy(
    spec: EcrRepositorySpec, observed: Observed, name: str, managed: Managed
) -> list[Action]:
    want = desired_repository_policy(spec)
    have = _observed_document(observed.repository_policy, canonical_policy)
    if want == have:
        return []
    if want is None:
        if not managed.repository_policy:
            return []
        return [
            Action(
                "DeleteRepositoryPolicy",
                {"repositoryName": name},
                "repositoryPolicy",
                "set",
                "absent",
            )
        ]
    params = {"repositoryName": name, "policyText": dumps(want)}
    old = "absent" if have is None else "a different policy"
    return [Action("SetRepositoryPolicy", params, "repositoryPolicy", old, "the declared policy")]


def _tags(
    spec: EcrRepositorySpec, observed: Observed, owner_tags: dict[str, str], arn: str
) -> list[Action]:
    want = {**(spec.tags or {}), **owner_tags}
    missing = {k: v for k, v in want.items() if observed.tags.get(k) != v}
    actions: list[Action] = []
    if missing:
        tags = [{"Key": k, "Value": v} for k, v in sorted(missing.items())]
        actions.append(
            Action(
                "TagResource",
                {"resourceArn": arn, "tags": tags},
                "tags",
                _show({k: observed.tags.get(k, "") for k in missing}),
                _show(missing),
            )
        )
    if spec.tag_policy == TagPolicy.AUTHORITATIVE:
        extra = sorted(k for k in observed.tags if k not in want and not is_ownership_tag(k))
        if extra:
            actions.append(
                Action(
                    "UntagResource",
                    {"resourceArn": arn, "tagKeys": extra},
                    "tags",
                    ",".join(extra),
                    "removed",
                )
            )
    return actions


def _show(tags: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(tags.items()))


def _encryption_mismatch(declared: Encryption | None, repo: dict[str, Any]) -> list[str]:
    """Encryption cannot change after creation: report a difference, never 'fix' it."""
    if declared is None:
        return []
    have = repo.get("encryptionConfiguration") or {"encryptionType": "AES256"}
    problems = []
    if have.get("encryptionType") != declared.type:
        problems.append(
            f"encryption.type is {have.get('encryptionType')} in AWS but {declared.type} in "
            "the spec"
        )
    elif declared.kms_key and not _same_key(declared.kms_key, have.get("kmsKey", "")):
        problems.append(
            f"encryption.kmsKey is {have.get('kmsKey')} in AWS but {declared.kms_key} in the spec"
        )
    return problems


def _same_key(declared: str, observed: str) -> bool:
    # An id matches the ARN that ends in it; an alias cannot be resolved without KMS, so it
    # is accepted as is (documented).
    if declared.startswith("alias/") or ":alias/" in declared:
        return True
    return declared == observed or observed.endswith(f":key/{declared}")
