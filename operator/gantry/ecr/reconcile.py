"""The EcrRepository reconcile: observe, diff, apply, report (the shape every kind follows).

Called by `handlers.py` through the shared runner with a `Pass` and the parsed spec; calls
`aws.py` for I/O and `diff.py` for decisions. Returns a Result; raises Retryable / Terminal
for the runner to report. Knows nothing of kopf.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gantry.core.conditions import (
    TRUE,
    Outcome,
    Phase,
    extra_condition,
    find_condition,
    now_rfc3339,
)
from gantry.core.errors import Terminal
from gantry.core.models import DeletionPolicy
from gantry.core.ownership import OWNER_TAG, Claim, claim
from gantry.core.reconcile import Event, Pass, Result
from gantry.ecr import aws
from gantry.ecr.diff import (
    Action,
    Managed,
    Observed,
    create_params,
    desired_lifecycle,
    desired_repository_policy,
    plan,
)
from gantry.ecr.models import Adoption, EcrRepositorySpec
from gantry.settings import SETTINGS


def repository_name(work: Pass, spec: EcrRepositorySpec) -> str:
    return spec.repository_name or work.name


def reconcile(work: Pass, spec: EcrRepositorySpec) -> Result:
    name = repository_name(work, spec)
    client = work.client(aws.SERVICE)
    # Bad documents are refused before any write, so nothing is half-created from them.
    desired_lifecycle(spec)
    desired_repository_policy(spec)

    observed = _observe(work, client, name)
    created = False
    if observed.repository is None:
        observed, created = _create(work, spec, name, client)
    refusal = _refuse_foreign(work, spec, name, observed)
    if refusal is not None:
        return refusal

    repository = observed.repository or {}
    changes = plan(spec, observed, work.owner.tags(), _managed(work))
    for action in changes.actions:
        aws.apply(client, action)
        work.logger.info("%s: %s updated", name, action.field)
    if created or changes.actions:
        aws.CATALOG.wrote(_registry(work), name)

    status = _status(work, spec, repository)
    events = _drift_events(work, created, changes.actions, status)
    if not observed.partial:
        status["images"] = _images(client, name)
        status["lastFullCheck"] = now_rfc3339()
    if changes.immutable_mismatches:
        message = "; ".join(changes.immutable_mismatches) + (
            ". ECR cannot change encryption of an existing repository: restore the spec's "
            "encryption to match, or create a new repository."
        )
        return Result(Outcome(Phase.STALLED, "ImmutableFieldChanged", message), status, events)
    verb = "created" if created else "in sync"
    return Result(Outcome(Phase.READY, "Available", f"repository {name} {verb}"), status, events)


def _observe(work: Pass, client: Any, name: str) -> Observed:
    """A full read (repository, tags, both policies) unless this is a check of an object in
    sync whose last full read is recent: then the repository alone, from the shared catalog.

    This keeps a fleet in sync at a fraction of a read per object per drift interval, while
    tags and policies are still compared every full-check interval (two hours by default).
    """
    if not work.in_sync or _full_check_due(work):
        return aws.observe(client, name)
    max_age = min(60.0, SETTINGS.drift_interval / 4)
    repository = aws.CATALOG.lookup(client, _registry(work), name, max_age)
    if repository is None or repository.get("repositoryArn") != work.status.get("arn"):
        return aws.observe(client, name)  # gone or replaced: confirm with a direct read
    return Observed(repository=repository, partial=True)


def _registry(work: Pass) -> tuple[str, str | None]:
    """The catalog's key: the repositories one identity sees in one region."""
    return (work.identity.region, work.identity.role_arn)


def _full_check_due(work: Pass) -> bool:
    last = work.status.get("lastFullCheck")
    if not last:
        return True
    try:
        when = dt.datetime.fromisoformat(str(last).replace("Z", "+00:00"))
    except ValueError:
        return True
    age = (dt.datetime.now(dt.UTC) - when).total_seconds()
    return age >= SETTINGS.full_check_interval


def _create(work: Pass, spec: EcrRepositorySpec, name: str, client: Any) -> tuple[Observed, bool]:
    tags = {**(spec.tags or {}), **work.owner.tags()}
    try:
        repository = aws.create(client, create_params(spec, name, tags))
    except Terminal as exc:
        if exc.code != "RepositoryAlreadyExistsException":
            raise
        # Created by someone else between our read and our create: judge it like any other.
        return aws.observe(client, name), False
    # The ARN goes into status before anything else can fail, so a later failure is a retry
    # on a known repository, never an orphan.
    work.record(_identity_fields(work, repository))
    work.logger.info("repository %s created", name)
    return Observed(repository=repository, tags=tags), True


def _refuse_foreign(
    work: Pass, spec: EcrRepositorySpec, name: str, observed: Observed
) -> Result | None:
    repository = observed.repository or {}
    if work.status.get("arn") == repository.get("repositoryArn"):
        return None  # we created or adopted it earlier; tags may have been edited since
    found = claim(observed.tags, work.owner)
    if found is Claim.OURS:
        return None
    if found is Claim.OTHER:
        return Result.stalled(
            "OwnedByOther",
            f"repository {name} is managed by {observed.tags.get(OWNER_TAG)}; it is left "
            "untouched. Choose another repositoryName, or delete the other object first.",
        )
    if spec.adoption == Adoption.ADOPT:
        work.logger.info("adopting existing repository %s", name)
        return None
    return Result.stalled(
        "AlreadyExists",
        f"repository {name} already exists and is not managed by Gantry; set "
        "spec.adoption: Adopt to take it over, or choose another repositoryName.",
    )


def _managed(work: Pass) -> Managed:
    return Managed(
        lifecycle_policy=bool(work.status.get("lifecyclePolicyManaged")),
        repository_policy=bool(work.status.get("repositoryPolicyManaged")),
    )


def _identity_fields(work: Pass, repository: dict[str, Any]) -> dict[str, Any]:
    created_at: Any = repository.get("createdAt")
    return {
        "arn": repository.get("repositoryArn"),
        "repositoryUri": repository.get("repositoryUri"),
        "registryId": repository.get("registryId"),
        "region": work.identity.region,
        "createdAt": created_at.isoformat() if hasattr(created_at, "isoformat") else created_at,
    }


def _status(work: Pass, spec: EcrRepositorySpec, repository: dict[str, Any]) -> dict[str, Any]:
    return {
        **_identity_fields(work, repository),
        "lifecyclePolicyManaged": spec.lifecycle_policy is not None,
        "repositoryPolicyManaged": spec.repository_policy is not None,
    }


def _drift_events(
    work: Pass, created: bool, actions: list[Action], status: dict[str, Any]
) -> list[Event]:
    """A write on an object whose spec did not change since the last pass is a drift repair."""
    if created or not actions:
        return []
    if not work.in_sync:
        return []
    events = []
    for action in actions:
        message = (
            f"{action.field} was changed outside Gantry: restored {action.old!r} -> {action.new!r}"
        )
        work.logger.warning(message)
        events.append(Event("Warning", "DriftRepaired", message))
        status["lastDriftRepair"] = {
            "field": action.field,
            "oldValue": action.old,
            "newValue": action.new,
            "time": now_rfc3339(),
        }
    return events


def _images(client: Any, name: str) -> dict[str, Any]:
    count, recent = aws.images(client, name)
    return {
        "count": count,
        "recent": [
            {
                "tag": (detail.get("imageTags") or [None])[0],
                "digest": detail["imageDigest"],
                "pushedAt": str(detail.get("imagePushedAt", "")),
            }
            for detail in recent
        ],
    }


def delete(work: Pass, spec: EcrRepositorySpec) -> Result | None:
    """None when the object may go; a Result (DeletionBlocked) when it must wait."""
    name = repository_name(work, spec)
    if spec.deletion_policy == DeletionPolicy.RETAIN:
        work.logger.info("deletionPolicy Retain: repository %s left in AWS", name)
        return None
    client = work.client(aws.SERVICE)
    observed = aws.observe(client, name)
    if observed.repository is None:
        return None
    if _refuse_foreign(work, spec, name, observed) is not None:
        work.logger.info("repository %s is not ours; left in AWS", name)
        return None
    if not spec.force:
        count, _ = aws.images(client, name)
        if count:
            return _blocked(work, name, count)
    aws.delete(client, name, force=spec.force)
    work.logger.info("repository %s deleted", name)
    return None


def _blocked(work: Pass, name: str, count: int) -> Result:
    message = (
        f"repository {name} still holds {count} image(s); deletion is blocked so no image is "
        "lost. Set spec.force: true to delete them with it, set spec.deletionPolicy: Retain "
        "to keep the repository, or delete the images first."
    )
    was_blocked = find_condition(work.status.get("conditions") or [], "DeletionBlocked")
    events = []
    if not was_blocked or was_blocked.get("status") != TRUE:
        work.logger.warning(message)
        events.append(Event("Warning", "DeletionBlocked", message))
    outcome = Outcome(
        Phase.DELETING,
        "DeletionBlocked",
        message,
        extra=(extra_condition("DeletionBlocked", TRUE, "RepositoryNotEmpty", message),),
    )
    return Result(outcome, {}, events, poll_after=SETTINGS.blocked_retry_delay)
