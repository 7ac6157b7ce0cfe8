"""Tenants stay apart: identity per namespace, no chosen roles, own-namespace writes only, and
no adoption of what another object owns.

moto switches accounts on AssumeRole: credentials from assuming a role ARN of account
111111111111 act in that account, and the role need not exist. So an object whose namespace is
bound to such a role must create its resources there, and an unbound one in the operator's own
account (123456789012).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import yaml
from support import GROUP_VERSION, Stack, condition, gantry_object, wait_condition, wait_for

pytestmark = pytest.mark.integration

OWN_ACCOUNT = "123456789012"  # the operator's own identity in moto
TEAM_ACCOUNT = "111111111111"
TEAM_ROLE = f"arn:aws:iam::{TEAM_ACCOUNT}:role/team-a"
ROLE_ANNOTATION = "gantry.dev/aws-role-arn"
TASK_DEFINITION = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
KINDS = ("ecrrepositories", "ecrpullsecrets", "cdkbootstraps", "ecsservices", "ecsclusters")

NamespaceFactory = Callable[..., str]
_roles = itertools.count()


@pytest.fixture
def team_role() -> str:
    """team-a's role, under a name of this test's own. The operator keeps one assumed-role
    session per role ARN for its lifetime (botocore refreshes it before it expires); moto forgets
    the credentials it issued when it is reset after each test, and then reads them as its
    default account. A fresh ARN per test makes the operator assume the role again."""
    return f"{TEAM_ROLE}-{next(_roles)}"


@pytest.fixture
def more_namespaces(stack: Stack, namespace: str) -> Iterator[NamespaceFactory]:
    """Extra namespaces for one test, created with their annotations from the start (as a
    cluster admin would bind a team's namespace). Their objects are deleted before the
    `namespace` fixture resets moto."""
    made: list[str] = []

    def make(suffix: str, annotations: dict[str, str] | None = None) -> str:
        name = f"{namespace[:56]}-{suffix}"
        metadata: dict[str, Any] = {"name": name, "annotations": annotations or {}}
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
        # Server-side, under a manager of our own: ensure_namespace() (which adds the default
        # ServiceAccount) then leaves the annotations alone.
        stack.cp.kubectl(
            "apply",
            "--server-side",
            "--field-manager=tenancy-test",
            "-f",
            "-",
            input=yaml.safe_dump(ns),
        )
        stack.cp.ensure_namespace(name)
        made.append(name)
        return name

    yield make
    for name in made:
        stack.cp.kubectl(
            "delete", ",".join(KINDS), "--all", "-n", name, "--wait=false", check=False
        )

    def gone() -> bool:
        return all(
            not stack.cp.kubectl(
                "get", ",".join(KINDS), "-n", name, "-o", "name", check=False
            ).stdout.strip()
            for name in made
        )

    wait_for(gone, timeout=60, what=f"objects in {made} to be deleted")


def repository(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return gantry_object("EcrRepository", namespace, name, spec)


def pull_secret(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return gantry_object("EcrPullSecret", namespace, name, spec)


def team_client(stack: Stack, service: str, role: str = TEAM_ROLE) -> Any:
    """A boto3 client acting in the team's account, the way the operator gets there."""
    creds = stack.aws("sts").assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
    env = stack.moto.client_env()
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def repository_names(client: Any) -> set[str]:
    return {r["repositoryName"] for r in client.describe_repositories()["repositories"]}


def secrets_named(stack: Stack, name: str) -> list[str]:
    """namespace/name of every Secret called `name`, in every namespace."""
    out = stack.cp.kubectl("get", "secrets", "-A", "-o", "json")
    return [
        f"{s['metadata']['namespace']}/{s['metadata']['name']}"
        for s in json.loads(out.stdout)["items"]
        if s["metadata"]["name"] == name
    ]


def docker_login(stack: Stack, namespace: str, name: str) -> dict[str, Any]:
    out = stack.cp.kubectl("get", "secret", name, "-n", namespace, "-o", "json")
    data = json.loads(out.stdout)["data"][".dockerconfigjson"]
    auths: dict[str, Any] = json.loads(base64.b64decode(data))["auths"]
    return auths


# -- identity per namespace ------------------------------------------------------------------


def test_bound_namespace_acts_in_its_role_account_and_unbound_in_the_operators(
    stack: Stack, namespace: str, more_namespaces: NamespaceFactory, team_role: str
) -> None:
    team = more_namespaces("team", {ROLE_ANNOTATION: team_role})
    stack.apply(repository(team, "team-repo"))
    stack.apply(repository(namespace, "own-repo"))
    bound = wait_condition(stack, "ecrrepositories", team, "team-repo", "Ready")
    unbound = wait_condition(stack, "ecrrepositories", namespace, "own-repo", "Ready")

    assert bound["status"]["registryId"] == TEAM_ACCOUNT
    assert f":{TEAM_ACCOUNT}:repository/team-repo" in bound["status"]["arn"]
    assert unbound["status"]["registryId"] == OWN_ACCOUNT
    assert f":{OWN_ACCOUNT}:repository/own-repo" in unbound["status"]["arn"]
    # moto's own view: each repository in its account, and only there.
    assert repository_names(team_client(stack, "ecr", team_role)) == {"team-repo"}
    assert repository_names(stack.aws("ecr")) == {"own-repo"}


def test_pull_secret_of_a_bound_namespace_logs_in_with_the_team_role(
    stack: Stack, namespace: str, more_namespaces: NamespaceFactory, team_role: str
) -> None:
    team = more_namespaces("team", {ROLE_ANNOTATION: team_role})
    stack.apply(pull_secret(team, "ecr"))
    stack.apply(pull_secret(namespace, "ecr"))
    wait_condition(stack, "ecrpullsecrets", team, "ecr", "Ready")
    wait_condition(stack, "ecrpullsecrets", namespace, "ecr", "Ready")

    team_login = docker_login(stack, team, "ecr")
    own_login = docker_login(stack, namespace, "ecr")
    assert list(team_login) == [f"{TEAM_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"], team_login
    assert next(iter(team_login.values()))["password"] == f"{TEAM_ACCOUNT}-auth-token"
    assert list(own_login) == [f"{OWN_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"]
    assert next(iter(own_login.values()))["password"] == f"{OWN_ACCOUNT}-auth-token"


def test_an_object_cannot_choose_a_role_with_its_own_annotation(
    stack: Stack, namespace: str
) -> None:
    manifest = repository(namespace, "sneaky")
    manifest["metadata"]["annotations"] = {ROLE_ANNOTATION: TEAM_ROLE}
    stack.apply(manifest)
    obj = wait_condition(stack, "ecrrepositories", namespace, "sneaky", "Ready")
    assert obj["status"]["registryId"] == OWN_ACCOUNT
    assert repository_names(team_client(stack, "ecr")) == set()


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("EcrRepository", {}),
        ("EcrPullSecret", {}),
        ("EcsCluster", {}),
        ("EcsService", {"clusterName": "c", "taskDefinitionArn": TASK_DEFINITION}),
        ("CdkBootstrap", {"regions": ["us-east-1"], "allowAdministratorAccess": True}),
        ("ClusterEcrPullSecret", {"namespaces": ["team-a"]}),
    ],
)
def test_a_spec_cannot_name_a_role(
    stack: Stack, namespace: str, kind: str, spec: dict[str, Any]
) -> None:
    metadata = {"name": "chooser"}
    if kind != "ClusterEcrPullSecret":
        metadata["namespace"] = namespace
    manifest = {
        "apiVersion": GROUP_VERSION,
        "kind": kind,
        "metadata": metadata,
        "spec": {**spec, "roleArn": TEAM_ROLE},
    }
    out = stack.apply(manifest, check=False)
    assert 'unknown field "spec.roleArn"' in out, out


# -- writes stay in the object's namespace ---------------------------------------------------


def test_pull_secret_writes_only_in_its_own_namespace(
    stack: Stack, namespace: str, more_namespaces: NamespaceFactory
) -> None:
    other = more_namespaces("other")
    stack.apply(pull_secret(namespace, "only-here", serviceAccounts=["default"]))
    wait_condition(stack, "ecrpullsecrets", namespace, "only-here", "Ready")

    assert secrets_named(stack, "only-here") == [f"{namespace}/only-here"]
    for ns, expected in ((namespace, ["only-here"]), (other, [])):
        out = stack.cp.kubectl("get", "serviceaccount", "default", "-n", ns, "-o", "json")
        pulls = [e["name"] for e in json.loads(out.stdout).get("imagePullSecrets") or []]
        assert pulls == expected, (ns, pulls)


def test_pull_secret_cannot_point_at_another_namespace(stack: Stack, namespace: str) -> None:
    other_namespace = pull_secret(namespace, "elsewhere")
    other_namespace["spec"]["namespace"] = "kube-system"
    refused = [
        other_namespace,
        pull_secret(namespace, "elsewhere", serviceAccounts=["kube-system/default"]),
        pull_secret(namespace, "elsewhere", secretName="kube-system/ecr"),
    ]
    fragments = ['unknown field "spec.namespace"', "spec.serviceAccounts[0]", "spec.secretName"]
    for manifest, fragment in zip(refused, fragments, strict=True):
        out = stack.apply(manifest, check=False)
        assert fragment in out, out
    assert stack.get("ecrpullsecrets", namespace, "elsewhere") is None
    assert secrets_named(stack, "elsewhere") == []


# -- no adoption of another object's resources -----------------------------------------------


def test_repository_owned_by_another_object_is_not_adopted_even_when_asked(
    stack: Stack, namespace: str, more_namespaces: NamespaceFactory
) -> None:
    other = more_namespaces("thief")
    stack.apply(repository(namespace, "owner", repositoryName="team-shared"))
    wait_condition(stack, "ecrrepositories", namespace, "owner", "Ready")

    thief = repository(
        other, "thief", repositoryName="team-shared", adoption="Adopt", scanOnPush=True
    )
    thief["spec"]["tags"] = {"stolen": "yes"}
    stack.apply(thief)
    refused = wait_condition(stack, "ecrrepositories", other, "thief", "Stalled")
    synced = condition(refused, "Synced")
    assert synced["status"] == "False"
    assert synced["reason"] == "OwnedByOther"
    assert f"{namespace}/EcrRepository/owner" in synced["message"]

    ecr = stack.aws("ecr")
    repo = ecr.describe_repositories(repositoryNames=["team-shared"])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is False
    listed = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
    tags = {t["Key"]: t["Value"] for t in listed}
    assert tags["gantry.dev/owner"] == f"test/{namespace}/EcrRepository/owner"
    assert "stolen" not in tags

    # Deleting the refused object leaves the owner's repository alone.
    stack.delete("ecrrepositories", other, "thief")
    wait_for(lambda: stack.get("ecrrepositories", other, "thief") is None, what="thief gone")
    assert repository_names(ecr) == {"team-shared"}
    owner = stack.get("ecrrepositories", namespace, "owner")
    assert condition(owner, "Ready")["status"] == "True"


def test_cluster_owned_by_another_object_is_not_taken_over(
    stack: Stack, namespace: str, more_namespaces: NamespaceFactory
) -> None:
    other = more_namespaces("thief")
    cluster = {"apiVersion": GROUP_VERSION, "kind": "EcsCluster"}
    owner_meta = {"name": "owner", "namespace": namespace}
    stack.apply({**cluster, "metadata": owner_meta, "spec": {"clusterName": "team-cluster"}})
    wait_condition(stack, "ecsclusters", namespace, "owner", "Ready")
    thief_spec = {"clusterName": "team-cluster", "containerInsights": "enabled"}
    stack.apply({**cluster, "metadata": {"name": "thief", "namespace": other}, "spec": thief_spec})
    refused = wait_condition(stack, "ecsclusters", other, "thief", "Stalled")
    assert condition(refused, "Synced")["reason"] == "OwnedByOther"
    assert f"{namespace}/EcsCluster/owner" in condition(refused, "Synced")["message"]

    ecs = stack.aws("ecs")
    found = ecs.describe_clusters(clusters=["team-cluster"], include=["SETTINGS", "TAGS"])
    settings = {s["name"]: s["value"] for s in found["clusters"][0].get("settings") or []}
    assert settings.get("containerInsights") != "enabled"
    stack.delete("ecsclusters", other, "thief")
    wait_for(lambda: stack.get("ecsclusters", other, "thief") is None, what="thief gone")
    assert ecs.describe_clusters(clusters=["team-cluster"])["clusters"][0]["status"] == "ACTIVE"


def test_pull_secret_owned_by_another_object_is_not_overwritten(
    stack: Stack, namespace: str
) -> None:
    stack.apply(pull_secret(namespace, "first", secretName="shared-login"))
    wait_condition(stack, "ecrpullsecrets", namespace, "first", "Ready")
    stack.apply(pull_secret(namespace, "second", secretName="shared-login"))
    refused = wait_condition(stack, "ecrpullsecrets", namespace, "second", "Stalled")
    assert condition(refused, "Synced")["reason"] == "OwnedByOther"
    out = stack.cp.kubectl("get", "secret", "shared-login", "-n", namespace, "-o", "json")
    owner = json.loads(out.stdout)["metadata"]["annotations"]["gantry.dev/owner"]
    assert owner == f"test/{namespace}/EcrPullSecret/first"
