"""The pull-secret passes: fetch a token when due, write the Secrets, patch service accounts,
report; and the deletions that take all of it back.

Called by `handlers.py` through the shared runner with a `Pass` and the parsed spec; calls
`aws.py` for the token, `kube.py` for Secrets, ServiceAccounts and Namespaces, and `diff.py`
for every decision. Tokens are kept in memory only, per object and AWS identity: they are
never written to status, logs or Events, and a restarted operator simply fetches new ones.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable

from gantry.core.aws import Identity
from gantry.core.conditions import Outcome, Phase
from gantry.core.errors import Retryable
from gantry.core.reconcile import Event, Pass, Result
from gantry.pullsecrets import aws
from gantry.pullsecrets.diff import (
    Schedule,
    Token,
    attach,
    detach,
    new_conflicts,
    parse_duration,
    refresh_due,
    registry_host,
    rfc3339,
    schedule,
    secret_data,
    secret_manifest,
    service_accounts_to_release,
    stale_namespaces,
    target_namespaces,
)
from gantry.pullsecrets.kube import KUBE, Removal, Write
from gantry.pullsecrets.models import (
    ClusterEcrPullSecretSpec,
    EcrPullSecretSpec,
    PullSecretSpec,
)
from gantry.settings import SETTINGS

# Used when a token's own expiry cannot be planned from (an emulator answers with a date in
# 2015). Read here rather than in gantry.settings because only these kinds use it.
FALLBACK_REFRESH = dt.timedelta(
    seconds=float(os.environ.get("GANTRY_PULL_SECRET_FALLBACK_REFRESH", "21600"))
)


MIN_WAKE_SECONDS = 5.0


def clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TokenCache:
    """The current token per (object uid, AWS identity), in this process's memory only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, Identity], Token] = {}
        self._fallback_logged: set[str] = set()

    def get(self, uid: str, identity: Identity) -> Token | None:
        with self._lock:
            return self._tokens.get((uid, identity))

    def put(self, uid: str, identity: Identity, token: Token) -> None:
        with self._lock:
            # One token per object: a region or role change makes the old one useless.
            for key in [k for k in self._tokens if k[0] == uid]:
                del self._tokens[key]
            self._tokens[(uid, identity)] = token

    def first_fallback(self, uid: str) -> bool:
        """True the first time an object falls back, so the fact is logged once."""
        with self._lock:
            first = uid not in self._fallback_logged
            self._fallback_logged.add(uid)
            return first

    def forget(self, uid: str) -> None:
        with self._lock:
            for key in [k for k in self._tokens if k[0] == uid]:
                del self._tokens[key]
            self._fallback_logged.discard(uid)


TOKENS = TokenCache()


def secret_name(work: Pass, spec: PullSecretSpec) -> str:
    return spec.secret_name or work.name


def _plan(token: Token, spec: PullSecretSpec) -> Schedule:
    before = parse_duration(spec.refresh_before) if spec.refresh_before else None
    return schedule(token, before, FALLBACK_REFRESH)


def current_token(work: Pass, spec: PullSecretSpec) -> tuple[Token, Schedule]:
    """The cached token while it is fresh enough, else a new one (the only AWS call)."""
    uid = work.owner.uid
    cached = TOKENS.get(uid, work.identity)
    if cached is not None:
        plan = _plan(cached, spec)
        if not refresh_due(plan, clock()):
            return cached, plan
    token = aws.get_token(work.client(aws.SERVICE), clock())
    plan = _plan(token, spec)
    TOKENS.put(uid, work.identity, token)
    if plan.fallback and TOKENS.first_fallback(uid):
        work.logger.warning(
            "%s: the token's expiry (%s) is in the past or implausible; refreshing every %ss "
            "instead (GANTRY_PULL_SECRET_FALLBACK_REFRESH)",
            _who(work),
            rfc3339(token.expires_at),
            int(FALLBACK_REFRESH.total_seconds()),
        )
    work.logger.info(
        "%s: registry token fetched; next refresh at %s", _who(work), rfc3339(plan.refresh_at)
    )
    return token, plan


def wake_for_refresh(plan: Schedule) -> float | None:
    """Seconds until the planned refresh when the drift timer would come too late for it.

    The timer is the refresh, but it fires every GANTRY_DRIFT_INTERVAL: a short
    refreshBefore (or a short-lived token) would otherwise leave an expired token in the
    Secret until the next tick. Never less than a few seconds, so no tight loop.
    """
    wait = (plan.refresh_at - clock()).total_seconds()
    if wait >= SETTINGS.drift_interval:
        return None
    return max(wait, MIN_WAKE_SECONDS)


def _who(work: Pass) -> str:
    """The object in log lines, which kopf's text format does not name."""
    path = f"{work.namespace}/{work.name}" if work.namespace else work.name
    return f"{work.owner.kind} {path}"


def _token_status(name: str, host: str, token: Token, plan: Schedule) -> dict[str, object]:
    return {
        "registry": host,
        "secretName": name,
        "expiresAt": rfc3339(token.expires_at),
        "lastRefreshTime": rfc3339(token.issued_at),
        "nextRefreshTime": rfc3339(plan.refresh_at),
    }


def _conflict_events(work: Pass, name: str, conflicts: list[str]) -> list[Event]:
    fresh = new_conflicts(work.status.get("conflicts") or [], conflicts)
    if not fresh:
        return []
    message = (
        f"Secret {name} in namespace(s) {', '.join(fresh)} was not written by this object; "
        "it is left untouched"
    )
    work.logger.warning(message)
    return [Event("Warning", "OwnedByOther", message)]


def _conflict_message(name: str, conflicts: list[str]) -> str:
    # The operator may not read Secrets, so it cannot say who wrote this one: another
    # EcrPullSecret or ClusterEcrPullSecret using the same secretName, or another tool.
    return (
        f"Secret {name} already exists in namespace(s) {', '.join(conflicts)} and was not "
        "written by this object (another object with the same secretName, or another tool, "
        "owns it); it is left untouched. Delete or rename that Secret, or choose another "
        "secretName."
    )


# -- EcrPullSecret ---------------------------------------------------------------------------


def reconcile(work: Pass, spec: EcrPullSecretSpec) -> Result:
    name = secret_name(work, spec)
    token, plan = current_token(work, spec)
    host = registry_host(token.proxy_endpoint, spec.registry.account_id)
    manifest = secret_manifest(name, work.namespace, work.owner.value, secret_data(host, token))
    written = KUBE.write_secret(manifest)
    status = _token_status(name, host, token, plan)

    if written is Write.CONFLICT:
        status["conflicts"] = [work.namespace]
        events = _conflict_events(work, name, [work.namespace])
        outcome = Outcome(Phase.STALLED, "OwnedByOther", _conflict_message(name, [work.namespace]))
        return Result(outcome, status, events)
    if written is Write.CREATED:
        work.logger.info("Secret %s created", name)
    status["conflicts"] = None

    accounts, missing = _attach(work, spec, name)
    status["serviceAccounts"] = accounts or None
    if missing:
        message = (
            f"service account(s) {', '.join(missing)} not found in namespace "
            f"{work.namespace}; Secret {name} is written and they get it once they exist"
        )
        outcome = Outcome(Phase.PROGRESSING, "ServiceAccountMissing", message)
        return Result(outcome, status, poll_after=SETTINGS.retry_delay)
    message = f"Secret {name} logs in to {host}; next refresh at {status['nextRefreshTime']}"
    result = Result.ready(message, status)
    result.poll_after = wake_for_refresh(plan)
    return result


def _attach(work: Pass, spec: EcrPullSecretSpec, name: str) -> tuple[list[str], list[str]]:
    """Add the Secret to the declared service accounts and take it back from the ones the
    spec dropped. Returns (accounts naming it, accounts missing)."""
    declared = spec.service_accounts or []
    attached, missing = [], []
    for account_name in declared:
        account = KUBE.service_account(work.namespace, account_name)
        if account is None:
            missing.append(account_name)
            continue
        change = attach(account.image_pull_secrets, account.added, name, work.owner.value)
        if change is not None:
            KUBE.set_image_pull_secrets(work.namespace, account, *change)
            work.logger.info("service account %s now pulls with Secret %s", account_name, name)
        attached.append(account_name)
    for account_name in service_accounts_to_release(
        declared, work.status.get("serviceAccounts") or []
    ):
        _detach(work, account_name, name)
    return sorted(attached), missing


def _detach(work: Pass, account_name: str, name: str) -> None:
    account = KUBE.service_account(work.namespace, account_name)
    if account is None:
        return
    # Only an entry this object added goes: one that was there before, or that another
    # object or a person added, stays (the account's pods may pull with it).
    change = detach(account.image_pull_secrets, account.added, name, work.owner.value)
    if change is not None:
        KUBE.set_image_pull_secrets(work.namespace, account, *change)
        work.logger.info("Secret %s removed from service account %s", name, account_name)


def delete(work: Pass, spec: EcrPullSecretSpec) -> Result | None:
    """Take back the service-account entries and the Secret (if it is ours)."""
    name = secret_name(work, spec)
    recorded = work.status.get("serviceAccounts") or []
    for account_name in sorted({*(spec.service_accounts or []), *recorded}):
        _detach(work, account_name, name)
    _delete_secret(work, work.namespace, name)
    TOKENS.forget(work.owner.uid)
    return None


def _delete_secret(work: Pass, namespace: str, name: str) -> None:
    removal = KUBE.delete_secret(namespace, name, work.owner.value)
    if removal is Removal.DELETED:
        work.logger.info("Secret %s removed from namespace %s", name, namespace)
    elif removal is Removal.FOREIGN:
        work.logger.info("Secret %s in namespace %s is not ours; left in place", name, namespace)


# -- ClusterEcrPullSecret --------------------------------------------------------------------


def reconcile_cluster(work: Pass, spec: ClusterEcrPullSecretSpec) -> Result:
    name = secret_name(work, spec)
    targets = target_namespaces(spec, KUBE.namespaces())
    previous = work.status.get("namespaces") or []
    failed = _remove_from(work, name, stale_namespaces(previous, targets))
    if not targets:
        status: dict[str, object] = {"namespaces": failed or None, "namespaceCount": 0}
        status["conflicts"] = None
        return _finish_cluster(work, name, status, [], failed, "no namespace matches yet")

    token, plan = current_token(work, spec)
    host = registry_host(token.proxy_endpoint, spec.registry.account_id)
    data = secret_data(host, token)
    served, conflicts = [], []
    for namespace in targets:
        try:
            written = KUBE.write_secret(secret_manifest(name, namespace, work.owner.value, data))
        except Retryable as exc:
            work.logger.warning("Secret %s not written to %s: %s", name, namespace, exc.message)
            failed.append(namespace)
            continue
        if written is Write.CONFLICT:
            conflicts.append(namespace)
            continue
        if written is Write.CREATED:
            work.logger.info("Secret %s written to namespace %s", name, namespace)
        served.append(namespace)

    # A namespace that failed keeps its place, so its Secret is still cleaned up later.
    held = sorted({*served, *(set(failed) & set(previous))})
    status = {**_token_status(name, host, token, plan), "namespaces": held or None}
    status["namespaceCount"] = len(served)
    status["conflicts"] = conflicts or None
    summary = f"serving {len(served)} namespace(s) with a login to {host}"
    result = _finish_cluster(work, name, status, conflicts, failed, summary)
    if result.poll_after is None:
        result.poll_after = wake_for_refresh(plan)
    return result


def _remove_from(work: Pass, name: str, namespaces: Iterable[str]) -> list[str]:
    """Delete the Secret from namespaces that stopped matching; returns those that failed."""
    failed = []
    for namespace in namespaces:
        try:
            _delete_secret(work, namespace, name)
        except Retryable as exc:
            work.logger.warning("Secret %s not removed from %s: %s", name, namespace, exc.message)
            failed.append(namespace)
    return failed


def _finish_cluster(
    work: Pass,
    name: str,
    status: dict[str, object],
    conflicts: list[str],
    failed: list[str],
    summary: str,
) -> Result:
    events = _conflict_events(work, name, conflicts)
    if failed:
        message = f"{summary}; Secret {name} could not be updated in {', '.join(failed)}"
        outcome = Outcome(Phase.RETRYING, "KubernetesApiError", message + "; retrying")
        return Result(outcome, status, events, poll_after=SETTINGS.retry_delay)
    if conflicts:
        message = f"{_conflict_message(name, conflicts)} Meanwhile {summary}."
        return Result(Outcome(Phase.STALLED, "OwnedByOther", message), status, events)
    return Result(Outcome(Phase.READY, "Available", f"Secret {name}: {summary}"), status, events)


def delete_cluster(work: Pass, spec: ClusterEcrPullSecretSpec) -> Result | None:
    """Remove the Secret from every namespace it was written to (and, in case status lags,
    from every namespace that matches now; only Secrets owned by this object go)."""
    name = secret_name(work, spec)
    served = work.status.get("namespaces") or []
    matching = target_namespaces(spec, KUBE.namespaces())
    failed = _remove_from(work, name, sorted({*served, *matching}))
    if failed:
        raise Retryable("KubernetesApiError", f"Secret {name} not removed from {failed}")
    TOKENS.forget(work.owner.uid)
    return None
