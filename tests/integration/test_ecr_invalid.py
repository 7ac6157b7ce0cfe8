"""Bad EcrRepository manifests get a clear answer and create nothing in AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import GROUP_VERSION, Stack, condition, wait_condition

pytestmark = pytest.mark.integration

TAGGED_NO_LIST = {
    "rulePriority": 1,
    "selection": {"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1},
}
ANY_RULE = {
    "rulePriority": 1,
    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
}
UNTAGGED_RULE = {
    "rulePriority": 2,
    "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
}

# (spec, fragment of the API server's refusal)
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"repositoryName": "Upper/Case"}, "spec.repositoryName"),
    ({"repositoryName": "a"}, "spec.repositoryName"),
    ({"repositoryName": "trailing-"}, "spec.repositoryName"),
    ({"repositoryName": "x" * 257}, "spec.repositoryName"),
    ({"imageTagMutability": "SOMETIMES"}, "spec.imageTagMutability"),
    ({"imageTagMutabilityExclusionFilters": ["latest"]}, "imageTagMutabilityExclusionFilters"),
    ({"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}, "imageTagMutabilityExclusionFilters"),
    (
        {
            "imageTagMutability": "MUTABLE_WITH_EXCLUSION",
            "imageTagMutabilityExclusionFilters": ["a", "b", "c", "d", "e", "f"],
        },
        "imageTagMutabilityExclusionFilters",
    ),
    ({"encryption": {"type": "ROT13"}}, "spec.encryption.type"),
    (
        {"lifecyclePolicy": {"rules": [ANY_RULE, {**UNTAGGED_RULE, "rulePriority": 1}]}},
        "rulePriority values must be unique",
    ),
    ({"lifecyclePolicy": {"rules": [TAGGED_NO_LIST]}}, "needs tagPrefixList or tagPatternList"),
    ({"lifecyclePolicy": {"rules": [ANY_RULE, UNTAGGED_RULE]}}, "highest rulePriority"),
    (
        {"lifecyclePolicy": {"rules": [UNTAGGED_RULE], "json": json.dumps({"rules": []})}},
        "exactly one of lifecyclePolicy.rules and lifecyclePolicy.json",
    ),
    (
        {"repositoryPolicy": {"json": "{}", "statements": [{"Effect": "Allow"}]}},
        "exactly one of repositoryPolicy.statements and repositoryPolicy.json",
    ),
    ({"deletionPolicy": "Shred"}, "spec.deletionPolicy"),
    ({"tagPolicy": "Sometimes"}, "spec.tagPolicy"),
]

# Valid for the API server; the operator refuses them before any AWS write.
REPORTED: list[tuple[dict[str, Any], str]] = [
    ({"lifecyclePolicy": {"json": "{not json"}}, "not valid JSON"),
    (
        {"lifecyclePolicy": {"json": json.dumps({"rules": [ANY_RULE, UNTAGGED_RULE]})}},
        "highest rulePriority",
    ),
    ({"repositoryPolicy": {"json": "[1, 2]"}}, "not a valid policy document"),
]


def manifest(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "EcrRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def repository_count(stack: Stack) -> int:
    return len(stack.aws("ecr").describe_repositories()["repositories"])


@pytest.mark.parametrize(("spec", "fragment"), REFUSED)
def test_invalid_manifest_is_refused_by_the_api_server(
    stack: Stack, namespace: str, spec: dict[str, Any], fragment: str
) -> None:
    out = stack.apply(manifest(namespace, "bad", spec), check=False)
    assert fragment in out, out
    assert stack.get("ecrrepositories", namespace, "bad") is None
    assert repository_count(stack) == 0


@pytest.mark.parametrize(("spec", "fragment"), REPORTED)
def test_invalid_document_is_reported_and_nothing_is_created(
    stack: Stack, namespace: str, spec: dict[str, Any], fragment: str
) -> None:
    stack.apply(manifest(namespace, "bad-doc", spec))
    obj = wait_condition(stack, "ecrrepositories", namespace, "bad-doc", "Stalled")
    synced = condition(obj, "Synced")
    assert synced["status"] == "False"
    assert synced["reason"] == "InvalidSpec"
    assert fragment in synced["message"]
    assert repository_count(stack) == 0


def test_encryption_edit_is_refused_at_admission(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "enc", {"encryption": {"type": "AES256"}}))
    out = stack.apply(manifest(namespace, "enc", {"encryption": {"type": "KMS"}}), check=False)
    assert "spec.encryption is immutable" in out


def test_repository_name_edit_is_refused_at_admission(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "named", {"repositoryName": "first-name"}))
    out = stack.apply(manifest(namespace, "named", {"repositoryName": "second-name"}), check=False)
    assert "spec.repositoryName is immutable" in out


def test_writing_out_the_default_repository_name_is_no_change(stack: Stack, namespace: str) -> None:
    # GitOps tools that render every default write repositoryName out, or drop it again.
    stack.apply(manifest(namespace, "spelled", {}))
    out = stack.apply(manifest(namespace, "spelled", {"repositoryName": "spelled"}))
    assert "configured" in out or "unchanged" in out, out
    out = stack.apply(manifest(namespace, "spelled", {}))
    assert "configured" in out or "unchanged" in out, out
    refused = stack.apply(manifest(namespace, "spelled", {"repositoryName": "other"}), check=False)
    assert "spec.repositoryName is immutable (when unset it is metadata.name)" in refused
