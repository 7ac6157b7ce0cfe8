"""The shared DescribeRepositories pages drift passes read instead of one call each."""

from __future__ import annotations

from typing import Any

from gantry.ecr.aws import Catalog

KEY = ("us-east-1", None)


class FakeEcr:
    """Pages of repositories, with a count of how often they were read."""

    def __init__(self, mutability: str) -> None:
        self.mutability = mutability
        self.reads = 0

    def get_paginator(self, name: str) -> Any:
        fake = self

        class Pages:
            def paginate(self, **_: Any) -> Any:
                fake.reads += 1
                return [{"repositories": [fake.repository("web"), fake.repository("api")]}]

        return Pages()

    def repository(self, name: str) -> dict[str, Any]:
        return {"repositoryName": name, "imageTagMutability": self.mutability}


def test_passes_within_the_age_share_one_read() -> None:
    ecr, catalog = FakeEcr("MUTABLE"), Catalog()
    for name in ("web", "api", "web"):
        assert catalog.lookup(ecr, KEY, name, max_age=60) is not None
    assert ecr.reads == 1


def test_a_page_older_than_our_own_write_is_not_used_for_that_repository() -> None:
    ecr, catalog = FakeEcr("MUTABLE"), Catalog()
    catalog.lookup(ecr, KEY, "web", max_age=60)
    ecr.mutability = "IMMUTABLE"  # a change pass wrote it
    catalog.wrote(KEY, "web")

    found = catalog.lookup(ecr, KEY, "web", max_age=60)
    assert found is not None
    assert found["imageTagMutability"] == "IMMUTABLE"
    assert ecr.reads == 2


def test_one_read_after_a_write_serves_every_later_pass() -> None:
    ecr, catalog = FakeEcr("MUTABLE"), Catalog()
    catalog.lookup(ecr, KEY, "web", max_age=60)
    catalog.wrote(KEY, "web")
    catalog.wrote(KEY, "api")
    for name in ("web", "api", "web", "api"):
        catalog.lookup(ecr, KEY, name, max_age=60)
    assert ecr.reads == 2


def test_a_write_in_another_registry_does_not_refresh_this_one() -> None:
    ecr, catalog = FakeEcr("MUTABLE"), Catalog()
    catalog.lookup(ecr, KEY, "web", max_age=60)
    catalog.wrote(("eu-west-1", None), "web")
    catalog.lookup(ecr, KEY, "web", max_age=60)
    assert ecr.reads == 1
