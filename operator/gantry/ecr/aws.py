"""boto3 I/O for EcrRepository: read calls in `observe()`, one call per action in `apply()`.

Handlers pass in a client from `core.aws.Clients`; every exception leaves this module as
Retryable, Terminal or NotFound (via `core.errors.translate`). ECR's own error codes are
registered below as data.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from typing import Any

from gantry.core.errors import ErrorClass, NotFound, register_codes, translate
from gantry.ecr.diff import Action, Observed

SERVICE = "ecr"

register_codes(
    SERVICE,
    {
        "RepositoryNotFoundException": ErrorClass.NOT_FOUND,
        "LifecyclePolicyNotFoundException": ErrorClass.NOT_FOUND,
        "RepositoryPolicyNotFoundException": ErrorClass.NOT_FOUND,
        "ImageNotFoundException": ErrorClass.NOT_FOUND,
        "RepositoryAlreadyExistsException": ErrorClass.TERMINAL,
        "RepositoryNotEmptyException": ErrorClass.TERMINAL,
        "InvalidTagParameterException": ErrorClass.TERMINAL,
        "TooManyTagsException": ErrorClass.TERMINAL,
        "KmsException": ErrorClass.TERMINAL,
        "LimitExceededException": ErrorClass.TERMINAL,
        "ServerException": ErrorClass.RETRYABLE,
    },
    message_rules=(("InvalidParameterException", "principal", ErrorClass.RETRYABLE),),
)

RECENT_IMAGES = 5


class Catalog:
    """DescribeRepositories pages shared by every object of one registry (role and region).

    Drift passes of a thousand repositories would cost a thousand reads; one paginated read
    returns up to 1,000 repositories, so passes within `max_age` of each other share it.
    Change passes never use it: they read their repository directly. A page taken before
    Gantry's own last write to a repository is not used for that repository: it would show
    the setting just replaced, and a drift pass would "repair" what is already right.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._pages: dict[Hashable, tuple[float, dict[str, dict[str, Any]]]] = {}
        self._written: dict[tuple[Hashable, str], float] = {}

    def wrote(self, key: Hashable, name: str) -> None:
        """Gantry has just changed repository `name` of registry `key`."""
        with self._guard:
            self._written[(key, name)] = time.monotonic()

    def lookup(
        self, client: Any, key: Hashable, name: str, max_age: float
    ) -> dict[str, Any] | None:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        # One refresh per registry at a time; the others wait and then read its result.
        with lock:
            taken, repositories = self._pages.get(key, (0.0, {}))
            with self._guard:
                written = self._written.get((key, name), 0.0)
            if time.monotonic() - taken > max_age or taken <= written:
                taken, repositories = time.monotonic(), _all_repositories(client)
                self._pages[key] = (taken, repositories)
                self._forget_writes_before(key, taken)
        return repositories.get(name)

    def _forget_writes_before(self, key: Hashable, taken: float) -> None:
        # A write older than the page is in the page; only newer ones need remembering.
        with self._guard:
            for entry in [e for e, at in self._written.items() if e[0] == key and at < taken]:
                del self._written[entry]


def _all_repositories(client: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    with translate(SERVICE):
        pages = client.get_paginator("describe_repositories").paginate(
            PaginationConfig={"PageSize": 1000}
        )
        for page in pages:
            for repository in page.get("repositories", []):
                found[repository["repositoryName"]] = repository
    return found


CATALOG = Catalog()


def describe(client: Any, name: str) -> dict[str, Any] | None:
    try:
        with translate(SERVICE):
            response = client.describe_repositories(repositoryNames=[name])
    except NotFound:
        return None
    repositories = response.get("repositories") or []
    return repositories[0] if repositories else None


def observe(client: Any, name: str) -> Observed:
    """Read the repository and its settings. Four reads when it exists, one when not."""
    repository = describe(client, name)
    if repository is None:
        return Observed(repository=None)
    return Observed(
        repository=repository,
        tags=_tags(client, repository["repositoryArn"]),
        lifecycle_policy=_optional(
            client.get_lifecycle_policy, "lifecyclePolicyText", repositoryName=name
        ),
        repository_policy=_optional(
            client.get_repository_policy, "policyText", repositoryName=name
        ),
    )


def _tags(client: Any, arn: str) -> dict[str, str]:
    with translate(SERVICE):
        response = client.list_tags_for_resource(resourceArn=arn)
    return {t["Key"]: t["Value"] for t in response.get("tags", [])}


def _optional(call: Any, key: str, **params: Any) -> str | None:
    try:
        with translate(SERVICE):
            return str(call(**params)[key])
    except NotFound:
        return None


def create(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    with translate(SERVICE):
        repository: dict[str, Any] = client.create_repository(**params)["repository"]
    return repository


_OPERATIONS = {
    "PutImageTagMutability": "put_image_tag_mutability",
    "PutImageScanningConfiguration": "put_image_scanning_configuration",
    "PutLifecyclePolicy": "put_lifecycle_policy",
    "DeleteLifecyclePolicy": "delete_lifecycle_policy",
    "SetRepositoryPolicy": "set_repository_policy",
    "DeleteRepositoryPolicy": "delete_repository_policy",
    "TagResource": "tag_resource",
    "UntagResource": "untag_resource",
}


def apply(client: Any, action: Action) -> None:
    """Perform one action. A delete of something already gone counts as done."""
    try:
        with translate(SERVICE):
            getattr(client, _OPERATIONS[action.operation])(**action.params)
    except NotFound:
        if not action.operation.startswith("Delete"):
            raise


def images(client: Any, name: str) -> tuple[int, list[dict[str, Any]]]:
    """How many images the repository holds, and the most recently pushed ones."""
    details: list[dict[str, Any]] = []
    with translate(SERVICE):
        for page in client.get_paginator("describe_images").paginate(repositoryName=name):
            details.extend(page.get("imageDetails", []))
    details.sort(key=lambda d: str(d.get("imagePushedAt", "")), reverse=True)
    return len(details), details[:RECENT_IMAGES]


def delete(client: Any, name: str, force: bool) -> None:
    try:
        with translate(SERVICE):
            client.delete_repository(repositoryName=name, force=force)
    except NotFound:
        return
