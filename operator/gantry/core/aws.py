"""boto3 clients per AWS identity and region, with retries, call metrics and a concurrency cap.

Handlers ask `Clients.get(service, identity)` for a client; service `aws.py` modules only use
the client they are given. Clients are cached per (service, region, role) because creating one
costs milliseconds and memory. botocore's own credential chain (environment, IRSA web
identity, instance profile) and `AWS_ENDPOINT_URL` are honoured untouched, so the same process
runs against AWS or a local emulator.

A namespace's objects act as the role a cluster admin bound to that namespace (Namespace
annotations, read by the handlers layer); an object can pick a region but never a role.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    DeferredRefreshableCredentials,
)
from botocore.session import Session as BotocoreSession

from gantry.core import metrics
from gantry.core.errors import is_throttle

ROLE_ANNOTATION = "gantry.dev/aws-role-arn"
REGION_ANNOTATION = "gantry.dev/aws-region"
USER_AGENT = "gantry"


@dataclass(frozen=True)
class Identity:
    """Who calls AWS and where: a region, and the bound role (None = the operator's own)."""

    region: str
    role_arn: str | None = None


@dataclass(frozen=True)
class AwsSettings:
    retry_mode: str = "standard"  # or "adaptive"
    max_attempts: int = 5
    max_concurrent_calls: int = 10  # per account+region (per role+region here)
    default_region: str = ""

    @classmethod
    def from_env(cls) -> AwsSettings:
        return cls(
            retry_mode=os.environ.get("GANTRY_AWS_RETRY_MODE", "standard"),
            max_attempts=int(os.environ.get("GANTRY_AWS_MAX_ATTEMPTS", "5")),
            max_concurrent_calls=int(os.environ.get("GANTRY_AWS_MAX_CONCURRENT_CALLS", "10")),
            default_region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", ""),
        )


def identity_for(
    namespace_annotations: dict[str, str] | None, region: str | None, settings: AwsSettings
) -> Identity:
    """Resolve an object's identity: its own region, else the namespace's, else the default."""
    annotations = namespace_annotations or {}
    chosen = region or annotations.get(REGION_ANNOTATION) or settings.default_region
    return Identity(region=chosen or "us-east-1", role_arn=annotations.get(ROLE_ANNOTATION))


class Clients:
    """A cache of boto3 clients keyed by service and identity."""

    def __init__(self, settings: AwsSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, Identity], Any] = {}
        self._sessions: dict[str | None, boto3.Session] = {}
        self._limits: dict[Identity, threading.BoundedSemaphore] = {}
        self.config = Config(
            retries={  # type: ignore[arg-type]
                "mode": settings.retry_mode,
                "max_attempts": settings.max_attempts,
            },
            user_agent_extra=USER_AGENT,
            connect_timeout=10,
            read_timeout=60,
        )

    def get(self, service: str, identity: Identity) -> Any:
        key = (service, identity)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._create(service, identity)
                self._clients[key] = client
            return client

    def _create(self, service: str, identity: Identity) -> Any:
        session = self._session(identity.role_arn)
        client: Any = session.client(  # type: ignore[call-overload]
            service, region_name=identity.region, config=self.config
        )
        limit = self._limits.setdefault(
            identity, threading.BoundedSemaphore(self.settings.max_concurrent_calls)
        )
        _instrument(client, service, limit)
        return client

    def _session(self, role_arn: str | None) -> boto3.Session:
        session = self._sessions.get(role_arn)
        if session is None:
            session = boto3.Session() if role_arn is None else _assumed_session(role_arn)
            self._sessions[role_arn] = session
        return session


def _assumed_session(role_arn: str) -> boto3.Session:
    """A session whose credentials come from AssumeRole with the operator's own identity,
    refreshed by botocore before they expire."""
    base = boto3.Session()
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=base._session.create_client,
        source_credentials=base._session.get_credentials(),
        role_arn=role_arn,
        extra_args={"RoleSessionName": "gantry"},
    )
    botocore_session = BotocoreSession()
    botocore_session._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
        method="assume-role", refresh_using=fetcher.fetch_credentials
    )
    return boto3.Session(botocore_session=botocore_session)


def _instrument(client: Any, service: str, limit: threading.BoundedSemaphore) -> None:
    """Count every call by outcome and cap concurrent calls per identity.

    before-call / after-call fire once per API call (retries happen in between), and
    after-call-error fires when the call ends in an exception, so the semaphore is always
    released exactly once.
    """
    events = client.meta.events

    def acquire(**_: Any) -> None:
        limit.acquire()

    def done(model: Any, parsed: dict[str, Any] | None = None, **_: Any) -> None:
        limit.release()
        code = "Success"
        if parsed and "Error" in parsed:
            code = str(parsed["Error"].get("Code") or "Unknown")
        _count(service, model.name, code)
        if code == "Success" and not is_read(model.name):
            CRASH_HOOK.wrote()

    def failed(exception: BaseException | None = None, event_name: str = "", **_: Any) -> None:
        # botocore emits after-call-error without the operation model; the event name
        # ends in the operation's name.
        limit.release()
        operation = event_name.rsplit(".", 1)[-1]
        _count(service, operation, type(exception).__name__ if exception else "Unknown")

    events.register("before-call", acquire)
    events.register("after-call", done)
    events.register("after-call-error", failed)
    # Every attempt, retries included, so throttling storms show up as such.
    events.register("needs-retry", _retry_counter(service))


# Operations that change nothing in AWS (HeadBucket included), by name. Tests and benchmarks
# count writes with the same rule.
READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "Head")


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES)


class CrashHook:
    """Test-only: SIGKILL this process right after its Nth successful AWS write.

    The reliability tests set GANTRY_TEST_CRASH_AFTER_WRITES to prove that a crash between
    any two writes converges to the fault-free end state. Inert when the variable is unset.
    """

    def __init__(self, after: int) -> None:
        self.after = after
        self._writes = 0
        self._lock = threading.Lock()

    def wrote(self) -> None:
        if self.after <= 0:
            return
        with self._lock:
            self._writes += 1
            if self._writes >= self.after:
                os.kill(os.getpid(), signal.SIGKILL)


CRASH_HOOK = CrashHook(int(os.environ.get("GANTRY_TEST_CRASH_AFTER_WRITES", "0")))


def _retry_counter(service: str) -> Callable[..., None]:
    def on_retry(response: Any = None, operation: Any = None, **_: Any) -> None:
        if not response or operation is None:
            return
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else None
        code = str((parsed or {}).get("Error", {}).get("Code") or "")
        if is_throttle(code):
            metrics.aws_throttles_total.labels(service=service, operation=operation.name).inc()

    return on_retry


def _count(service: str, operation: str, code: str) -> None:
    metrics.aws_requests_total.labels(service=service, operation=operation, code=code).inc()
