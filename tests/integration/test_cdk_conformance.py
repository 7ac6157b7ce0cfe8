"""Gantry's bootstrap template against the CDK CLI's own, for the same options.

The CDK's template is generated at test time with `cdk bootstrap --show-template` from the
aws-cdk npm package (installed into a cache folder on first use) and never committed. Skipped
where Node.js is not installed or the package cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gantry.cdk import template
from support import GROUP_VERSION, Stack, wait_condition

pytestmark = pytest.mark.integration
OPTIONS = {
    "Qualifier": "conf",
    "TrustedAccounts": "111111111111",
    "TrustedAccountsForLookup": "222222222222",
    "CloudFormationExecutionPolicies": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "FileAssetsBucketKmsKeyId": template.AWS_MANAGED_KEY,
    "PublicAccessBlockConfiguration": "true",
}
NAMED_TYPES = ("AWS::S3::Bucket", "AWS::ECR::Repository", "AWS::IAM::Role", "AWS::SSM::Parameter")


def _cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gantry" / "aws-cdk"


@pytest.fixture(scope="module")
def cdk_template() -> str:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    cache = _cache()
    cli = cache / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        cache.mkdir(parents=True, exist_ok=True)
        installed = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache), "aws-cdk@2"],
            capture_output=True,
            timeout=600,
            check=False,
        )
        if installed.returncode != 0 or not cli.exists():
            pytest.skip("the aws-cdk npm package could not be installed")
    shown = subprocess.run(
        [str(cli), "bootstrap", "--show-template"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "CDK_DISABLE_VERSION_CHECK": "1"},
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def deploy(stack: Stack, region: str, body: str) -> dict[str, Any]:
    """Create the stack directly (not through change sets, whose stacks moto gives no
    outputs) and return what it made, with the region taken out of every name."""
    cfn = stack.aws("cloudformation", region)
    cfn.create_stack(
        StackName="CDKToolkit",
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in OPTIONS.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    found = cfn.describe_stacks(StackName="CDKToolkit")["Stacks"][0]
    summaries = cfn.list_stack_resources(StackName="CDKToolkit")["StackResourceSummaries"]
    parameter = stack.aws("ssm", region).get_parameter(Name="/cdk-bootstrap/conf/version")
    return {
        "named": {
            (r["ResourceType"], r["PhysicalResourceId"].replace(region, "<region>"))
            for r in summaries
            if r.get("ResourceType") in NAMED_TYPES
        },
        "outputs": {
            o["OutputKey"]: o["OutputValue"].replace(region, "<region>")
            for o in found.get("Outputs") or []
        },
        "parameter": parameter["Parameter"],
    }


def test_same_options_give_the_same_named_resources_outputs_and_parameter(
    stack: Stack, namespace: str, cdk_template: str
) -> None:
    ours = deploy(stack, "us-east-1", template.canonical_json(template.render()))
    theirs = deploy(stack, "eu-west-1", cdk_template)

    assert ours["named"] == theirs["named"]
    assert len(ours["named"]) == 8  # bucket, repository, five roles, version parameter
    for output in ("BucketName", "BucketDomainName", "ImageRepositoryName"):
        assert ours["outputs"][output] == theirs["outputs"][output]
    assert ours["parameter"]["Type"] == theirs["parameter"]["Type"] == "String"
    assert ours["parameter"]["Value"] == ours["outputs"]["BootstrapVersion"]
    # The CLI moves on; Gantry never claims a version newer than the CLI's own template.
    assert int(ours["outputs"]["BootstrapVersion"]) <= int(theirs["outputs"]["BootstrapVersion"])


def test_the_cdk_template_deploys_from_a_config_map(
    stack: Stack, namespace: str, cdk_template: str
) -> None:
    stack.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cdk-template", "namespace": namespace},
            "data": {"template.yaml": cdk_template},
        }
    )
    stack.apply(
        {
            "apiVersion": GROUP_VERSION,
            "kind": "CdkBootstrap",
            "metadata": {"name": "cli-template", "namespace": namespace},
            "spec": {
                "regions": ["us-east-1"],
                "allowAdministratorAccess": True,
                "template": {"source": "ConfigMap", "configMapRef": {"name": "cdk-template"}},
            },
        }
    )
    obj = wait_condition(stack, "cdkbootstraps", namespace, "cli-template", "Ready", timeout=120)
    assert obj["status"]["variant"] == "AWS CDK: Default Resources"
    assert obj["status"]["bootstrapVersion"] >= template.BOOTSTRAP_VERSION
