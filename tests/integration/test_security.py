"""Secret hygiene and the operator's Kubernetes identity.

Nothing secret may reach the operator's log, any Event or any gantry.dev status: not the ECR
authorization token nor its decoded password, not the data of the Secrets the pull-secret kinds
write, not AWS credentials, not the operator's own Kubernetes token. The scan runs twice: in
the test here (covering every test that ran before this module), and once more when the
session ends (a session-scoped fixture's teardown), so modules that sort after this one are
covered too; a finding then is reported as an error in the teardown of the last test.

AWS keys: the operator runs with moto's dummy credentials ("testing" for the key id, secret
and session token, see MotoServer.client_env()), a word too common to scan for, and
hack/devstack/moto.py is not changed to make them distinctive. So instead of those values the
scan looks for the shapes credentials have when printed: access key ids (AKIA/ASIA...), moto's
session-token prefix (the assumed-role credentials of bound namespaces carry real-looking
ones), SigV4 `Authorization:` headers and `Credential=` scopes, and the key names
(`aws_secret_access_key`, `SecretAccessKey`, `X-Amz-Security-Token`, ...).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import yaml
from support import GROUP_VERSION, KINDS, Stack, wait_condition, wait_for

pytestmark = pytest.mark.integration

OPERATOR = "system:serviceaccount:gantry-system:gantry"
# Accounts the suite logs in to: moto's own, the tenancy tests' team role, a shared registry.
ACCOUNTS = ("123456789012", "111111111111", "111122223333")

# Shapes of secrets that must never be printed, whatever their value.
PATTERNS = {
    "ECR password": re.compile(r"\b\d{12}-auth-token\b"),
    "ECR token": re.compile(r"QVdTO[A-Za-z0-9+/]{10,}"),  # base64 of "AWS:" + more
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),
    "STS session token": re.compile(r"FQoGZXIvYXdzEBYaD"),
    "SigV4 Authorization header": re.compile(r"AWS4-HMAC-SHA256"),
    "SigV4 credential scope": re.compile(r"Credential="),
    "secret key name": re.compile(
        r"aws_secret_access_key|SecretAccessKey|AWS_SECRET_ACCESS_KEY|aws_session_token"
        r"|X-Amz-Security-Token",
        re.IGNORECASE,
    ),
    "bearer token": re.compile(r"Bearer\s+[A-Za-z0-9._-]{20,}"),
    "docker config": re.compile(r"dockerconfigjson\"?\s*[:=]\s*\"?[A-Za-z0-9+/=]{20,}"),
}


@dataclass
class Needles:
    """Exact values to look for, learned while the suite runs."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, what: str, value: str) -> None:
        if len(value) >= 8:  # anything shorter would match by accident
            self.values[value] = what


def scan(stack: Stack, needles: Needles) -> list[str]:
    """Every place a secret shows up, as 'source: what: context'."""
    sources = {"operator log": stack.operator.log_path.read_text(errors="replace")}
    events = stack.cp.kubectl("get", "events", "-A", "-o", "json")
    for event in json.loads(events.stdout)["items"]:
        meta = event["metadata"]
        sources[f"Event {meta['namespace']}/{meta['name']}"] = json.dumps(event)
    for plural in KINDS:
        out = stack.cp.kubectl("get", plural, "-A", "-o", "json")
        for item in json.loads(out.stdout)["items"]:
            meta = item["metadata"]
            where = f"{plural} {meta.get('namespace', '')}/{meta['name']} status"
            sources[where] = json.dumps(item.get("status") or {})

    findings = []
    for source, text in sources.items():
        for value, what in needles.values.items():
            at = text.find(value)
            if at >= 0:
                findings.append(f"{source}: {what}: ...{text[max(0, at - 80) : at + 40]}...")
        for what, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                context = text[max(0, match.start() - 80) : match.end() + 20]
                findings.append(f"{source}: {what}: ...{context}...")
    return findings


@pytest.fixture(scope="session")
def needles(stack: Stack) -> Iterator[Needles]:
    """What to look for; at the end of the session, one last scan of everything."""
    found = Needles()
    yield found
    findings = scan(stack, found)
    assert not findings, "secrets found at the end of the session:\n" + "\n".join(findings)


def learn_tokens(stack: Stack, needles: Needles) -> None:
    """The tokens moto hands out (deterministic per account) and their decoded passwords."""
    ecr = stack.aws("ecr")
    for account in ACCOUNTS:
        data = ecr.get_authorization_token(registryIds=[account])["authorizationData"][0]
        token = data["authorizationToken"]
        needles.add(f"ECR token of {account}", token)
        password = base64.b64decode(token).decode().split(":", 1)[1]
        needles.add(f"ECR password of {account}", password)


def learn_kube_token(stack: Stack, needles: Needles) -> None:
    config = yaml.safe_load(stack.operator.kubeconfig.read_text())
    for user in config.get("users") or []:
        token = (user.get("user") or {}).get("token")
        if token:
            needles.add("the operator's Kubernetes token", token)


def learn_secret_data(stack: Stack, namespace: str, name: str, needles: Needles) -> None:
    out = stack.cp.kubectl("get", "secret", name, "-n", namespace, "-o", "json")
    encoded = json.loads(out.stdout)["data"][".dockerconfigjson"]
    needles.add(f"data of Secret {name}", encoded)
    decoded = base64.b64decode(encoded).decode()
    needles.add(f"decoded data of Secret {name}", decoded)
    for registry, login in json.loads(decoded)["auths"].items():
        needles.add(f"auth for {registry}", login["auth"])
        needles.add(f"password for {registry}", login["password"])


def test_no_secret_in_log_events_or_status(stack: Stack, namespace: str, needles: Needles) -> None:
    learn_tokens(stack, needles)
    learn_kube_token(stack, needles)
    # Make the operator handle tokens and Secret data in this session, whatever else ran.
    stack.apply(
        {
            "apiVersion": GROUP_VERSION,
            "kind": "EcrPullSecret",
            "metadata": {"name": "scan-login", "namespace": namespace},
            "spec": {"serviceAccounts": ["default"], "registry": {"accountId": ACCOUNTS[2]}},
        }
    )
    stack.apply(
        {
            "apiVersion": GROUP_VERSION,
            "kind": "ClusterEcrPullSecret",
            "metadata": {"name": "scan-cluster-login"},
            "spec": {"namespaces": [namespace]},
        }
    )
    wait_condition(stack, "ecrpullsecrets", namespace, "scan-login", "Ready")
    wait_condition(stack, "clusterecrpullsecrets", "default", "scan-cluster-login", "Ready")
    learn_secret_data(stack, namespace, "scan-login", needles)
    learn_secret_data(stack, namespace, "scan-cluster-login", needles)
    # One refresh on the fallback interval, so the refresh path is covered too.
    first = (stack.get("ecrpullsecrets", namespace, "scan-login") or {})["status"]
    wait_for(
        lambda: (
            (stack.get("ecrpullsecrets", namespace, "scan-login") or {})
            .get("status", {})
            .get("lastRefreshTime", "")
            > first["lastRefreshTime"]
        ),
        timeout=30,
        what="a token refresh",
    )

    assert len(needles.values) >= 10
    findings = scan(stack, needles)
    assert not findings, "\n".join(findings)


def test_the_scan_finds_what_it_looks_for(stack: Stack, needles: Needles) -> None:
    """A control: the same scan over a text that leaks does find the leaks."""
    learn_tokens(stack, needles)
    token = next(v for v, what in needles.values.items() if what.startswith("ECR token"))
    leaky = (
        f"token={token} password=123456789012-auth-token "
        "Authorization: AWS4-HMAC-SHA256 Credential=ASIAQWERTYUIOPASDFGH/20261203/us-east-1"
    )
    hits = {what for what, pattern in PATTERNS.items() if pattern.search(leaky)}
    assert {"ECR password", "ECR token", "AWS access key id", "SigV4 Authorization header"} <= hits
    assert token in leaky


# -- what the operator's identity may not do ------------------------------------------------

FORBIDDEN: list[tuple[str, ...]] = [
    ("get", "secrets", "--all-namespaces"),
    ("list", "secrets", "--all-namespaces"),
    ("watch", "secrets", "--all-namespaces"),
    ("get", "secrets", "-n", "kube-system"),
    ("delete", "namespaces"),
    ("create", "namespaces"),
    ("create", "pods", "--all-namespaces"),
    ("create", "pods/exec", "--all-namespaces"),
    ("create", "deployments.apps", "--all-namespaces"),
    ("create", "clusterrolebindings"),
    ("create", "rolebindings", "--all-namespaces"),
    ("escalate", "clusterroles"),
    ("bind", "clusterroles"),
    ("impersonate", "serviceaccounts", "--all-namespaces"),
    ("create", "serviceaccounts/token", "--all-namespaces"),
    ("update", "customresourcedefinitions.apiextensions.k8s.io"),
    ("delete", "ecrrepositories.gantry.dev", "--all-namespaces"),
    ("update", "configmaps", "--all-namespaces"),
]
# A control: what it must be able to do, so a "no" above is not a broken check.
ALLOWED: list[tuple[str, ...]] = [
    ("create", "secrets", "--all-namespaces"),
    ("patch", "ecrrepositories.gantry.dev/status", "--all-namespaces"),
    ("list", "namespaces"),
]


def can_i(stack: Stack, *args: str) -> str:
    result = stack.cp.kubectl("auth", "can-i", *args, f"--as={OPERATOR}", check=False)
    return result.stdout.strip()


@pytest.mark.parametrize("args", FORBIDDEN, ids=[" ".join(a) for a in FORBIDDEN])
def test_operator_identity_may_not(stack: Stack, args: tuple[str, ...]) -> None:
    assert can_i(stack, *args) == "no"


@pytest.mark.parametrize("args", ALLOWED, ids=[" ".join(a) for a in ALLOWED])
def test_operator_identity_may(stack: Stack, args: tuple[str, ...]) -> None:
    assert can_i(stack, *args) == "yes"
