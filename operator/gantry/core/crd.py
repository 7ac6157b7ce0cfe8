"""CustomResourceDefinitions generated from the pydantic models of each kind.

`gantry crds` calls `render_crd()` for every registered kind and writes crds/*.yaml; a test
checks that the files equal what this module prints. pydantic's JSON Schema is turned into a
structural schema the API server accepts: `$ref`s inlined, nullable `anyOf`s collapsed to the
plain type, titles dropped, and `x-kubernetes-*` extensions passed through from the models.
Spec defaults are deliberately not copied into the CRD (models apply them in the operator), so
a GitOps tool never sees a field it did not write; status carries `observedGeneration: -1` as
a default so a new object never reads as done before Gantry looked at it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from gantry import API_GROUP, API_VERSION

Schema = dict[str, Any]

_DROP = ("title", "default", "examples")


@dataclass(frozen=True)
class KindInfo:
    """What the generator needs to know about one kind beyond its models."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel]
    scope: str = "Namespaced"
    identifier_column: tuple[str, str] = ("", "")  # (name, JSONPath), shown by default
    wide_columns: tuple[tuple[str, str, str], ...] = ()  # (name, type, JSONPath), -o wide
    spec_rules: tuple[dict[str, str], ...] = field(default=())
    object_rules: tuple[dict[str, str], ...] = field(default=())  # may read metadata.name

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def controller(self) -> str:
        return self.kind.lower()


def structural(model: type[BaseModel]) -> Schema:
    """The structural OpenAPI v3 schema of a pydantic model."""
    raw = model.model_json_schema(mode="validation", by_alias=True)
    defs = raw.pop("$defs", {})
    cleaned: Schema = _clean(raw, defs)
    return cleaned


def _clean(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_clean(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = _collapse_nullable(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].split("/")[-1]])
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _clean(merged, defs)
    node = _openapi_v3(node)
    result: Schema = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key in ("properties", "patternProperties"):
            result[key] = {name: _clean(sub, defs) for name, sub in value.items()}
        elif key == "additionalProperties" and isinstance(value, bool):
            # Structural schemas forbid additionalProperties: false next to properties;
            # unknown fields are pruned or refused with fieldValidation=Strict instead.
            if value and "properties" not in node:
                result[key] = value
        else:
            result[key] = _clean(value, defs)
    if result.get("type") == "object" and not {"properties", "additionalProperties"} & set(result):
        result["x-kubernetes-preserve-unknown-fields"] = True
    return result


def _collapse_nullable(node: Schema) -> Schema:
    """`X | None` becomes `X`: absence, not null, is how a CR leaves a field unset."""
    options = node.get("anyOf")
    if not options:
        return node
    non_null = [o for o in options if o.get("type") != "null"]
    if len(non_null) != 1:
        return node
    merged = {k: v for k, v in node.items() if k != "anyOf"}
    return {**non_null[0], **merged}


def _openapi_v3(node: Schema) -> Schema:
    """JSON Schema 2020 spellings pydantic emits, in the OpenAPI v3.0 form Kubernetes reads."""
    node = dict(node)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            node[plain] = node[bound]
            node[bound] = True
    return node


CONDITIONS_SCHEMA: Schema = {
    "type": "array",
    "description": "The latest observations of the object's state, metav1.Condition-shaped.",
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
    "items": {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string", "description": "Ready, Synced, Reconciling, Stalled..."},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string", "description": "A CamelCase word to search for."},
            "message": {"type": "string", "description": "What happened and what to do."},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "observedGeneration": {"type": "integer", "format": "int64"},
        },
    },
}


def status_schema(model: type[BaseModel]) -> Schema:
    schema = structural(model)
    properties = schema.setdefault("properties", {})
    properties["observedGeneration"] = {
        "type": "integer",
        "format": "int64",
        "description": "The generation Gantry last acted on; -1 until it first looked.",
    }
    properties["conditions"] = CONDITIONS_SCHEMA
    schema.pop("required", None)
    schema["default"] = {"observedGeneration": -1}
    return schema


def _columns(info: KindInfo) -> list[Schema]:
    def condition(type_: str) -> str:
        return f'.status.conditions[?(@.type=="{type_}")]'

    columns: list[Schema] = [
        {"name": "Ready", "type": "string", "jsonPath": condition("Ready") + ".status"},
        {"name": "Synced", "type": "string", "jsonPath": condition("Synced") + ".status"},
    ]
    name, path = info.identifier_column
    if name:
        columns.append({"name": name, "type": "string", "jsonPath": path})
    columns.append({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
    columns.append(
        {
            "name": "Reason",
            "type": "string",
            "jsonPath": condition("Ready") + ".reason",
            "priority": 1,
        }
    )
    for wide_name, wide_type, wide_path in info.wide_columns:
        columns.append({"name": wide_name, "type": wide_type, "jsonPath": wide_path, "priority": 1})
    return columns


def render_crd(info: KindInfo) -> Schema:
    spec = structural(info.spec)
    if info.spec_rules:
        spec["x-kubernetes-validations"] = [dict(rule) for rule in info.spec_rules]
    schema: Schema = {
        "type": "object",
        "description": (info.spec.__doc__ or info.kind).strip().splitlines()[0],
        "required": ["spec"],
        **({"x-kubernetes-validations": list(info.object_rules)} if info.object_rules else {}),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status_schema(info.status),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{info.plural}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "scope": info.scope,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": ["gantry"],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": _columns(info),
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }
