"""CdkBootstrap's AWS calls against an endpoint that lacks an operation (moto answers
UpdateTerminationProtection with an HTML 500): reported as a note, never raised, and the
client's concurrency permit is given back."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from gantry.cdk import aws
from gantry.core.aws import AwsSettings, Clients, Identity

HTML_500 = b"<!doctype html><html><body><h1>Internal Server Error</h1></body></html>"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def html_500(**_: Any) -> AWSResponse:
    return AWSResponse("http://127.0.0.1", 500, {"Content-Type": "text/html"}, _Raw(HTML_500))


@pytest.fixture
def cloudformation(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(name, value)
    clients = Clients(AwsSettings(max_attempts=1, max_concurrent_calls=1))
    client = clients.get("cloudformation", Identity("us-east-1"))
    client.meta.events.register("before-send.cloudformation.*", html_500)
    return client


def test_missing_termination_protection_operation_is_a_note(cloudformation: Any) -> None:
    note = aws.set_termination_protection(cloudformation, "CDKToolkit", True)
    assert note is not None
    assert "UpdateTerminationProtection" in note


def test_unparsable_answers_give_the_call_permit_back(cloudformation: Any) -> None:
    # One permit only: a leak would make the second call wait forever.
    for _ in range(3):
        assert aws.set_termination_protection(cloudformation, "CDKToolkit", False) is not None
