"""Pydantic building blocks shared by every kind's models.

Field names are snake_case in Python and camelCase in YAML (the alias), as Kubernetes users
expect. Descriptions on fields become the CRD's descriptions, which `kubectl explain` prints,
so every field has one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo
from pydantic.alias_generators import to_camel


class GantryModel(BaseModel):
    """Base of every spec and status model: camelCase aliases, unknown keys ignored (the API
    server already pruned or refused them)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_enum_values=True,
    )

    def to_api(self) -> dict[str, Any]:
        """The camelCase dict written to the API, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# The context under which a spec is read to delete what it made. Checks that the CRD does
# not also make (AwsTags, say) are skipped then: an object created before such a mistake was
# written into its spec must still be deleted from AWS, not taken for one that made nothing.
DELETING = {"deleting": True}


def deleting(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("deleting"))


def _aws_tag_keys(tags: dict[str, str] | None, info: ValidationInfo) -> dict[str, str] | None:
    # Checked here (InvalidSpec before any AWS call) rather than by CEL: a rule over every
    # key of an unbounded map would exceed the API server's cost budget.
    if deleting(info):
        return tags
    reserved = sorted(k for k in tags or {} if k.lower().startswith("aws:"))
    if reserved:
        raise ValueError(f"tag keys starting with aws: are reserved for AWS: {', '.join(reserved)}")
    return tags


# A spec's `tags`: AWS refuses keys in its own aws: namespace on every resource Gantry tags.
AwsTags = Annotated[dict[str, str] | None, AfterValidator(_aws_tag_keys)]


class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    RETAIN = "Retain"


def cel(rule: str, message: str, **extra: str) -> dict[str, str]:
    """One `x-kubernetes-validations` entry: a CEL rule and the message the API server gives."""
    return {"rule": rule, "message": message, **extra}


def immutable(field: str, default: str | None = None) -> dict[str, str]:
    """A spec-level CEL rule keeping `field` as it was set at creation. With a `default`
    (the value an unset field means), the value in effect is compared, so writing the
    default out, as tools that render every default do, or leaving it out again is no
    change; without one, set or unset must stay as they were."""
    if default is None:
        rule = (
            f"has(self.{field}) == has(oldSelf.{field}) && "
            f"(!has(self.{field}) || self.{field} == oldSelf.{field})"
        )
    else:
        value = "'" + default.replace("\\", "\\\\").replace("'", "\\'") + "'"
        rule = (
            f"(has(self.{field}) ? self.{field} : {value}) == "
            f"(has(oldSelf.{field}) ? oldSelf.{field} : {value})"
        )
    return cel(rule, f"spec.{field} is immutable; create a new object to change it",
               fieldPath=f".{field}")  # fmt: skip


def immutable_name(field: str) -> dict[str, str]:
    """An object-level CEL rule (only there can CEL read metadata.name) for a name that
    defaults to the object's own: the name in effect stays as it was at creation, so
    writing it out or leaving it out again is no change."""

    def effective(side: str) -> str:
        return f"(has({side}.spec.{field}) ? {side}.spec.{field} : {side}.metadata.name)"

    return cel(
        f"{effective('self')} == {effective('oldSelf')}",
        f"spec.{field} is immutable (when unset it is metadata.name); create a new object to "
        "change it",
        fieldPath=f".spec.{field}",
    )


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """json_schema_extra for a field or model carrying CEL rules."""
    return {"x-kubernetes-validations": list(rules)}


def region_field() -> Any:
    return Field(
        default=None,
        description=(
            "AWS region. Defaults to the namespace's bound region (annotation "
            "gantry.dev/aws-region), then the operator's default region."
        ),
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
        max_length=32,
    )
