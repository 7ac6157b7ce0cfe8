"""EcrPullSecret and ClusterEcrPullSecret through the real API server, moto and the operator."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import GROUP_VERSION, Stack, condition, gantry_object, wait_condition, wait_for

pytestmark = pytest.mark.integration
PLURAL = "ecrpullsecrets"
CLUSTER_PLURAL = "clusterecrpullsecrets"
ACCOUNT = "123456789012"  # moto's account
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
# What moto answers GetAuthorizationToken with; none of it may leak.
PASSWORD = f"{ACCOUNT}-auth-token"
TOKEN = base64.b64encode(f"AWS:{PASSWORD}".encode()).decode()
FALLBACK_SECONDS = 6  # GANTRY_PULL_SECRET_FALLBACK_REFRESH in conftest
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ecr-pull-secrets.yaml"


def pull_secret(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return gantry_object("EcrPullSecret", namespace, name, spec)


def cluster_pull_secret(name: str, **spec: Any) -> dict[str, Any]:
    return gantry_object("ClusterEcrPullSecret", None, name, spec)


def secret(stack: Stack, namespace: str, name: str) -> dict[str, Any] | None:
    result = stack.cp.kubectl("get", "secret", name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def docker_config(found: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(base64.b64decode(found["data"][".dockerconfigjson"]))
    return config


def pull_secret_names(stack: Stack, namespace: str, account: str) -> list[str]:
    out = stack.cp.kubectl("get", "serviceaccount", account, "-n", namespace, "-o", "json")
    return [e["name"] for e in json.loads(out.stdout).get("imagePullSecrets") or []]


def derived(namespace: str, suffix: str) -> str:
    """Another namespace for the same test, within the 63-character limit."""
    return f"{namespace[:56]}-{suffix}"


def create_namespace(stack: Stack, name: str, labels: dict[str, str]) -> None:
    stack.cp.ensure_namespace(name)
    label_args = [f"{k}={v}" for k, v in labels.items()]
    stack.cp.kubectl("label", "namespace", name, "--overwrite", *label_args)


def token_calls(stack: Stack) -> int:
    return sum(
        count
        for (service, operation, _), count in stack.operator.aws_calls().items()
        if service == "ecr" and operation == "GetAuthorizationToken"
    )


def refreshed_after(stack: Stack, plural: str, namespace: str, name: str, since: str) -> str:
    def probe() -> str | None:
        status = (stack.get(plural, namespace, name) or {}).get("status") or {}
        last = status.get("lastRefreshTime")
        return last if last and last > since else None

    return wait_for(probe, timeout=30, what=f"{name} to refresh after {since}")


# -- EcrPullSecret ---------------------------------------------------------------------------


def test_secret_decodes_to_a_docker_login_for_the_registry(stack: Stack, namespace: str) -> None:
    stack.apply(pull_secret(namespace, "ecr-login"))
    obj = wait_condition(stack, PLURAL, namespace, "ecr-login", "Ready")

    found = secret(stack, namespace, "ecr-login")
    assert found is not None
    assert found["type"] == "kubernetes.io/dockerconfigjson"
    assert found["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gantry"
    owner = f"test/{namespace}/EcrPullSecret/ecr-login"
    assert found["metadata"]["annotations"]["gantry.dev/owner"] == owner
    login = docker_config(found)["auths"][REGISTRY]
    assert login["username"] == "AWS"
    assert login["password"] == PASSWORD
    assert base64.b64decode(login["auth"]).decode() == f"AWS:{PASSWORD}"

    status = obj["status"]
    assert status["registry"] == REGISTRY
    assert status["secretName"] == "ecr-login"
    assert status["expiresAt"].startswith("2015-")  # what moto answers, reported as is
    assert status["nextRefreshTime"] > status["lastRefreshTime"]


def test_registry_of_another_account_is_named_in_the_login(stack: Stack, namespace: str) -> None:
    stack.apply(
        pull_secret(
            namespace,
            "shared",
            secretName="shared-registry",
            registry={"accountId": "111122223333"},
        )
    )
    wait_condition(stack, PLURAL, namespace, "shared", "Ready")
    found = secret(stack, namespace, "shared-registry")
    assert found is not None
    assert list(docker_config(found)["auths"]) == ["111122223333.dkr.ecr.us-east-1.amazonaws.com"]


def test_token_is_refreshed_on_the_fallback_interval_and_logged_once(
    stack: Stack, namespace: str
) -> None:
    stack.apply(pull_secret(namespace, "fresh"))
    first = wait_condition(stack, PLURAL, namespace, "fresh", "Ready")["status"]["lastRefreshTime"]
    second = refreshed_after(stack, PLURAL, namespace, "fresh", first)
    refreshed_after(stack, PLURAL, namespace, "fresh", second)

    log = stack.operator.log_path.read_text(errors="replace")
    fallback_lines = [
        line for line in log.splitlines() if f"{namespace}/fresh" in line and "implausible" in line
    ]
    assert len(fallback_lines) == 1, fallback_lines


def test_token_calls_stay_within_the_refresh_schedule(stack: Stack, namespace: str) -> None:
    stack.apply(pull_secret(namespace, "bounded"))
    wait_condition(stack, PLURAL, namespace, "bounded", "Ready")
    before = token_calls(stack)
    window = 30
    time.sleep(window)  # a window of timer passes to count calls over, not a timing assertion
    # One object refreshing every FALLBACK_SECONDS; one call of slack for a pass in flight.
    assert token_calls(stack) - before <= window // FALLBACK_SECONDS + 1


def test_service_accounts_gain_the_secret_and_lose_it_again(stack: Stack, namespace: str) -> None:
    stack.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "builder", "namespace": namespace},
            "imagePullSecrets": [{"name": "other-registry"}],
        }
    )
    stack.apply(pull_secret(namespace, "regcred", serviceAccounts=["default", "builder"]))
    obj = wait_condition(stack, PLURAL, namespace, "regcred", "Ready")
    assert obj["status"]["serviceAccounts"] == ["builder", "default"]
    assert pull_secret_names(stack, namespace, "builder") == ["other-registry", "regcred"]
    assert pull_secret_names(stack, namespace, "default") == ["regcred"]

    # Dropping an account from the spec takes the entry back, and only that entry.
    stack.apply(pull_secret(namespace, "regcred", serviceAccounts=["default"]))
    wait_for(
        lambda: pull_secret_names(stack, namespace, "builder") == ["other-registry"],
        what="builder to lose regcred",
    )

    stack.delete(PLURAL, namespace, "regcred")
    wait_for(lambda: stack.get(PLURAL, namespace, "regcred") is None, what="object gone")
    assert pull_secret_names(stack, namespace, "default") == []
    assert pull_secret_names(stack, namespace, "builder") == ["other-registry"]
    assert secret(stack, namespace, "regcred") is None


def test_deletion_takes_back_only_the_entries_this_object_added(
    stack: Stack, namespace: str
) -> None:
    # "app" already pulled with "shared" (another tool's Secret, or another object's) and
    # with "mine" (put there by hand before the object existed).
    account = {"name": "app", "namespace": namespace}
    entries = [{"name": "shared"}, {"name": "mine"}]
    stack.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": account,
            "imagePullSecrets": entries,
        }
    )
    stack.apply(pull_secret(namespace, "owner", secretName="shared"))
    wait_condition(stack, PLURAL, namespace, "owner", "Ready")
    stack.apply(pull_secret(namespace, "loser", secretName="shared", serviceAccounts=["app"]))
    wait_condition(stack, PLURAL, namespace, "loser", "Stalled")  # OwnedByOther
    stack.apply(pull_secret(namespace, "mine", serviceAccounts=["app"]))
    wait_condition(stack, PLURAL, namespace, "mine", "Ready")

    for name in ("loser", "mine"):
        stack.delete(PLURAL, namespace, name)
        wait_for(lambda n=name: stack.get(PLURAL, namespace, n) is None, what=f"{name} gone")
    assert pull_secret_names(stack, namespace, "app") == ["shared", "mine"]


def test_service_account_created_later_gets_the_secret(stack: Stack, namespace: str) -> None:
    stack.apply(pull_secret(namespace, "later", serviceAccounts=["deployer"]))
    waiting = wait_condition(stack, PLURAL, namespace, "later", "Reconciling")
    assert condition(waiting, "Reconciling")["reason"] == "ServiceAccountMissing"
    assert secret(stack, namespace, "later") is not None  # written meanwhile

    stack.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "deployer", "namespace": namespace},
        }
    )
    wait_condition(stack, PLURAL, namespace, "later", "Ready")
    assert pull_secret_names(stack, namespace, "deployer") == ["later"]


def test_second_object_with_the_same_secret_name_is_refused_and_the_first_keeps_it(
    stack: Stack, namespace: str
) -> None:
    stack.apply(pull_secret(namespace, "first", secretName="shared"))
    wait_condition(stack, PLURAL, namespace, "first", "Ready")
    stack.apply(pull_secret(namespace, "second", secretName="shared"))

    stalled = wait_condition(stack, PLURAL, namespace, "second", "Stalled")
    synced = condition(stalled, "Synced")
    assert synced["reason"] == "OwnedByOther"
    assert "was not written by this object" in synced["message"]
    assert "not managed by Gantry" not in synced["message"]
    first = stack.get(PLURAL, namespace, "first")
    assert condition(first, "Ready")["status"] == "True"
    owner = (secret(stack, namespace, "shared") or {})["metadata"]["annotations"]
    assert owner["gantry.dev/owner"].endswith("/EcrPullSecret/first")


def test_foreign_secret_of_the_same_name_is_left_alone_and_reported(
    stack: Stack, namespace: str
) -> None:
    stack.cp.kubectl(
        "create", "secret", "generic", "regcred", "-n", namespace, "--from-literal=keep=me"
    )
    stack.apply(pull_secret(namespace, "regcred"))
    stalled = wait_condition(stack, PLURAL, namespace, "regcred", "Stalled")
    assert condition(stalled, "Synced")["reason"] == "OwnedByOther"
    assert stalled["status"]["conflicts"] == [namespace]
    events = wait_for(
        lambda: [e for e in stack.events(namespace, "regcred") if e["reason"] == "OwnedByOther"],
        what="OwnedByOther event",
    )
    assert events[0]["involvedObject"]["apiVersion"] == GROUP_VERSION

    stack.delete(PLURAL, namespace, "regcred")
    wait_for(lambda: stack.get(PLURAL, namespace, "regcred") is None, what="object gone")
    found = secret(stack, namespace, "regcred")
    assert found is not None
    assert found["data"] == {"keep": base64.b64encode(b"me").decode()}


def test_invalid_specs_are_refused_by_the_api_server(stack: Stack, namespace: str) -> None:
    refused = [
        pull_secret(namespace, "early", refreshBefore="12h"),
        pull_secret(namespace, "bad-name", secretName="Not_A_Name"),
        cluster_pull_secret("nowhere"),
        cluster_pull_secret(
            "no-values", namespaceSelector={"matchExpressions": [{"key": "a", "operator": "In"}]}
        ),
    ]
    for manifest in refused:
        result = stack.cp.kubectl(
            "create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(manifest), check=False
        )
        assert result.returncode != 0, manifest

    stack.apply(pull_secret(namespace, "fixed-name"))
    out = stack.apply(pull_secret(namespace, "fixed-name", secretName="other"), check=False)
    assert "immutable" in out


# -- ClusterEcrPullSecret --------------------------------------------------------------------


def test_cluster_secret_follows_namespaces_as_they_come_and_go(
    stack: Stack, namespace: str
) -> None:
    team = {"pull-test": namespace}
    first, second, other = (derived(namespace, s) for s in ("a", "b", "c"))
    create_namespace(stack, first, team)
    create_namespace(stack, second, team)
    create_namespace(stack, other, {"pull-test": "someone-else"})
    stack.apply(
        cluster_pull_secret("team-pull", secretName="ecr", namespaceSelector={"matchLabels": team})
    )
    obj = wait_condition(stack, CLUSTER_PLURAL, "default", "team-pull", "Ready")
    assert obj["status"]["namespaces"] == [first, second]
    assert docker_config(secret(stack, first, "ecr") or {})["auths"][REGISTRY]["username"] == "AWS"
    assert secret(stack, other, "ecr") is None

    # A new matching namespace is served by the Namespace watch, not the next timer pass.
    newcomer = derived(namespace, "new")
    create_namespace(stack, newcomer, team)
    wait_for(lambda: secret(stack, newcomer, "ecr"), timeout=10, what="Secret in new namespace")
    log = stack.operator.log_path.read_text(errors="replace")
    assert f"namespace {newcomer} changed whether it is served" in log
    meta = json.loads(stack.cp.kubectl("get", "namespace", newcomer, "-o", "json").stdout)[
        "metadata"
    ]
    assert not meta.get("finalizers")  # the watch leaves Namespaces untouched
    assert not [k for k in meta.get("annotations") or {} if k.startswith("gantry.dev/")]

    # One that stops matching loses it.
    stack.cp.kubectl("label", "namespace", second, "--overwrite", "pull-test=moved")
    wait_for(lambda: secret(stack, second, "ecr") is None, timeout=10, what="Secret removed")
    wait_for(
        lambda: (
            (stack.get(CLUSTER_PLURAL, "default", "team-pull") or {})
            .get("status", {})
            .get("namespaces")
            == [first, newcomer]
        ),
        what="status to list the served namespaces",
    )


def test_cluster_secret_skips_a_foreign_secret_and_removes_only_its_own(
    stack: Stack, namespace: str
) -> None:
    named = [derived(namespace, "x"), derived(namespace, "y")]
    for name in named:
        stack.cp.ensure_namespace(name)
    stack.cp.kubectl("create", "secret", "generic", "ecr", "-n", named[1], "--from-literal=k=v")
    stack.apply(cluster_pull_secret("by-name", secretName="ecr", namespaces=named))
    stalled = wait_condition(stack, CLUSTER_PLURAL, "default", "by-name", "Stalled")
    assert condition(stalled, "Synced")["reason"] == "OwnedByOther"
    assert stalled["status"]["conflicts"] == [named[1]]
    assert stalled["status"]["namespaces"] == [named[0]]
    events = wait_for(
        lambda: [e for e in stack.events("default", "by-name") if e["reason"] == "OwnedByOther"],
        what="OwnedByOther event",
    )
    assert named[1] in events[0]["message"]

    stack.delete(CLUSTER_PLURAL, "default", "by-name")
    wait_for(lambda: stack.get(CLUSTER_PLURAL, "default", "by-name") is None, what="object gone")
    assert secret(stack, named[0], "ecr") is None
    assert secret(stack, named[1], "ecr") is not None


def test_example_manifests_become_ready(stack: Stack, namespace: str) -> None:
    stack.cp.kubectl("label", "namespace", namespace, "pulls-from-ecr=true")
    stack.cp.kubectl("apply", "-n", namespace, "-f", str(EXAMPLE))
    wait_condition(stack, PLURAL, namespace, "ecr", "Ready")
    served = wait_condition(stack, CLUSTER_PLURAL, "default", "platform-registry", "Ready")
    assert namespace in served["status"]["namespaces"]
    assert secret(stack, namespace, "ecr-shop") is not None
    assert secret(stack, namespace, "ecr-platform") is not None
    assert pull_secret_names(stack, namespace, "default") == ["ecr-shop"]


# -- secrecy ---------------------------------------------------------------------------------


def test_no_token_appears_in_log_events_or_status(stack: Stack, namespace: str) -> None:
    create_namespace(stack, derived(namespace, "s"), {"secrecy-test": namespace})
    stack.apply(pull_secret(namespace, "quiet", serviceAccounts=["default"]))
    stack.apply(
        cluster_pull_secret("quiet", namespaceSelector={"matchLabels": {"secrecy-test": namespace}})
    )
    first = wait_condition(stack, PLURAL, namespace, "quiet", "Ready")["status"]["lastRefreshTime"]
    wait_condition(stack, CLUSTER_PLURAL, "default", "quiet", "Ready")
    refreshed_after(stack, PLURAL, namespace, "quiet", first)

    found = secret(stack, namespace, "quiet")
    assert found is not None
    login = docker_config(found)["auths"][REGISTRY]
    leaks = {PASSWORD, TOKEN, login["auth"], found["data"][".dockerconfigjson"]}

    events = stack.cp.kubectl("get", "events", "-A", "-o", "json").stdout
    statuses = stack.cp.kubectl(
        "get", f"{PLURAL},{CLUSTER_PLURAL}", "-A", "-o", "jsonpath={.items[*].status}"
    ).stdout
    log = stack.operator.log_path.read_text(errors="replace")
    for where, text in (("log", log), ("events", events), ("status", statuses)):
        assert not [leak for leak in leaks if leak in text], f"token material in {where}"
