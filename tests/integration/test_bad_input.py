"""Every manifest in tests/cases/invalid/ gets a clear refusal and creates nothing in AWS.

Each file starts with comments that say what must happen:

    # expect: <a fragment of the message>
    # by: apiserver | operator
    # why: <what is wrong, for a reader>

followed by the manifest (a gantry.dev object, optionally preceded by objects it needs, such as
a ConfigMap). `by: apiserver` means the API server refuses it (schema or CEL) with the fragment
in its answer; `by: operator` means the API server accepts it and the operator reports
`Synced=False` and `Stalled=True` with the fragment in the condition message. Either way
nothing may exist in AWS afterwards (moto's state; the namespace fixture resets moto after
every test, so anything found was made by this one).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import GROUP_VERSION, Stack, condition, wait_condition

pytestmark = pytest.mark.integration

CASES_DIR = Path(__file__).resolve().parents[1] / "cases" / "invalid"
CLUSTER_SCOPED = {"ClusterEcrPullSecret", "Namespace"}
PLURALS = {
    "EcrRepository": "ecrrepositories",
    "EcrPullSecret": "ecrpullsecrets",
    "ClusterEcrPullSecret": "clusterecrpullsecrets",
    "EcsCluster": "ecsclusters",
    "EcsService": "ecsservices",
    "CdkBootstrap": "cdkbootstraps",
}
HEADER = re.compile(r"^#\s*(expect|by|why):\s*(.*?)\s*$")
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Case:
    path: Path
    expect: str
    by: str
    why: str
    docs: tuple[dict[str, Any], ...]

    @property
    def subject(self) -> dict[str, Any]:
        """The gantry.dev object under test: the last one in the file."""
        return [d for d in self.docs if d["apiVersion"] == GROUP_VERSION][-1]

    @property
    def kind(self) -> str:
        return str(self.subject["kind"])

    @property
    def prerequisites(self) -> list[dict[str, Any]]:
        return [d for d in self.docs if d is not self.subject]

    def regions(self) -> set[str]:
        """Every region the manifest names, where something could have been created."""
        found = {DEFAULT_REGION}
        text = self.path.read_text()
        found.update(re.findall(r"\b[a-z]{2}-[a-z]+-\d\b", text))
        return found


def load(path: Path) -> Case:
    text = path.read_text()
    headers: dict[str, str] = {}
    for line in text.splitlines():
        match = HEADER.match(line)
        if not match:
            break
        headers[match[1]] = match[2]
    docs = tuple(d for d in yaml.safe_load_all(text) if d)
    return Case(
        path, headers.get("expect", ""), headers.get("by", ""), headers.get("why", ""), docs
    )


CASES = [load(p) for p in sorted(CASES_DIR.glob("*.yaml"))]


def placed(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The document with the test's namespace, unless its kind is cluster-scoped."""
    if doc["kind"] in CLUSTER_SCOPED:
        return doc
    meta = {**doc["metadata"], "namespace": namespace}
    return {**doc, "metadata": meta}


def aws_inventory(stack: Stack, regions: set[str]) -> dict[str, list[str]]:
    """Everything the operator could have created, read from moto (empty lists left out)."""
    found: dict[str, list[str]] = {}
    for region in sorted(regions):
        ecr = stack.aws("ecr", region)
        ecs = stack.aws("ecs", region)
        cfn = stack.aws("cloudformation", region)
        ssm = stack.aws("ssm", region)
        clusters = ecs.list_clusters()["clusterArns"]
        services = [arn for c in clusters for arn in ecs.list_services(cluster=c)["serviceArns"]]
        stacks = [
            s["StackName"]
            for s in cfn.list_stacks()["StackSummaries"]
            if s["StackStatus"] != "DELETE_COMPLETE"
        ]
        repositories = ecr.describe_repositories()["repositories"]
        per_region = {
            "ecr repositories": [r["repositoryName"] for r in repositories],
            "ecs clusters": clusters,
            "ecs services": services,
            "ecs task definitions": ecs.list_task_definitions()["taskDefinitionArns"],
            "cloudformation stacks": stacks,
            "ssm parameters": [p["Name"] for p in ssm.describe_parameters()["Parameters"]],
        }
        for what, items in per_region.items():
            if items:
                found[f"{region} {what}"] = items
    buckets = [b["Name"] for b in stack.aws("s3").list_buckets().get("Buckets", [])]
    roles = [r["RoleName"] for r in stack.aws("iam").list_roles()["Roles"]]
    for what, items in {"s3 buckets": buckets, "iam roles": roles}.items():
        if items:
            found[what] = items
    return found


# -- the corpus itself -----------------------------------------------------------------------


def test_corpus_covers_every_kind_with_well_formed_cases() -> None:
    assert len(CASES) >= 40
    kinds = Counter(case.kind for case in CASES)
    assert set(kinds) == set(PLURALS), kinds
    for case in CASES:
        name = case.path.name
        assert case.expect, f"{name}: no '# expect:' line"
        assert case.by in ("apiserver", "operator"), f"{name}: '# by:' is {case.by!r}"
        assert case.why, f"{name}: no '# why:' line"
        assert case.subject["metadata"].get("name"), name
        assert "namespace" not in case.subject["metadata"], f"{name}: the test sets it"
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*\.yaml", name), name


# -- each case through the real API server and operator --------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.path.stem for c in CASES])
def test_invalid_manifest_is_refused_and_creates_nothing(
    stack: Stack, namespace: str, case: Case
) -> None:
    for doc in case.prerequisites:
        stack.apply(placed(doc, namespace))
    subject = placed(case.subject, namespace)
    plural, name = PLURALS[case.kind], subject["metadata"]["name"]
    out = stack.apply(subject, check=False)

    if case.by == "apiserver":
        assert case.expect in out, f"{case.path.name}: expected {case.expect!r} in:\n{out}"
        exists = stack.cp.kubectl("get", plural, name, "-n", namespace, check=False)
        assert exists.returncode != 0, f"{case.path.name}: the object was stored"
    else:
        assert "created" in out, f"{case.path.name}: the API server refused it:\n{out}"
        obj = wait_condition(stack, plural, namespace, name, "Stalled")
        synced = condition(obj, "Synced")
        assert synced.get("status") == "False", synced
        assert case.expect in synced.get("message", ""), (
            f"{case.path.name}: expected {case.expect!r} in the Synced message: {synced}"
        )
        assert condition(obj, "Ready").get("status") != "True"

    assert aws_inventory(stack, case.regions()) == {}
