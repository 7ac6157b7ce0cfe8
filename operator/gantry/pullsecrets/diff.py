"""Pure decisions for the pull-secret kinds: what a Secret holds, which namespaces get one,
which service accounts change, and when the token is fetched again.

Called by `reconcile.py` with what `aws.py` and `kube.py` read; everything here is plain
data in, plain data out, tested without a cluster, AWS or a clock (callers pass `now`).
The token's password only ever leaves this module inside the Secret's data.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from gantry.pullsecrets.models import (
    ClusterEcrPullSecretSpec,
    NamespaceSelector,
    SelectorOperator,
    SelectorRequirement,
)

SECRET_TYPE = "kubernetes.io/dockerconfigjson"
DATA_KEY = ".dockerconfigjson"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "gantry"
OWNER_ANNOTATION = "gantry.dev/owner"

# ECR tokens last 12 hours. A lifetime outside these bounds (an emulator's fixed date in
# 2015, a clock far off) cannot be planned from, so the fallback interval is used instead.
MIN_REFRESH = dt.timedelta(minutes=1)
MAX_LIFETIME = dt.timedelta(hours=24)
_DURATION_PART = re.compile(r"([0-9]+)([hms])")
_UNITS = {"h": 3600, "m": 60, "s": 1}


@dataclass(frozen=True)
class Token:
    """One GetAuthorizationToken answer. The password is kept out of repr and logs."""

    username: str
    password: str = field(repr=False)
    proxy_endpoint: str
    expires_at: dt.datetime
    issued_at: dt.datetime


@dataclass(frozen=True)
class Schedule:
    refresh_at: dt.datetime
    fallback: bool  # the token's own expiry could not be used


def decode_token(authorization_token: str) -> tuple[str, str]:
    """ECR's base64 `user:password` pair. The error names no part of the token."""
    try:
        raw = base64.b64decode(authorization_token, validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the authorization token is not valid base64 text") from exc
    username, separator, password = raw.partition(":")
    if not separator or not username or not password:
        raise ValueError("the authorization token is not a user:password pair")
    return username, password


def registry_host(proxy_endpoint: str, account_id: str | None) -> str:
    """The registry's host name: the endpoint AWS returned, for another account if asked.

    The token is valid for every registry the identity may pull from; only the host in the
    Docker config says which one it is for.
    """
    host = urlparse(proxy_endpoint).netloc or proxy_endpoint
    if account_id:
        _, _, rest = host.partition(".")
        host = f"{account_id}.{rest}"
    return host


def docker_config(host: str, token: Token) -> str:
    auth = _b64(f"{token.username}:{token.password}")
    entry = {"username": token.username, "password": token.password, "auth": auth}
    return json.dumps({"auths": {host: entry}}, sort_keys=True, separators=(",", ":"))


def secret_data(host: str, token: Token) -> dict[str, str]:
    return {DATA_KEY: _b64(docker_config(host, token))}


def secret_manifest(
    name: str, namespace: str, owner: str, data: Mapping[str, str]
) -> dict[str, Any]:
    """The Secret as Gantry writes it: marked as managed and naming its owner."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": SECRET_TYPE,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
            "annotations": {OWNER_ANNOTATION: owner},
        },
        "data": dict(data),
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- refresh ---------------------------------------------------------------------------------


def parse_duration(text: str) -> dt.timedelta:
    """`2h`, `90m`, `1h30m`, `45s`: the forms the CRD's pattern admits."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return dt.timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def schedule(token: Token, refresh_before: dt.timedelta | None, fallback: dt.timedelta) -> Schedule:
    """When to fetch the next token: half-way through this one's lifetime by default, or
    `refresh_before` ahead of its expiry; never sooner than a minute after it was issued."""
    lifetime = token.expires_at - token.issued_at
    if lifetime < 2 * MIN_REFRESH or lifetime > MAX_LIFETIME:
        return Schedule(token.issued_at + max(fallback, dt.timedelta(seconds=1)), True)
    wait = lifetime / 2 if refresh_before is None else lifetime - refresh_before
    return Schedule(token.issued_at + max(wait, MIN_REFRESH), False)


def refresh_due(plan: Schedule, now: dt.datetime) -> bool:
    return now >= plan.refresh_at


def rfc3339(moment: dt.datetime) -> str:
    utc = moment.astimezone(dt.UTC).replace(microsecond=0)
    return utc.isoformat().replace("+00:00", "Z")


# -- namespaces ------------------------------------------------------------------------------


def requirement_matches(requirement: SelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = requirement.key in labels
    values = requirement.values or []
    if requirement.operator == SelectorOperator.IN:
        return present and labels[requirement.key] in values
    if requirement.operator == SelectorOperator.NOT_IN:
        return not present or labels[requirement.key] not in values
    if requirement.operator == SelectorOperator.EXISTS:
        return present
    return not present


def selector_matches(selector: NamespaceSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics: every term must hold; no terms match all."""
    wanted = selector.match_labels or {}
    if any(labels.get(key) != value for key, value in wanted.items()):
        return False
    return all(requirement_matches(r, labels) for r in selector.match_expressions or [])


def serves(spec: ClusterEcrPullSecretSpec, name: str, labels: Mapping[str, str]) -> bool:
    """A namespace named in the list or matching the selector is served."""
    if name in (spec.namespaces or []):
        return True
    return spec.namespace_selector is not None and selector_matches(spec.namespace_selector, labels)


def target_namespaces(
    spec: ClusterEcrPullSecretSpec, namespaces: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """The existing namespaces (name -> labels) that should hold the Secret, sorted."""
    return sorted(name for name, labels in namespaces.items() if serves(spec, name, labels))


def stale_namespaces(previous: Iterable[str], targets: Iterable[str]) -> list[str]:
    """Namespaces served before that no longer match: their Secret is removed."""
    return sorted(set(previous) - set(targets))


def namespace_changes_serving(
    spec: ClusterEcrPullSecretSpec,
    known: Iterable[str],
    name: str,
    labels: Mapping[str, str],
    exists: bool,
) -> bool:
    """Whether a namespace event calls for a pass: it matches now but is not known to the
    object (served or in conflict), or it is known but no longer matches or exists."""
    matches = exists and serves(spec, name, labels)
    return matches != (name in set(known))


def new_conflicts(previous: Iterable[str], current: Iterable[str]) -> list[str]:
    """Conflicts not reported before: each gets one Event, not one per pass."""
    return sorted(set(current) - set(previous))


# -- service accounts ------------------------------------------------------------------------


def with_pull_secret(
    entries: Iterable[Mapping[str, Any]] | None, secret_name: str
) -> list[dict[str, Any]] | None:
    """imagePullSecrets with the Secret added; None when it is already there."""
    current = [dict(e) for e in entries or []]
    if any(e.get("name") == secret_name for e in current):
        return None
    return [*current, {"name": secret_name}]


def without_pull_secret(
    entries: Iterable[Mapping[str, Any]] | None, secret_name: str
) -> list[dict[str, Any]] | None:
    """imagePullSecrets with the Secret removed; None when it is not there."""
    current = [dict(e) for e in entries or []]
    kept = [e for e in current if e.get("name") != secret_name]
    return None if len(kept) == len(current) else kept


# On a ServiceAccount: which imagePullSecrets entries Gantry added, and for which object
# (JSON: Secret name -> owner). Written in the same patch as the entries, so a crash never
# leaves one unmarked; an entry without a mark is someone else's and is never taken away.
ADDED_ANNOTATION = "gantry.dev/added-pull-secrets"


def parse_added(annotations: Mapping[str, str] | None) -> dict[str, str]:
    try:
        value = json.loads((annotations or {}).get(ADDED_ANNOTATION) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def attach(
    entries: Iterable[Mapping[str, Any]] | None, added: Mapping[str, str], name: str, owner: str
) -> tuple[list[dict[str, Any]], dict[str, str]] | None:
    """Entries and marks with the Secret added for `owner`; None when an entry is there
    already (added by us earlier, or by someone else, whose it then stays)."""
    with_entry = with_pull_secret(entries, name)
    if with_entry is None:
        return None
    return with_entry, {**added, name: owner}


def detach(
    entries: Iterable[Mapping[str, Any]] | None, added: Mapping[str, str], name: str, owner: str
) -> tuple[list[dict[str, Any]], dict[str, str]] | None:
    """Entries and marks without the Secret, only if `owner` added it; else None."""
    if added.get(name) != owner:
        return None
    marks = {k: v for k, v in added.items() if k != name}
    removed = without_pull_secret(entries, name)  # None: someone took the entry out already
    return (removed if removed is not None else [dict(e) for e in entries or []]), marks


def service_accounts_to_release(declared: Iterable[str], recorded: Iterable[str]) -> list[str]:
    """Service accounts patched earlier (status) that the spec no longer names."""
    return sorted(set(recorded) - set(declared))
