"""The token cache in the pull-secret reconcile: AWS is called once per refresh, not per pass,
and an implausible expiry is logged once. A fake ECR client and a settable clock stand in."""

import base64
import datetime as dt
import logging
from typing import Any

import pytest
from gantry.core.aws import Identity
from gantry.core.ownership import Owner
from gantry.core.reconcile import Pass
from gantry.pullsecrets import reconcile
from gantry.pullsecrets.models import EcrPullSecretSpec

START = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
TOKEN = base64.b64encode(b"AWS:password").decode()


class FakeEcr:
    def __init__(self, lifetime: dt.timedelta | None) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.now = START

    def get_authorization_token(self) -> dict[str, Any]:
        self.calls += 1
        expires = self.now + self.lifetime if self.lifetime else dt.datetime(2015, 1, 1)
        return {
            "authorizationData": [
                {
                    "authorizationToken": TOKEN,
                    "expiresAt": expires,
                    "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
                }
            ]
        }


class FakeClients:
    def __init__(self, ecr: FakeEcr) -> None:
        self.ecr = ecr

    def get(self, service: str, identity: Identity) -> FakeEcr:
        return self.ecr


def make_pass(ecr: FakeEcr, uid: str) -> Pass:
    body = {"metadata": {"name": "regcred", "namespace": "team", "uid": uid, "generation": 1}}
    owner = Owner("test", "team", "EcrPullSecret", "regcred", uid)
    logger = logging.getLogger("test.pullsecrets")
    clients: Any = FakeClients(ecr)
    return Pass(body, logger, clients, Identity("us-east-1"), owner, False, lambda _: None)


@pytest.fixture
def ecr(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> FakeEcr:
    fake = FakeEcr(getattr(request, "param", dt.timedelta(hours=12)))
    monkeypatch.setattr(reconcile, "clock", lambda: fake.now)
    return fake


def test_passes_reuse_the_token_until_half_its_lifetime(ecr: FakeEcr) -> None:
    work, spec = make_pass(ecr, "uid-1"), EcrPullSecretSpec()
    for minutes in (0, 10, 359):
        ecr.now = START + dt.timedelta(minutes=minutes)
        reconcile.current_token(work, spec)
    assert ecr.calls == 1
    ecr.now = START + dt.timedelta(hours=6)
    token, plan = reconcile.current_token(work, spec)
    assert ecr.calls == 2
    assert plan.refresh_at == ecr.now + dt.timedelta(hours=6)
    assert token.issued_at == ecr.now


@pytest.mark.parametrize("ecr", [None], indirect=True)
def test_implausible_expiry_refreshes_on_the_fallback_and_is_logged_once(
    ecr: FakeEcr, caplog: pytest.LogCaptureFixture
) -> None:
    work, spec = make_pass(ecr, "uid-2"), EcrPullSecretSpec()
    with caplog.at_level(logging.INFO, logger="test.pullsecrets"):
        for step in range(3):
            ecr.now = START + step * reconcile.FALLBACK_REFRESH
            reconcile.current_token(work, spec)
            reconcile.current_token(work, spec)  # a second pass right after: no call
    assert ecr.calls == 3
    warnings = [r for r in caplog.records if "implausible" in r.getMessage()]
    assert len(warnings) == 1
    assert "password" not in caplog.text
    assert TOKEN not in caplog.text


def test_forgotten_object_fetches_anew(ecr: FakeEcr) -> None:
    work, spec = make_pass(ecr, "uid-3"), EcrPullSecretSpec()
    reconcile.current_token(work, spec)
    reconcile.TOKENS.forget("uid-3")
    reconcile.current_token(work, spec)
    assert ecr.calls == 2


def test_a_refresh_due_before_the_next_drift_tick_is_woken_for(ecr: FakeEcr) -> None:
    work, spec = make_pass(ecr, "uid-4"), EcrPullSecretSpec(refreshBefore="1m")
    _, plan = reconcile.current_token(work, spec)
    assert reconcile.wake_for_refresh(plan) is None  # hours away: the drift timer suffices
    interval = dt.timedelta(seconds=reconcile.SETTINGS.drift_interval)
    ecr.now = plan.refresh_at - interval / 2
    assert reconcile.wake_for_refresh(plan) == pytest.approx(interval.total_seconds() / 2)
    ecr.now = plan.refresh_at + dt.timedelta(minutes=1)  # overdue: soon, never a tight loop
    assert reconcile.wake_for_refresh(plan) == reconcile.MIN_WAKE_SECONDS
