"""deploy/iam/policy.json allows every AWS operation the operator's code calls."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "gantry"
SERVICES = ("ecr", "ecs", "cloudformation", "ssm", "s3", "iam", "sts", "kms", "ec2")
# IAM action names that differ from the API operation name.
ACTION_FOR = {"s3:HeadBucket": "s3:ListBucket", "s3:HeadObject": "s3:GetObject"}


def method_maps() -> dict[str, dict[str, str]]:
    return {
        service: boto3.client(service, region_name="us-east-1").meta.method_to_api_mapping
        for service in SERVICES
    }


def called_operations() -> set[str]:
    """service:Operation for every boto3 method named in an I/O module.

    A module's services are the service names it mentions as strings (`SERVICE = "ecr"`,
    `work.client("ecs")`); any identifier or string in it that is a method of one of those
    clients counts as a call (this catches `get_paginator("describe_images")` too).
    """
    maps = method_maps()
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        strings = {
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        }
        services = [s for s in SERVICES if s in strings]
        for service in services:
            for name in names | strings:
                operation = maps[service].get(name)
                if operation:
                    found.add(f"{service}:{operation}")
    return found


def allowed_actions() -> set[str]:
    policy = json.loads((ROOT / "deploy" / "iam" / "policy.json").read_text())
    actions: set[str] = set()
    for statement in policy["Statement"]:
        value = statement["Action"]
        actions.update([value] if isinstance(value, str) else value)
    return actions


def test_every_operation_the_code_calls_is_in_the_iam_policy() -> None:
    allowed = allowed_actions()
    missing = sorted(
        action for action in called_operations() if ACTION_FOR.get(action, action) not in allowed
    )
    assert missing == [], f"add these to deploy/iam/policy.json: {missing}"


def test_the_scan_finds_the_calls_it_should() -> None:
    operations = called_operations()
    assert "ecr:CreateRepository" in operations
    assert "ecr:DescribeImages" in operations  # named only through a paginator
