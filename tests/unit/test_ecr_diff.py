"""EcrRepository diffs: canonical forms make an unchanged repository produce no action."""

import json
from typing import Any

import pytest
from gantry.core.errors import Terminal
from gantry.core.policy import canonical_policy
from gantry.ecr.diff import (
    Managed,
    Observed,
    canonical_lifecycle,
    desired_lifecycle,
    desired_repository_policy,
    plan,
)
from gantry.ecr.models import EcrRepositorySpec

ARN = "arn:aws:ecr:us-east-1:123456789012:repository/team/app"
OWNER = {"gantry.dev/owner": "default/ns/EcrRepository/app", "gantry.dev/uid": "u1"}


def repository(**overrides: Any) -> dict[str, Any]:
    return {
        "repositoryName": "team/app",
        "repositoryArn": ARN,
        "imageTagMutability": "MUTABLE",
        "imageScanningConfiguration": {"scanOnPush": False},
        "encryptionConfiguration": {"encryptionType": "AES256"},
        **overrides,
    }


def spec(**fields: Any) -> EcrRepositorySpec:
    return EcrRepositorySpec.model_validate(fields)


NO_MANAGED = Managed()


def operations(
    s: EcrRepositorySpec, observed: Observed, managed: Managed = NO_MANAGED
) -> list[str]:
    return [a.operation for a in plan(s, observed, OWNER, managed).actions]


RULES = [
    {
        "rulePriority": 2,
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50},
        "action": {"type": "expire"},
    },
    {
        "rulePriority": 1,
        "description": "old untagged",
        "selection": {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 14,
        },
        "action": {"type": "expire"},
    },
]


def test_unchanged_repository_needs_no_call() -> None:
    s = spec(tags={"team": "a"}, lifecyclePolicy={"rules": RULES})
    observed = Observed(
        repository(),
        tags={"team": "a", **OWNER},
        lifecycle_policy=json.dumps({"rules": list(reversed(RULES))}),
    )
    assert operations(s, observed) == []


def test_lifecycle_rule_order_and_numbers_as_strings_are_not_a_change() -> None:
    as_strings = json.loads(json.dumps(RULES))
    as_strings[0]["selection"]["countNumber"] = "50"
    as_strings[1]["rulePriority"] = "1"
    assert canonical_lifecycle({"rules": as_strings}) == canonical_lifecycle({"rules": RULES})


def test_changed_tag_pattern_list_is_detected() -> None:
    tagged = {
        "rulePriority": 1,
        "selection": {
            "tagStatus": "tagged",
            "tagPatternList": ["prod*"],
            "countType": "imageCountMoreThan",
            "countNumber": 5,
        },
        "action": {"type": "expire"},
    }
    observed_rule = json.loads(json.dumps(tagged))
    observed_rule["selection"]["tagPatternList"] = ["staging*"]
    observed = Observed(
        repository(), tags=OWNER, lifecycle_policy=json.dumps({"rules": [observed_rule]})
    )
    assert operations(spec(lifecyclePolicy={"rules": [tagged]}), observed) == ["PutLifecyclePolicy"]


def test_tag_pattern_order_is_not_a_change() -> None:
    a = {"rules": [{"rulePriority": 1, "selection": {"tagPatternList": ["a*", "b*"]}}]}
    b = {"rules": [{"rulePriority": 1, "selection": {"tagPatternList": ["b*", "a*"]}}]}
    assert canonical_lifecycle(a) == canonical_lifecycle(b)


POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "pull",
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "444455556666"]},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        }
    ],
}


@pytest.mark.parametrize(
    "echo",
    [
        # principals reordered, bare account id shown as its root ARN
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "pull",
                    "Effect": "Allow",
                    "Principal": {
                        "AWS": ["arn:aws:iam::444455556666:root", "arn:aws:iam::111122223333:root"]
                    },
                    "Action": ["ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                }
            ],
        },
        # a single statement as an object, Version missing
        {
            "Statement": {
                "Sid": "pull",
                "Effect": "Allow",
                "Principal": {"AWS": ["444455556666", "111122223333"]},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        },
    ],
)
def test_equivalent_policies_compare_equal(echo: dict[str, Any]) -> None:
    assert canonical_policy(echo) == canonical_policy(POLICY)


def test_single_principal_equals_one_element_list() -> None:
    one = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"}}]}
    many = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["111122223333"]}}]}
    assert canonical_policy(one) == canonical_policy(many)


def test_policy_edit_is_one_set_call_never_delete_then_put() -> None:
    changed = json.loads(json.dumps(POLICY))
    changed["Statement"][0]["Action"] = ["ecr:*"]
    observed = Observed(repository(), tags=OWNER, repository_policy=json.dumps(changed))
    assert operations(spec(repositoryPolicy={"json": json.dumps(POLICY)}), observed) == [
        "SetRepositoryPolicy"
    ]


def test_removed_policy_is_deleted_only_if_gantry_set_it() -> None:
    observed = Observed(repository(), tags=OWNER, lifecycle_policy=json.dumps({"rules": RULES}))
    assert operations(spec(), observed) == []
    assert operations(spec(), observed, Managed(lifecycle_policy=True)) == ["DeleteLifecyclePolicy"]


def test_additive_tags_leave_foreign_tags_and_authoritative_removes_them() -> None:
    observed = Observed(repository(), tags={"cost-centre": "42", **OWNER})
    assert operations(spec(tags={"team": "a"}), observed) == ["TagResource"]
    authoritative = spec(tags={"team": "a"}, tagPolicy="Authoritative")
    actions = plan(authoritative, observed, OWNER, Managed()).actions
    assert [a.operation for a in actions] == ["TagResource", "UntagResource"]
    assert actions[1].params["tagKeys"] == ["cost-centre"]


def test_settings_are_updated_in_place_each_with_its_own_call() -> None:
    s = spec(
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=["latest"],
        scanOnPush=True,
    )
    assert operations(s, Observed(repository(), tags=OWNER)) == [
        "PutImageTagMutability",
        "PutImageScanningConfiguration",
    ]


def test_partial_observation_compares_only_the_repository_settings() -> None:
    s = spec(scanOnPush=True, tags={"team": "a"}, lifecyclePolicy={"rules": RULES})
    observed = Observed(repository(), partial=True)
    assert operations(s, observed) == ["PutImageScanningConfiguration"]


def test_encryption_mismatch_is_reported_not_fixed() -> None:
    s = spec(encryption={"type": "KMS"})
    result = plan(s, Observed(repository(), tags=OWNER), OWNER, Managed())
    assert result.actions == []
    assert "encryption.type is AES256 in AWS but KMS" in result.immutable_mismatches[0]


def test_kms_key_id_matches_its_arn() -> None:
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/abcd-1234"
    observed = Observed(
        repository(encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key_arn}),
        tags=OWNER,
    )
    s = spec(encryption={"type": "KMS", "kmsKey": "abcd-1234"})
    assert plan(s, observed, OWNER, Managed()).immutable_mismatches == []


def count_rule(count_type: str, **selection: Any) -> dict[str, Any]:
    return {
        "rulePriority": 1,
        "selection": {"tagStatus": "untagged", "countType": count_type, "countNumber": 3,
                      **selection},
        "action": {"type": "expire"},
    }  # fmt: skip


def test_newer_count_types_are_left_to_ecr() -> None:
    document = json.dumps({"rules": [count_rule("sinceImagePulled", countUnit="days")]})
    s = spec(lifecyclePolicy={"json": document})
    plan(s, Observed(repository(), tags=OWNER), OWNER, Managed())  # no Terminal


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"rules": [RULES[0], {**RULES[0]}]}), "unique"),
        (
            json.dumps(
                {"rules": [{**RULES[0], "rulePriority": 1}, {**RULES[1], "rulePriority": 2}]}
            ),
            "highest rulePriority",
        ),
        (
            json.dumps({"rules": [count_rule("imageCountMoreThan", countUnit="days")]}),
            "imageCountMoreThan rule counts images, not days: remove countUnit",
        ),
        (
            json.dumps({"rules": [count_rule("sinceImagePushed")]}),
            "sinceImagePushed rule needs countUnit: days",
        ),
        (json.dumps({"rules": [{**RULES[0], "selection": "x"}]}), "must be an object"),
        (json.dumps({"rules": [{**RULES[0], "rulePriority": [1]}]}), "whole-number"),
        (json.dumps({"rules": [{"selection": RULES[0]["selection"]}]}), "whole-number"),
    ],
)
def test_bad_raw_lifecycle_json_is_terminal(document: str, fragment: str) -> None:
    s = spec(lifecyclePolicy={"json": document})
    with pytest.raises(Terminal, match=fragment):
        plan(s, Observed(repository(), tags=OWNER), OWNER, Managed())


@pytest.mark.parametrize(
    "document",
    ['{"Statement": ["x"]}', '{"Statement": "x"}', '[{"Effect": "Allow"}]'],
)
def test_raw_repository_policy_of_the_wrong_shape_is_terminal(document: str) -> None:
    s = spec(repositoryPolicy={"json": document})
    with pytest.raises(Terminal, match="repositoryPolicy is not a valid policy document"):
        plan(s, Observed(repository(), tags=OWNER), OWNER, Managed())


def test_an_unquoted_account_id_in_a_principal_is_the_account() -> None:
    # YAML makes `AWS: 123456789012` a number; AWS would read the same account.
    statement = {"Effect": "Allow", "Principal": {"AWS": 123456789012}, "Action": "ecr:*"}
    policy = desired_repository_policy(spec(repositoryPolicy={"statements": [statement]}))
    assert policy is not None
    assert policy["Statement"][0]["Principal"] == {"AWS": ["arn:aws:iam::123456789012:root"]}


@pytest.mark.parametrize(
    "document",
    [
        '{"Statement": [{"Effect": "Allow", "Principal": {"AWS": [null]}}]}',
        "[" * 5000,
        '{"Statement": [{"Effect": "Allow", "Action": ' + "1" * 5000 + "}]}",
    ],
)
def test_a_raw_policy_python_cannot_even_read_is_invalid_spec(document: str) -> None:
    with pytest.raises(Terminal, match="repositoryPolicy is not a valid policy document"):
        desired_repository_policy(spec(repositoryPolicy={"json": document}))


@pytest.mark.parametrize("priority", ['"\u00b2"', '"' + "1" * 5000 + '"', "1" * 5000])
def test_a_lifecycle_priority_int_cannot_read_is_invalid_spec(priority: str) -> None:
    rule = '{"rulePriority": ' + priority + ', "selection": {"tagStatus": "any"}}'
    document = '{"rules": [' + rule + "]}"
    with pytest.raises(Terminal, match="lifecyclePolicy"):
        desired_lifecycle(spec(lifecyclePolicy={"json": document}))


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        ({"Effect": "Maybe", "Principal": "*", "Action": "ecr:*"}, "Effect must be Allow or Deny"),
        ({"Effect": "Allow", "Principal": ["1"], "Action": "ecr:*"}, "Principal must be"),
        ({"Effect": "Allow", "Principal": "*", "Action": {"ecr": "x"}}, "Action must be a string"),
        ({"Sid": 7, "Effect": "Allow", "Principal": "*", "Action": "ecr:*"}, "Sid must be"),
        ({"Effect": "Allow", "Principal": "*"}, "it needs Action or NotAction"),
    ],
)
def test_a_raw_policy_aws_would_refuse_is_refused_naming_the_statement(
    statement: dict[str, Any], fragment: str
) -> None:
    document = json.dumps({"Statement": [statement]})
    with pytest.raises(Terminal, match=f"statement 1: {fragment}"):
        desired_repository_policy(spec(repositoryPolicy={"json": document}))


@pytest.mark.parametrize(
    ("selection", "fragment"),
    [
        ({"tagStatus": "sometimes", "countType": "imageCountMoreThan", "countNumber": 1},
         "tagStatus 'sometimes'"),
        ({"tagStatus": "any", "countType": "imageCountMoreThan"}, "countNumber of 1 or more"),
        ({"tagStatus": "any", "countNumber": 3}, "needs a countType"),
    ],
)  # fmt: skip
def test_a_raw_lifecycle_rule_ecr_would_refuse_is_refused_naming_the_rule(
    selection: dict[str, Any], fragment: str
) -> None:
    rule = {"rulePriority": 4, "selection": selection, "action": {"type": "expire"}}
    with pytest.raises(Terminal, match=f"rule 4 .*{fragment}|rule 4 has {fragment}"):
        desired_lifecycle(spec(lifecyclePolicy={"json": json.dumps({"rules": [rule]})}))
