"""The namespace -> AWS identity map every pass resolves its identity from."""

from __future__ import annotations

from gantry.runtime import NamespaceBindings

ROLE = "gantry.dev/aws-role-arn"
REGION = "gantry.dev/aws-region"


def test_only_gantry_aws_annotations_bind_an_identity() -> None:
    bindings = NamespaceBindings()
    bindings.load([("team", {ROLE: "arn:aws:iam::111111111111:role/t", "owner": "ops"})])
    assert bindings.get("team") == {ROLE: "arn:aws:iam::111111111111:role/t"}


def test_unknown_namespace_has_no_binding() -> None:
    assert NamespaceBindings().get("nowhere") == {}


def test_an_annotation_change_replaces_the_binding_and_deletion_forgets_it() -> None:
    bindings = NamespaceBindings()
    bindings.load([("team", {REGION: "eu-west-1"})])
    bindings.update("team", {REGION: "us-west-2"})
    assert bindings.get("team") == {REGION: "us-west-2"}
    bindings.update("team", {})
    assert bindings.get("team") == {}
    bindings.update("team", None)
    assert bindings.get("team") == {}


def test_a_reload_replaces_everything_known_before() -> None:
    bindings = NamespaceBindings()
    bindings.load([("old", {REGION: "eu-west-1"})])
    bindings.load([("new", {REGION: "us-west-2"})])
    assert bindings.get("old") == {}
    assert bindings.get("new") == {REGION: "us-west-2"}


def test_callers_get_a_copy_they_cannot_change_the_map_through() -> None:
    bindings = NamespaceBindings()
    bindings.load([("team", {REGION: "eu-west-1"})])
    bindings.get("team")[REGION] = "changed"
    assert bindings.get("team") == {REGION: "eu-west-1"}
