"""EcrRepository through the real API server, moto and the operator process."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml
from support import GROUP_VERSION, Stack, condition, gantry_object, wait_condition, wait_for

pytestmark = pytest.mark.integration
PLURAL = "ecrrepositories"

LIFECYCLE_RULES = [
    {
        "rulePriority": 1,
        "description": "drop old untagged images",
        "selection": {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 14,
        },
        "action": {"type": "expire"},
    },
    {
        "rulePriority": 10,
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100},
    },
]
PULL_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "pull",
            "Effect": "Allow",
            "Principal": {"AWS": "111122223333"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        }
    ],
}


def manifest(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return gantry_object("EcrRepository", namespace, name, spec)


def describe(stack: Stack, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = stack.aws("ecr").describe_repositories(repositoryNames=[name])[
            "repositories"
        ][0]
        return found
    except stack.aws("ecr").exceptions.RepositoryNotFoundException:
        return None


def tags(stack: Stack, arn: str) -> dict[str, str]:
    listed = stack.aws("ecr").list_tags_for_resource(resourceArn=arn)["tags"]
    return {t["Key"]: t["Value"] for t in listed}


def push_image(stack: Stack, name: str, tag: str = "v1") -> None:
    image_manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:" + "a" * 64, "size": 1, "mediaType": "x"},
        "layers": [],
    }
    stack.aws("ecr").put_image(
        repositoryName=name, imageManifest=json.dumps(image_manifest), imageTag=tag
    )


def ready(stack: Stack, namespace: str, name: str) -> dict[str, Any]:
    return wait_condition(stack, PLURAL, namespace, name, "Ready")


def test_repository_with_every_field_is_created_as_declared(stack: Stack, namespace: str) -> None:
    stack.apply(
        manifest(
            namespace,
            "full",
            repositoryName=f"{namespace}/full-app",
            imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
            imageTagMutabilityExclusionFilters=["latest", "dev-*"],
            scanOnPush=True,
            encryption={"type": "AES256"},
            lifecyclePolicy={"rules": LIFECYCLE_RULES},
            repositoryPolicy={"json": json.dumps(PULL_POLICY)},
            tags={"team": "payments"},
        )
    )
    obj = ready(stack, namespace, "full")
    name = f"{namespace}/full-app"
    repo = describe(stack, name)
    assert repo is not None
    assert obj["status"]["arn"] == repo["repositoryArn"]
    assert obj["status"]["repositoryUri"] == repo["repositoryUri"]
    assert repo["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    found_tags = tags(stack, repo["repositoryArn"])
    assert found_tags["team"] == "payments"
    assert found_tags["gantry.dev/owner"] == f"test/{namespace}/EcrRepository/full"
    ecr = stack.aws("ecr")
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
    assert [r["rulePriority"] for r in policy["rules"]] == [1, 10]
    assert "ecr:BatchGetImage" in ecr.get_repository_policy(repositoryName=name)["policyText"]


def test_doubled_separators_in_names_are_accepted(stack: Stack, namespace: str) -> None:
    # ECR accepts a--b and a__b (moto's older grammar does not, so this stays at admission).
    for name in ("team--app", "team__app", "team/a--b__c"):
        stack.cp.kubectl(
            "create",
            "--dry-run=server",
            "-f",
            "-",
            input=yaml.safe_dump(manifest(namespace, "dbl", repositoryName=name)),
        )


def test_resync_of_an_unchanged_repository_makes_no_write_call(
    stack: Stack, namespace: str
) -> None:
    stack.apply(
        manifest(
            namespace,
            "quiet",
            lifecyclePolicy={"rules": LIFECYCLE_RULES},
            repositoryPolicy={"statements": PULL_POLICY["Statement"]},
            tags={"team": "a"},
        )
    )
    ready(stack, namespace, "quiet")
    before = stack.writes()
    time.sleep(10)  # at least two drift passes at the tests' 4-second interval
    assert stack.writes() == before


def test_each_field_edit_is_applied_in_place(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "edit"))
    first = ready(stack, namespace, "edit")
    stack.apply(
        manifest(
            namespace,
            "edit",
            imageTagMutability="IMMUTABLE",
            scanOnPush=True,
            lifecyclePolicy={"rules": LIFECYCLE_RULES},
            repositoryPolicy={"json": json.dumps(PULL_POLICY)},
            tags={"env": "prod"},
        )
    )

    def edited() -> dict[str, Any] | None:
        repo = describe(stack, "edit")
        if repo and repo["imageTagMutability"] == "IMMUTABLE":
            return repo
        return None

    repo = wait_for(edited, what="mutability edit")
    obj = wait_condition(stack, PLURAL, namespace, "edit", "Ready")
    assert obj["metadata"]["generation"] == 2
    assert repo["repositoryArn"] == first["status"]["arn"]  # never replaced
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert tags(stack, repo["repositoryArn"])["env"] == "prod"

    # Removing a policy Gantry set deletes it.
    stack.apply(manifest(namespace, "edit", imageTagMutability="IMMUTABLE", scanOnPush=True))

    def policy_gone() -> bool:
        try:
            stack.aws("ecr").get_lifecycle_policy(repositoryName="edit")
            return False
        except stack.aws("ecr").exceptions.LifecyclePolicyNotFoundException:
            return True

    wait_for(policy_gone, what="lifecycle policy deletion")


def test_setting_changed_outside_gantry_is_restored_with_an_event(
    stack: Stack, namespace: str
) -> None:
    stack.apply(manifest(namespace, "drift", scanOnPush=True))
    ready(stack, namespace, "drift")
    stack.aws("ecr").put_image_scanning_configuration(
        repositoryName="drift", imageScanningConfiguration={"scanOnPush": False}
    )

    def restored() -> bool:
        repo = describe(stack, "drift")
        return bool(repo and repo["imageScanningConfiguration"]["scanOnPush"])

    wait_for(restored, timeout=30, what="drift repair")
    events = wait_for(
        lambda: [e for e in stack.events(namespace, "drift") if e["reason"] == "DriftRepaired"],
        what="DriftRepaired event",
    )
    assert "scanOnPush" in events[0]["message"]
    assert events[0]["involvedObject"]["apiVersion"] == GROUP_VERSION
    obj = stack.get(PLURAL, namespace, "drift")
    assert obj is not None
    wait_for(
        lambda: (
            (stack.get(PLURAL, namespace, "drift") or {}).get("status", {}).get("lastDriftRepair")
        ),
        what="lastDriftRepair in status",
    )


def test_policy_removed_outside_gantry_is_restored_by_the_full_check(
    stack: Stack, namespace: str
) -> None:
    stack.apply(manifest(namespace, "policy-drift", lifecyclePolicy={"rules": LIFECYCLE_RULES}))
    ready(stack, namespace, "policy-drift")
    stack.aws("ecr").delete_lifecycle_policy(repositoryName="policy-drift")

    def restored() -> bool:
        try:
            stack.aws("ecr").get_lifecycle_policy(repositoryName="policy-drift")
            return True
        except stack.aws("ecr").exceptions.LifecyclePolicyNotFoundException:
            return False

    # Policies and tags are read every full-check interval (20 s in these tests).
    wait_for(restored, timeout=60, what="lifecycle policy restored")


def test_empty_repository_is_deleted_with_its_object(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "empty"))
    ready(stack, namespace, "empty")
    stack.delete(PLURAL, namespace, "empty")
    wait_for(lambda: stack.get(PLURAL, namespace, "empty") is None, what="object gone")
    assert describe(stack, "empty") is None


def test_repository_with_images_is_not_deleted_until_forced(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "holds-images"))
    ready(stack, namespace, "holds-images")
    push_image(stack, "holds-images")
    stack.delete(PLURAL, namespace, "holds-images")

    blocked = wait_for(
        lambda: condition(stack.get(PLURAL, namespace, "holds-images"), "DeletionBlocked"),
        what="DeletionBlocked",
    )
    assert blocked["status"] == "True"
    assert "1 image" in blocked["message"]
    assert "force" in blocked["message"]
    assert describe(stack, "holds-images") is not None
    events = stack.events(namespace, "holds-images")
    assert [e for e in events if e["reason"] == "DeletionBlocked"]

    stack.cp.kubectl(
        "patch",
        PLURAL,
        "holds-images",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"force":true}}',
    )
    wait_for(
        lambda: stack.get(PLURAL, namespace, "holds-images") is None,
        timeout=30,
        what="forced deletion",
    )
    assert describe(stack, "holds-images") is None


def test_retained_repository_stays_in_aws(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "keep", deletionPolicy="Retain"))
    ready(stack, namespace, "keep")
    stack.delete(PLURAL, namespace, "keep")
    wait_for(lambda: stack.get(PLURAL, namespace, "keep") is None, what="object gone")
    assert describe(stack, "keep") is not None


def test_repository_tagged_for_this_object_is_adopted(stack: Stack, namespace: str) -> None:
    stack.aws("ecr").create_repository(
        repositoryName="by-tags",
        tags=[{"Key": "gantry.dev/owner", "Value": f"test/{namespace}/EcrRepository/by-tags"}],
    )
    stack.apply(manifest(namespace, "by-tags", scanOnPush=True))
    ready(stack, namespace, "by-tags")
    repo = describe(stack, "by-tags")
    assert repo is not None
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True


def test_unowned_repository_is_adopted_only_when_asked(stack: Stack, namespace: str) -> None:
    stack.aws("ecr").create_repository(repositoryName="legacy")
    stack.apply(manifest(namespace, "legacy"))
    refused = wait_condition(stack, PLURAL, namespace, "legacy", "Synced", "False")
    assert condition(refused, "Synced")["reason"] == "AlreadyExists"
    assert "adoption: Adopt" in condition(refused, "Synced")["message"]

    stack.apply(manifest(namespace, "legacy", adoption="Adopt"))
    ready(stack, namespace, "legacy")
    repo = describe(stack, "legacy")
    assert repo is not None
    assert tags(stack, repo["repositoryArn"])["gantry.dev/owner"].endswith("/legacy")


def test_second_object_naming_the_same_repository_is_refused(stack: Stack, namespace: str) -> None:
    stack.apply(manifest(namespace, "owner-one", repositoryName="shared-name"))
    ready(stack, namespace, "owner-one")
    stack.apply(manifest(namespace, "owner-two", repositoryName="shared-name", scanOnPush=True))
    refused = wait_condition(stack, PLURAL, namespace, "owner-two", "Stalled")
    assert condition(refused, "Synced")["reason"] == "OwnedByOther"
    assert "owner-one" in condition(refused, "Synced")["message"]
    repo = describe(stack, "shared-name")
    assert repo is not None
    assert repo["imageScanningConfiguration"]["scanOnPush"] is False
    # Deleting the refused object must not delete the other object's repository.
    stack.delete(PLURAL, namespace, "owner-two")
    wait_for(lambda: stack.get(PLURAL, namespace, "owner-two") is None, what="object gone")
    assert describe(stack, "shared-name") is not None


def test_encryption_mismatch_on_adoption_is_reported(stack: Stack, namespace: str) -> None:
    stack.aws("ecr").create_repository(repositoryName="enc")
    stack.apply(manifest(namespace, "enc", adoption="Adopt", encryption={"type": "KMS"}))
    stalled = wait_condition(stack, PLURAL, namespace, "enc", "Stalled")
    assert condition(stalled, "Synced")["reason"] == "ImmutableFieldChanged"
    assert "encryption.type" in condition(stalled, "Synced")["message"]
