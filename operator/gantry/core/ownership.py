"""Ownership tags on AWS resources and the rules for adopting a resource that already exists.

Every resource Gantry creates carries `gantry.dev/owner` = `<cluster-id>/<namespace>/<kind>/<name>`
and `gantry.dev/uid`. A resource found with the same name is adopted only when its tags name
this very object (same owner string), or when the spec asks for adoption explicitly; a
resource whose tags name another object is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

OWNER_TAG = "gantry.dev/owner"
UID_TAG = "gantry.dev/uid"


@dataclass(frozen=True)
class Owner:
    cluster_id: str
    namespace: str
    kind: str
    name: str
    uid: str

    @property
    def value(self) -> str:
        return f"{self.cluster_id}/{self.namespace or '_cluster'}/{self.kind}/{self.name}"

    def tags(self) -> dict[str, str]:
        return {OWNER_TAG: self.value, UID_TAG: self.uid}


class Claim(StrEnum):
    OURS = "Ours"  # tags name this object
    UNOWNED = "Unowned"  # no ownership tag at all
    OTHER = "Other"  # tags name another object


def claim(tags: Mapping[str, str], owner: Owner) -> Claim:
    """Who owns a resource, judged by its tags. The owner string decides; the uid does not,
    so an object deleted with Retain and re-created under the same name finds its resource."""
    found = tags.get(OWNER_TAG)
    if found is None:
        return Claim.UNOWNED
    return Claim.OURS if found == owner.value else Claim.OTHER


def may_adopt(current: Claim, explicit_adoption: bool) -> bool:
    if current is Claim.OURS:
        return True
    return current is Claim.UNOWNED and explicit_adoption


def is_ownership_tag(key: str) -> bool:
    return key in (OWNER_TAG, UID_TAG)
