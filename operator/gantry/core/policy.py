"""Canonical forms of IAM-style JSON policy documents, so an unchanged policy never causes a
write. Pure functions; used by every service diff that compares a policy with what AWS
echoes back (AWS reorders lists, turns one-element lists into scalars and vice versa, and
accepts a bare account id where it later shows the account's root ARN)."""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_VERSION = "2012-10-17"
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_LIST_KEYS = ("Action", "NotAction", "Resource", "NotResource")


def canonical_policy(document: str | dict[str, Any]) -> dict[str, Any]:
    """Parse (if needed) and normalise a policy document. Raises ValueError on bad JSON."""
    data = json.loads(document) if isinstance(document, str) else document
    if not isinstance(data, dict):
        raise ValueError("a policy document must be a JSON object")
    statements = data.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise ValueError("Statement must be an object or a list of objects")
    result = {k: v for k, v in data.items() if k != "Statement"}
    result.setdefault("Version", DEFAULT_VERSION)
    result["Statement"] = sorted(
        (canonical_statement(s) for s in statements),
        key=lambda s: json.dumps(s, sort_keys=True),
    )
    return result


def check_policy(policy: dict[str, Any]) -> None:
    """The policy grammar AWS enforces, so a refusal comes before anything is created and
    names the statement. Raises ValueError."""
    statements = policy.get("Statement") or []
    if not statements:
        raise ValueError("it has no Statement")
    for number, statement in enumerate(statements, 1):
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise ValueError(f"statement {number}: Effect must be Allow or Deny")
        if "Sid" in statement and not isinstance(statement["Sid"], str):
            raise ValueError(f"statement {number}: Sid must be a string")
        for key in ("Principal", "NotPrincipal"):
            if key in statement and not _is_principal(statement[key]):
                raise ValueError(
                    f'statement {number}: {key} must be "*" or a map such as {{"AWS": [...]}}'
                )
        for key in _LIST_KEYS:
            if key in statement and not all(isinstance(v, str) for v in statement[key]):
                raise ValueError(f"statement {number}: {key} must be a string or strings")
        if not any(k in statement for k in ("Action", "NotAction")):
            raise ValueError(f"statement {number}: it needs Action or NotAction")


def _is_principal(value: Any) -> bool:
    return value == "*" or (
        isinstance(value, dict) and all(isinstance(v, list) for v in value.values())
    )


def canonical_statement(statement: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in statement.items():
        if value is None:
            continue
        if key in ("Principal", "NotPrincipal"):
            result[key] = canonical_principal(value)
        elif key in _LIST_KEYS:
            result[key] = _as_sorted_list(value)
        elif key == "Condition":
            result[key] = _canonical_condition(value)
        else:
            result[key] = value
    return result


def canonical_principal(value: Any) -> Any:
    """`"*"` stays as is; a bare account id becomes its root ARN; members become sorted lists.

    So `{"AWS": "123456789012"}` equals `{"AWS": ["arn:aws:iam::123456789012:root"]}`.
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for kind, members in value.items():
        items = _as_sorted_list(members)
        if kind == "AWS":
            items = sorted(_account_root(m) for m in items)
        result[kind] = items
    return result


def _account_root(member: Any) -> str:
    # YAML turns an unquoted account id into a number; AWS reads it as the same text.
    if isinstance(member, int) and not isinstance(member, bool):
        member = str(member)
    if not isinstance(member, str):
        raise ValueError(f"a principal must be a string, not {type(member).__name__}")
    return f"arn:aws:iam::{member}:root" if _ACCOUNT_ID.match(member) else member


def _canonical_condition(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {
        operator: {key: sorted(str(v) for v in _as_list(vals)) for key, vals in keys.items()}
        if isinstance(keys, dict)
        else keys
        for operator, keys in value.items()
    }


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _as_sorted_list(value: Any) -> list[Any]:
    return sorted(_as_list(value), key=str)


def dumps(document: dict[str, Any]) -> str:
    """Stable compact JSON text for sending a canonical document to AWS."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))
