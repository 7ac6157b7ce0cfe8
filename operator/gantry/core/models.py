"""Pydantic building blocks shared by every kind's models.

Field names are snake_case in Python and camelCase in YAML (the alias), as Kubernetes users
expect. Descriptions on fields become the CRD's descriptions, which `kubectl explain` prints,
so every field has one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
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
        f"spec.{field} is immutable (unset, it is metadata.name); create a new object to change it",
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
