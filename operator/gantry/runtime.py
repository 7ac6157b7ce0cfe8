"""The shared kopf glue every kind's handlers go through.

`run_reconcile()` and `run_delete()` wrap a kind's plain function: they serialise passes per
object (kopf runs change handlers and timers concurrently), build the `Pass` the kind works
with, translate its errors into conditions and kopf retries, write the whole status in one
patch on every pass (failures included, with observedGeneration), post Events, and count the
pass in the controller_runtime_* metrics.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import kopf
import pydantic

from gantry import API_GROUP, API_VERSION
from gantry.core import kube, metrics
from gantry.core.aws import AwsSettings, Clients, identity_for
from gantry.core.conditions import Outcome, Phase, report
from gantry.core.crd import KindInfo
from gantry.core.errors import GantryError, Terminal
from gantry.core.models import DELETING
from gantry.core.ownership import Owner
from gantry.core.reconcile import Event, Pass, Result
from gantry.settings import SETTINGS, Settings, jitter

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(uid: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(uid, threading.Lock())


def forget(uid: str) -> None:
    with _locks_guard:
        _locks.pop(uid, None)


class StatusWriter:
    """Immediate status patches through the Kubernetes API (kopf only patches at the end)."""

    def patch(self, info: KindInfo, namespace: str, name: str, fields: dict[str, Any]) -> None:
        api = kube.custom_objects()
        body = {"status": fields}
        if info.scope == "Namespaced":
            api.patch_namespaced_custom_object_status(
                API_GROUP, API_VERSION, namespace, info.plural, name, body
            )
        else:
            api.patch_cluster_custom_object_status(API_GROUP, API_VERSION, info.plural, name, body)


CLIENTS = Clients(AwsSettings.from_env())
STATUS_WRITER = StatusWriter()

ReconcileFn = Callable[[Pass, Any], Result]


def _make_pass(
    info: KindInfo, body: Mapping[str, Any], logger: Any, region: str | None, drift: bool
) -> Pass:
    meta = body["metadata"]
    namespace = meta.get("namespace") or ""
    identity = identity_for(BINDINGS.get(namespace), region, CLIENTS.settings)
    owner = Owner(SETTINGS.cluster_id, namespace, info.kind, meta["name"], meta.get("uid", ""))

    def record(fields: dict[str, Any]) -> None:
        STATUS_WRITER.patch(info, namespace, meta["name"], fields)

    return Pass(body, logger, CLIENTS, identity, owner, drift, record, in_sync(body))


def in_sync(body: Mapping[str, Any]) -> bool:
    """Ready at the current generation, as of the last pass."""
    status = body.get("status") or {}
    generation = body["metadata"].get("generation")
    conditions = status.get("conditions") or []
    ready: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    return bool(
        status.get("observedGeneration") == generation
        and ready.get("status") == "True"
        and ready.get("observedGeneration") == generation
    )


def run_reconcile(
    info: KindInfo,
    fn: ReconcileFn,
    *,
    body: Mapping[str, Any],
    patch: Any,
    logger: Any,
    drift: bool = False,
) -> None:
    """One pass: parse the spec, reconcile, report. Raises kopf.TemporaryError to retry."""
    uid = body["metadata"].get("uid", "")
    started = time.monotonic()
    metrics.active_workers.labels(controller=info.controller).inc()
    try:
        with _lock_for(uid):
            result, retry = _reconcile_once(info, fn, body, logger, drift)
        _finish(info, body, patch, result, logger)
    finally:
        metrics.active_workers.labels(controller=info.controller).dec()
        metrics.reconcile_time_seconds.labels(controller=info.controller).observe(
            time.monotonic() - started
        )
    _count(info, result, retry)
    if retry is not None:
        raise _look_again(result, retry)


def _reconcile_once(
    info: KindInfo,
    fn: ReconcileFn,
    body: Mapping[str, Any],
    logger: Any,
    drift: bool,
) -> tuple[Result, float | None]:
    try:
        spec = info.spec.model_validate(body.get("spec") or {})
        work = _make_pass(info, body, logger, getattr(spec, "region", None), drift)
        result = fn(work, spec)
    except pydantic.ValidationError as exc:
        return Result.stalled("InvalidSpec", _validation_message(exc)), None
    except Terminal as exc:
        logger.warning("%s; tried again when the spec changes or at the next drift check", exc)
        return Result.stalled(exc.code, _terminal_message(exc)), None
    except GantryError as exc:
        delay = SETTINGS.retry_delay
        logger.info("%s; retrying in %ss", exc, delay)
        return Result(Outcome(Phase.RETRYING, exc.code or "Retrying", str(exc))), delay
    except Exception as exc:  # a bug must still leave the object an answer
        return _internal_error(exc, logger), SETTINGS.blocked_retry_delay
    return result, result.poll_after


def _internal_error(exc: Exception, logger: Any) -> Result:
    """An exception no kind expected is a Gantry bug. Without this the object would get no
    condition at all (kopf only logs it); with it the user sees that the operator, not the
    spec, is at fault. The message names only the exception's type: its text could quote
    anything the failed code held."""
    logger.exception("unexpected error (a Gantry bug); retrying")
    message = (
        f"Gantry failed unexpectedly ({type(exc).__name__}); this is a bug in Gantry, not in "
        "the spec: the operator's log has the traceback. Retrying."
    )
    return Result(Outcome(Phase.RETRYING, "InternalError", message))


def _terminal_message(exc: Terminal) -> str:
    what = (exc.message or exc.code).rstrip(". ")  # AWS messages often end in a full stop
    # Not only the spec can fix it (an IAM grant, a conflicting resource removed), so the
    # drift timer tries again too, at its own slow pace rather than the retry delay's.
    return (
        f"{what}. Change the spec or fix the cause; Gantry tries again when the spec changes "
        "and at each drift check."
    )


def _validation_message(exc: pydantic.ValidationError) -> str:
    problems = [
        f"spec.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    ]
    return "; ".join(problems)


def _finish(
    info: KindInfo, body: Mapping[str, Any], patch: Any, result: Result, logger: Any
) -> None:
    generation = int(body["metadata"].get("generation") or 0)
    previous = (body.get("status") or {}).get("conditions") or []
    for key, value in result.status.items():
        patch.status[key] = value
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = report(previous, result.outcome, generation)
    for event in result.events:
        post_event(body, event)
    _log_outcome(result, logger)


def _log_outcome(result: Result, logger: Any) -> None:
    outcome = result.outcome
    if outcome.phase is Phase.STALLED:
        logger.warning("stalled (%s): %s", outcome.reason, outcome.message)
    else:
        logger.debug("%s (%s): %s", outcome.phase, outcome.reason, outcome.message)


def post_event(body: Any, event: Event) -> None:
    kopf.event(body, type=event.type, reason=event.reason, message=event.message)


def _count(info: KindInfo, result: Result, retry: float | None) -> None:
    phase = result.outcome.phase
    if phase is Phase.STALLED:
        metrics.terminal_reconcile_errors_total.labels(controller=info.controller).inc()
        outcome = "error"
    elif phase is Phase.RETRYING:
        metrics.reconcile_errors_total.labels(controller=info.controller).inc()
        outcome = "error"
    elif retry is not None:
        outcome = "requeue_after"
    else:
        outcome = "success"
    metrics.reconcile_total.labels(controller=info.controller, result=outcome).inc()


DeleteFn = Callable[[Pass, Any], Result | None]


def run_delete(
    info: KindInfo,
    fn: DeleteFn,
    *,
    body: Mapping[str, Any],
    patch: Any,
    logger: Any,
) -> None:
    """Run a kind's delete. None means done (kopf releases the finalizer); a Result means
    not yet: it is reported and the deletion is retried after a delay, never in a hot loop."""
    uid = body["metadata"].get("uid", "")
    failed = False
    try:
        spec = info.spec.model_validate(body.get("spec") or {}, context=DELETING)
        work = _make_pass(info, body, logger, getattr(spec, "region", None), False)
        with _lock_for(uid):
            result = fn(work, spec)
    except pydantic.ValidationError:
        logger.warning("spec is invalid; nothing was created from it, so nothing to delete")
        result = None
    except GantryError as exc:
        message = (
            f"deletion failed: {exc}; retrying. To release the object without touching AWS, "
            "set deletionPolicy: Retain."
        )
        result = Result(Outcome(Phase.DELETING, exc.code, message))
        result.poll_after = SETTINGS.retry_delay
        failed = True
    except Exception as exc:  # see _internal_error
        result = _internal_error(exc, logger)
        result.poll_after = SETTINGS.blocked_retry_delay
        failed = True
    if result is None:
        forget(uid)
        logger.info("deleted")
        return
    _finish(info, body, patch, result, logger)
    raise _look_again(result, result.poll_after or 60, expected=not failed)


# kopf logs every TemporaryError at ERROR ("Handler ... failed temporarily: ..."). Gantry
# raises one for expected waits too (a rollout in progress, a sibling not created yet, a
# blocked deletion), which are not errors: their message carries this mark, and the filter
# below logs them at INFO. Transient failures (throttling, 5xx) stay errors.
WAIT_MARK = "[waiting] "


def _look_again(
    result: Result, delay: float, *, expected: bool | None = None
) -> kopf.TemporaryError:
    """The kopf retry that brings the object back after `delay` seconds. A wait is expected
    unless the pass failed (a transient error, or a delete call that did not succeed)."""
    if expected is None:
        expected = result.outcome.phase is not Phase.RETRYING
    message = (WAIT_MARK if expected else "") + result.outcome.message
    return kopf.TemporaryError(message, delay=delay)


class ExpectedWaits(logging.Filter):
    """Rewrites kopf's "failed temporarily" line for an expected wait as an INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno >= logging.ERROR and WAIT_MARK in message:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = message.replace(f"failed temporarily: {WAIT_MARK}", "looks again: ")
            record.args = ()
        return True


def bound_identity(annotations: Mapping[str, str]) -> dict[str, str]:
    """The part of a Namespace's annotations that binds an AWS identity to it."""
    return {k: v for k, v in annotations.items() if k.startswith(f"{API_GROUP}/aws-")}


class NamespaceBindings:
    """Namespace name -> the AWS identity a cluster admin bound to it (possibly none).

    Deliberately not a kopf index. kopf gives each indexed object a worker that, once it has
    indexed its object, waits until every index is complete, and the workers of one resource
    kind share `queueing.worker_limit`: with more Namespaces than that limit, the workers
    that would index the rest never start, and the operator handles nothing, ever. So the
    startup activity lists the Namespaces once (kopf starts no handler before its startup
    activities are done), and a Namespace event handler keeps the map current. A
    namespace's binding is therefore known before any of its objects is reconciled, as an
    index would guarantee.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, dict[str, str]] = {}

    def load(self, namespaces: Iterable[tuple[str, Mapping[str, str]]]) -> None:
        loaded = {name: bound_identity(annotations) for name, annotations in namespaces}
        with self._lock:
            self._by_name = loaded

    def update(self, name: str, annotations: Mapping[str, str] | None) -> None:
        """Record a Namespace's annotations; None forgets a deleted Namespace."""
        with self._lock:
            if annotations is None:
                self._by_name.pop(name, None)
            else:
                self._by_name[name] = bound_identity(annotations)

    def get(self, namespace: str) -> dict[str, str]:
        with self._lock:
            return dict(self._by_name.get(namespace, {}))


BINDINGS = NamespaceBindings()


def _list_namespaces(page_size: int = 500) -> Iterator[tuple[str, Mapping[str, str]]]:
    api = kube.core_v1()
    token: str | None = None
    while True:
        page = api.list_namespace(limit=page_size, _continue=token)
        for namespace in page.items:
            yield namespace.metadata.name, namespace.metadata.annotations or {}
        token = page.metadata._continue
        if not token:
            return


def configure_kopf(settings: kopf.OperatorSettings, ours: Settings) -> None:
    """Apply Gantry's choices to kopf: own finalizer and prefixes, bounded concurrency."""
    settings.persistence.finalizer = f"{API_GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    # Only the spec decides whether an object changed: labels and annotations written by
    # Argo CD, Flux or kubectl must not re-run the reconcile.
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP,
        key="last-handled-configuration",
        ignored_fields=["metadata"],
    )
    settings.queueing.worker_limit = ours.worker_limit
    # An idle worker keeps its slot of the worker limit until it exits; kopf's default of 5 s
    # caps a fleet at worker_limit / 5 objects per second (a restart of 1,000 objects took
    # 90 s). Workers are cheap to start again, so they leave soon after their last event.
    settings.queueing.idle_timeout = 0.5
    settings.execution.max_workers = ours.max_workers
    settings.execution.executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=ours.max_workers, thread_name_prefix="gantry"
    )
    # Deletion waits for a timer pass already running (it cannot be cancelled in its
    # thread); kopf's defaults look again after 60 s, which made deleting an object during
    # a drift pass take a minute. A pass ends in seconds.
    settings.background.instant_exit_timeout = 10.0
    settings.background.cancellation_polling = 5.0
    settings.posting.level = 100  # log lines are not mirrored as Events; we post our own
    settings.networking.request_timeout = 60
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330


@kopf.on.startup()
def _startup(settings: kopf.OperatorSettings, logger: Any, **_: Any) -> None:
    configure_kopf(settings, SETTINGS)
    logging.getLogger("kopf.objects").addFilter(ExpectedWaits())
    metrics.serve(SETTINGS.metrics_address)
    logger.info(
        "gantry started: cluster id %s, drift interval %ss, worker limit %s",
        SETTINGS.cluster_id,
        SETTINGS.drift_interval,
        SETTINGS.worker_limit,
    )


# A failed list (the API server not reachable yet) is retried; no object is handled until it
# succeeds, so none acts with the wrong identity.
@kopf.on.startup(id="namespace-bindings", backoff=5)
def _load_bindings(logger: Any, **_: Any) -> None:
    BINDINGS.load(_list_namespaces())
    logger.info("AWS identity bindings read from the cluster's namespaces")


@kopf.on.event("namespaces", id="namespace-bindings")
async def _namespace_changed(
    type: str, name: str, annotations: Mapping[str, str], **_: Any
) -> None:
    # Async on purpose: a dict update must not wait behind AWS calls for an executor thread.
    BINDINGS.update(name, None if type == "DELETED" else annotations)


def skip_timer(body: Mapping[str, Any]) -> bool:
    """Timer passes leave alone an object being deleted (a pass would create again what the
    delete handler removes), one whose spec is newer than what was reconciled (a change pass
    is due) and one whose spec was found invalid (nothing to look at in AWS)."""
    if body["metadata"].get("deletionTimestamp"):
        return True
    status = body.get("status") or {}
    generation = body["metadata"].get("generation")
    if status.get("observedGeneration") != generation:
        return True
    stalled = next((c for c in status.get("conditions") or [] if c.get("type") == "Stalled"), None)
    return bool(stalled and stalled.get("reason") == "InvalidSpec")


def register_kind(
    info: KindInfo,
    reconcile: ReconcileFn,
    delete: DeleteFn,
    *,
    timer_id: str = "drift",
) -> None:
    """Register a kind's handlers: one reconcile for create, update (of the spec) and resume,
    a jittered timer that re-runs it to find drift, and the delete handler.

    Every kind is wired the same way, so a reader who knows one knows them all; a kind's
    handlers.py adds only what is its own (the pull secrets' Namespace watch, say).
    """
    resource = (API_GROUP, API_VERSION, info.plural)
    metrics.seed(info.controller)

    def on_change(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
        run_reconcile(info, reconcile, body=body, patch=patch, logger=logger)

    def on_timer(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
        if skip_timer(body):
            return
        run_reconcile(info, reconcile, body=body, patch=patch, logger=logger, drift=True)

    def on_delete(body: kopf.Body, patch: kopf.Patch, logger: Any, **_: Any) -> None:
        run_delete(info, delete, body=body, patch=patch, logger=logger)

    kopf.on.resume(*resource, id="reconcile")(on_change)
    kopf.on.create(*resource, id="reconcile")(on_change)
    kopf.on.update(*resource, id="reconcile", field="spec")(on_change)
    kopf.timer(*resource, id=timer_id, interval=SETTINGS.drift_interval, initial_delay=jitter())(
        on_timer
    )
    kopf.on.delete(*resource, id="delete")(on_delete)
