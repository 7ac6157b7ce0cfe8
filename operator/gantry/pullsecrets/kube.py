"""Kubernetes I/O for the pull-secret kinds: Secrets, ServiceAccounts, Namespaces.

`reconcile.py` calls this module the way other kinds call their `aws.py`; `handlers.py` uses
it to read a ClusterEcrPullSecret afresh. It never reads a Secret: Gantry holds no `get` or
`list` permission on Secrets. A write is a JSON Patch whose first operation tests that the
Secret's owner annotation names the writer, so a Secret owned by anyone else is refused by
the API server itself (HTTP 422) and never seen, let alone overwritten. Error messages carry
the HTTP status only, never a response body, which could echo a Secret's data.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kubernetes.client.exceptions import ApiException

from gantry import API_GROUP, API_VERSION
from gantry.core import kube as shared
from gantry.core.errors import Retryable
from gantry.pullsecrets.diff import ADDED_ANNOTATION, OWNER_ANNOTATION, parse_added

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
OWNER_PATH = "/metadata/annotations/" + OWNER_ANNOTATION.replace("~", "~0").replace("/", "~1")
# A failed JSON Patch `test` operation (the Secret is someone else's).
UNPROCESSABLE = 422


class Write(StrEnum):
    CREATED = "Created"
    WRITTEN = "Written"  # an existing Secret of ours; an unchanged one is not modified
    CONFLICT = "Conflict"  # a Secret of the same name that is not ours


class Removal(StrEnum):
    DELETED = "Deleted"
    ABSENT = "Absent"
    FOREIGN = "Foreign"  # a Secret of that name that is not ours: left in place


@dataclass(frozen=True)
class ServiceAccount:
    name: str
    resource_version: str
    image_pull_secrets: list[dict[str, Any]] = field(default_factory=list)
    added: dict[str, str] = field(default_factory=dict)  # ADDED_ANNOTATION, parsed


class Kube:
    """The Kubernetes calls, with a client configured on first use (in-cluster or kubeconfig)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._core: Any = None
        self._custom: Any = None

    def _apis(self) -> tuple[Any, Any]:
        with self._lock:
            if self._core is None:
                self._core = shared.core_v1()
                self._custom = shared.custom_objects()
            return self._core, self._custom

    # -- namespaces ----------------------------------------------------------------------

    def namespaces(self) -> dict[str, dict[str, str]]:
        """Active namespaces (name -> labels); a terminating one accepts no new Secret."""
        core, _ = self._apis()
        with _translated("list namespaces"):
            listing = core.list_namespace()
        return {
            item.metadata.name: dict(item.metadata.labels or {})
            for item in listing.items
            if (item.status.phase if item.status else None) != "Terminating"
        }

    # -- secrets -------------------------------------------------------------------------

    def write_secret(self, manifest: Mapping[str, Any]) -> Write:
        """Create the Secret, or update its data if it is ours; refuse it if it is not."""
        outcome = self._patch_data(manifest)
        if outcome is not None:
            return outcome
        core, _ = self._apis()
        meta = manifest["metadata"]
        try:
            core.create_namespaced_secret(meta["namespace"], dict(manifest))
            return Write.CREATED
        except ApiException as exc:
            if exc.status != 409:
                raise _retryable(exc, f"create Secret {meta['namespace']}/{meta['name']}") from None
        # Created by someone else between the two calls: judge it like any existing one.
        return self._patch_data(manifest) or Write.CONFLICT

    def _patch_data(self, manifest: Mapping[str, Any]) -> Write | None:
        """None when the Secret does not exist."""
        meta = manifest["metadata"]
        owner = meta["annotations"][OWNER_ANNOTATION]
        patch = [
            {"op": "test", "path": OWNER_PATH, "value": owner},
            {"op": "add", "path": "/data", "value": dict(manifest["data"])},
        ]
        found = self._owned_patch(meta["namespace"], meta["name"], patch)
        return None if found is None else found[0]

    def _owned_patch(
        self, namespace: str, name: str, patch: list[dict[str, Any]]
    ) -> tuple[Write, str] | None:
        """Apply a patch that starts with the owner test: (WRITTEN, uid) when the Secret is
        ours, (CONFLICT, "") when it is not, None when there is no such Secret."""
        core, _ = self._apis()
        try:
            response = core.patch_namespaced_secret(
                name, namespace, patch, _content_type=JSON_PATCH, _preload_content=False
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status == UNPROCESSABLE:
                return Write.CONFLICT, ""
            raise _retryable(exc, f"patch Secret {namespace}/{name}") from None
        uid = str(json.loads(response.data)["metadata"]["uid"])
        return Write.WRITTEN, uid

    def delete_secret(self, namespace: str, name: str, owner: str) -> Removal:
        """Delete the Secret if it is ours; a Secret of someone else's is left in place."""
        probe = [{"op": "test", "path": OWNER_PATH, "value": owner}]
        found = self._owned_patch(namespace, name, probe)
        if found is None:
            return Removal.ABSENT
        outcome, uid = found
        if outcome is Write.CONFLICT:
            return Removal.FOREIGN
        core, _ = self._apis()
        # The uid precondition makes sure the Secret just proven ours is the one deleted.
        options = {"preconditions": {"uid": uid}}
        try:
            core.delete_namespaced_secret(name, namespace, body=options)
        except ApiException as exc:
            if exc.status == 409:
                return Removal.FOREIGN  # replaced by someone else in between
            if exc.status == 404:
                return Removal.ABSENT
            raise _retryable(exc, f"delete Secret {namespace}/{name}") from None
        return Removal.DELETED

    # -- service accounts ----------------------------------------------------------------

    def service_account(self, namespace: str, name: str) -> ServiceAccount | None:
        core, _ = self._apis()
        try:
            account = core.read_namespaced_service_account(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _retryable(exc, f"read ServiceAccount {namespace}/{name}") from None
        entries = [{"name": ref.name} for ref in account.image_pull_secrets or []]
        added = parse_added(account.metadata.annotations)
        return ServiceAccount(name, account.metadata.resource_version, entries, added)

    def set_image_pull_secrets(
        self,
        namespace: str,
        account: ServiceAccount,
        entries: list[dict[str, Any]],
        added: dict[str, str],
    ) -> None:
        """Replace imagePullSecrets and Gantry's marks of the entries it added, in one patch,
        failing (409, retried) if the account changed since it was read."""
        core, _ = self._apis()
        marks = json.dumps(added, sort_keys=True) if added else None
        body = {
            "metadata": {
                "resourceVersion": account.resource_version,
                "annotations": {ADDED_ANNOTATION: marks},
            },
            "imagePullSecrets": entries or None,
        }
        with _translated(f"patch ServiceAccount {namespace}/{account.name}"):
            core.patch_namespaced_service_account(
                account.name, namespace, body, _content_type=MERGE_PATCH
            )

    # -- gantry objects ------------------------------------------------------------------

    def cluster_object(self, plural: str, name: str) -> dict[str, Any] | None:
        _, custom = self._apis()
        try:
            found: dict[str, Any] = custom.get_cluster_custom_object(
                API_GROUP, API_VERSION, plural, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _retryable(exc, f"read {plural}/{name}") from None
        return found


def _retryable(exc: Any, what: str) -> Retryable:
    return Retryable("KubernetesApiError", f"{what}: HTTP {exc.status} {exc.reason}")


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Any API error as Retryable, with the status line only."""
    try:
        yield
    except ApiException as exc:
        raise _retryable(exc, what) from None


KUBE = Kube()
