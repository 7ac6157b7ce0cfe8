"""Pull-secret decisions: the Secret's content, the refresh schedule, namespace matching and
service-account entries, all as plain data (no cluster, no AWS, no clock)."""

import base64
import datetime as dt
import json
from typing import Any

import pytest
from gantry.pullsecrets.diff import (
    ADDED_ANNOTATION,
    MIN_REFRESH,
    Token,
    attach,
    decode_token,
    detach,
    docker_config,
    namespace_changes_serving,
    new_conflicts,
    parse_added,
    parse_duration,
    refresh_due,
    registry_host,
    schedule,
    secret_data,
    secret_manifest,
    selector_matches,
    service_accounts_to_release,
    stale_namespaces,
    target_namespaces,
    with_pull_secret,
    without_pull_secret,
)
from gantry.pullsecrets.models import (
    ClusterEcrPullSecretSpec,
    EcrPullSecretSpec,
    NamespaceSelector,
)

ISSUED = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
ENDPOINT = "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"
FALLBACK = dt.timedelta(hours=6)


def token(lifetime: dt.timedelta = dt.timedelta(hours=12), **fields: Any) -> Token:
    values: dict[str, Any] = {
        "username": "AWS",
        "password": "s3cret-password",
        "proxy_endpoint": ENDPOINT,
        "expires_at": ISSUED + lifetime,
        "issued_at": ISSUED,
        **fields,
    }
    return Token(**values)


def cluster_spec(**fields: Any) -> ClusterEcrPullSecretSpec:
    return ClusterEcrPullSecretSpec.model_validate(fields)


# -- the Secret ------------------------------------------------------------------------------


def test_token_decodes_into_user_and_password() -> None:
    encoded = base64.b64encode(b"AWS:pass:with:colons").decode()
    assert decode_token(encoded) == ("AWS", "pass:with:colons")


@pytest.mark.parametrize("bad", ["not base64 at all!", base64.b64encode(b"no-colon").decode()])
def test_malformed_token_error_quotes_nothing_of_it(bad: str) -> None:
    with pytest.raises(ValueError, match="authorization token") as caught:
        decode_token(bad)
    assert bad not in str(caught.value)


def test_token_repr_hides_the_password() -> None:
    assert "s3cret" not in repr(token())


@pytest.mark.parametrize(
    ("account", "host"),
    [
        (None, "123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
        ("111122223333", "111122223333.dkr.ecr.eu-west-1.amazonaws.com"),
    ],
)
def test_registry_host_names_the_requested_account(account: str | None, host: str) -> None:
    assert registry_host(ENDPOINT, account) == host


def test_registry_host_accepts_an_endpoint_without_scheme() -> None:
    assert registry_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", None).endswith(".cn")


def test_docker_config_logs_in_to_the_host_with_user_and_password() -> None:
    config = json.loads(docker_config("registry.example", token()))
    login = config["auths"]["registry.example"]
    assert login["username"] == "AWS"
    assert login["password"] == "s3cret-password"
    assert base64.b64decode(login["auth"]).decode() == "AWS:s3cret-password"


def test_secret_is_a_marked_dockerconfigjson_secret() -> None:
    data = secret_data("registry.example", token())
    manifest = secret_manifest("regcred", "team-a", "c/team-a/EcrPullSecret/x", data)
    assert manifest["type"] == "kubernetes.io/dockerconfigjson"
    assert manifest["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "gantry"}
    assert manifest["metadata"]["annotations"] == {"gantry.dev/owner": "c/team-a/EcrPullSecret/x"}
    decoded = json.loads(base64.b64decode(manifest["data"][".dockerconfigjson"]))
    assert list(decoded["auths"]) == ["registry.example"]


def test_same_token_gives_the_same_data_so_rewrites_change_nothing() -> None:
    assert secret_data("r", token()) == secret_data("r", token())


# -- refresh ---------------------------------------------------------------------------------


def test_refresh_is_half_way_through_the_token_lifetime_by_default() -> None:
    plan = schedule(token(), None, FALLBACK)
    assert plan.refresh_at == ISSUED + dt.timedelta(hours=6)
    assert not plan.fallback


def test_refresh_before_moves_the_refresh_ahead_of_expiry() -> None:
    plan = schedule(token(), dt.timedelta(hours=2), FALLBACK)
    assert plan.refresh_at == ISSUED + dt.timedelta(hours=10)


def test_refresh_before_longer_than_the_lifetime_never_makes_a_tight_loop() -> None:
    plan = schedule(token(dt.timedelta(minutes=30)), dt.timedelta(hours=11), FALLBACK)
    assert plan.refresh_at == ISSUED + MIN_REFRESH


@pytest.mark.parametrize(
    "expires_at",
    [
        dt.datetime(2015, 1, 1, tzinfo=dt.UTC),  # what an emulator answers
        ISSUED + dt.timedelta(seconds=30),  # too short to plan from
        ISSUED + dt.timedelta(days=30),  # not an ECR token's lifetime
    ],
)
def test_implausible_expiry_falls_back_to_the_interval(expires_at: dt.datetime) -> None:
    plan = schedule(token(expires_at=expires_at), None, FALLBACK)
    assert plan.fallback
    assert plan.refresh_at == ISSUED + FALLBACK


def test_refresh_is_due_from_the_planned_moment_on() -> None:
    plan = schedule(token(), None, FALLBACK)
    assert not refresh_due(plan, ISSUED + dt.timedelta(hours=5, minutes=59))
    assert refresh_due(plan, ISSUED + dt.timedelta(hours=6))


@pytest.mark.parametrize(
    ("text", "seconds"), [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("45s", 45)]
)
def test_durations_parse_as_the_crd_admits_them(text: str, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2", "1d", "h", "1.5h"])
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


# -- namespaces ------------------------------------------------------------------------------

LABELS = {"team": "a", "env": "prod"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({}, True),
        ({"matchLabels": {"team": "a"}}, True),
        ({"matchLabels": {"team": "b"}}, False),
        ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}, True),
        ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, False),
        (
            {
                "matchLabels": {"team": "a"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}],
            },
            False,
        ),
    ],
)
def test_selector_follows_kubernetes_label_selector_rules(
    selector: dict[str, Any], matches: bool
) -> None:
    assert selector_matches(NamespaceSelector.model_validate(selector), LABELS) is matches


def test_targets_are_named_or_selected_namespaces_that_exist() -> None:
    spec = cluster_spec(
        namespaces=["named", "not-created-yet"], namespaceSelector={"matchLabels": {"team": "a"}}
    )
    existing = {"named": {}, "selected": {"team": "a"}, "other": {"team": "b"}}
    assert target_namespaces(spec, existing) == ["named", "selected"]


def test_names_alone_select_nothing_else() -> None:
    spec = cluster_spec(namespaces=["named"])
    assert target_namespaces(spec, {"named": {}, "other": {"team": "a"}}) == ["named"]


def test_namespaces_no_longer_targeted_are_stale() -> None:
    assert stale_namespaces(["a", "b", "c"], ["a", "c", "d"]) == ["b"]


@pytest.mark.parametrize(
    ("known", "labels", "exists", "needed"),
    [
        ([], {"team": "a"}, True, True),  # new match
        (["ns"], {"team": "a"}, True, False),  # already served
        (["ns"], {"team": "b"}, True, True),  # relabelled away
        (["ns"], {"team": "a"}, False, True),  # deleted or terminating
        ([], {"team": "b"}, True, False),  # never concerned
    ],
)
def test_namespace_events_call_for_a_pass_only_when_serving_changes(
    known: list[str], labels: dict[str, str], exists: bool, needed: bool
) -> None:
    spec = cluster_spec(namespaceSelector={"matchLabels": {"team": "a"}})
    assert namespace_changes_serving(spec, known, "ns", labels, exists) is needed


def test_only_new_conflicts_are_reported_again() -> None:
    assert new_conflicts(["a"], ["a", "b"]) == ["b"]
    assert new_conflicts(["a", "b"], ["a"]) == []


# -- service accounts ------------------------------------------------------------------------


def test_pull_secret_is_added_once_after_existing_entries() -> None:
    assert with_pull_secret([{"name": "other"}], "regcred") == [
        {"name": "other"},
        {"name": "regcred"},
    ]
    assert with_pull_secret([{"name": "regcred"}], "regcred") is None
    assert with_pull_secret(None, "regcred") == [{"name": "regcred"}]


def test_pull_secret_removal_keeps_other_entries() -> None:
    assert without_pull_secret([{"name": "other"}, {"name": "regcred"}], "regcred") == [
        {"name": "other"}
    ]
    assert without_pull_secret([{"name": "other"}], "regcred") is None


def test_accounts_dropped_from_the_spec_are_released() -> None:
    assert service_accounts_to_release(["a"], ["a", "b"]) == ["b"]


def test_spec_region_is_the_registry_region() -> None:
    spec = EcrPullSecretSpec.model_validate({"registry": {"region": "eu-west-1"}})
    assert spec.region == "eu-west-1"
    assert EcrPullSecretSpec.model_validate({}).region is None


def test_an_entry_is_marked_as_added_by_its_object_and_only_that_object_takes_it_back() -> None:
    change = attach([{"name": "other"}], {}, "regcred", "ns/EcrPullSecret/a")
    assert change == ([{"name": "other"}, {"name": "regcred"}], {"regcred": "ns/EcrPullSecret/a"})
    entries, added = change
    assert detach(entries, added, "regcred", "ns/EcrPullSecret/b") is None
    assert detach(entries, added, "regcred", "ns/EcrPullSecret/a") == ([{"name": "other"}], {})


def test_an_entry_someone_else_put_there_is_neither_marked_nor_taken() -> None:
    assert attach([{"name": "regcred"}], {}, "regcred", "ns/EcrPullSecret/a") is None
    assert detach([{"name": "regcred"}], {}, "regcred", "ns/EcrPullSecret/a") is None


def test_unreadable_marks_are_no_marks() -> None:
    assert parse_added({ADDED_ANNOTATION: "not json"}) == {}
    assert parse_added({ADDED_ANNOTATION: '{"regcred": "x"}'}) == {"regcred": "x"}
    assert parse_added(None) == {}
