"""The one place that looks at botocore exceptions.

`aws.py` modules of each service call `classify()` (usually through `translate()`) and get one
of three classes back: Retryable (try again with backoff), Terminal (the spec must change) or
NotFound (the resource is absent; observe reads it as None). Which AWS error codes fall in
which class is data: a table shared by every service plus one table per service, registered
by the service package. Anything we do not recognise is Retryable, because a wrong retry
costs a few calls while a wrong Terminal strands an object until someone edits it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.parsers import ResponseParserError


class ErrorClass(StrEnum):
    RETRYABLE = "Retryable"
    TERMINAL = "Terminal"
    NOT_FOUND = "NotFound"


class GantryError(Exception):
    """Base of the three classes; carries the AWS code and a message fit for a condition."""

    error_class: ErrorClass = ErrorClass.RETRYABLE

    def __init__(self, code: str, message: str, operation: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.operation = operation


class Retryable(GantryError):
    error_class = ErrorClass.RETRYABLE


class Terminal(GantryError):
    error_class = ErrorClass.TERMINAL


class NotFound(GantryError):
    error_class = ErrorClass.NOT_FOUND


# Codes that mean the same thing in every service.
COMMON_CODES: Mapping[str, ErrorClass] = {
    "Throttling": ErrorClass.RETRYABLE,
    "ThrottlingException": ErrorClass.RETRYABLE,
    "ThrottledException": ErrorClass.RETRYABLE,
    "RequestLimitExceeded": ErrorClass.RETRYABLE,
    "TooManyRequestsException": ErrorClass.RETRYABLE,
    "RequestThrottled": ErrorClass.RETRYABLE,
    "SlowDown": ErrorClass.RETRYABLE,
    "ServiceUnavailable": ErrorClass.RETRYABLE,
    "ServiceUnavailableException": ErrorClass.RETRYABLE,
    "InternalFailure": ErrorClass.RETRYABLE,
    "InternalError": ErrorClass.RETRYABLE,
    "ServerException": ErrorClass.RETRYABLE,
    "RequestTimeout": ErrorClass.RETRYABLE,
    "RequestTimeoutException": ErrorClass.RETRYABLE,
    "ExpiredToken": ErrorClass.RETRYABLE,
    "ExpiredTokenException": ErrorClass.RETRYABLE,
    "InvalidParameterException": ErrorClass.TERMINAL,
    "InvalidParameterValue": ErrorClass.TERMINAL,
    "InvalidParameterValueException": ErrorClass.TERMINAL,
    "ValidationError": ErrorClass.TERMINAL,
    "ValidationException": ErrorClass.TERMINAL,
    "LimitExceededException": ErrorClass.TERMINAL,
    "AccessDenied": ErrorClass.TERMINAL,
    "AccessDeniedException": ErrorClass.TERMINAL,
    "UnauthorizedOperation": ErrorClass.TERMINAL,
    "UnrecognizedClientException": ErrorClass.TERMINAL,
    "InvalidClientTokenId": ErrorClass.TERMINAL,
}

_SERVICE_CODES: dict[str, dict[str, ErrorClass]] = {}

# (code, lower-case message fragment) -> class, for codes whose meaning depends on the message.
# The standing example: a policy naming a role created moments ago is refused as an invalid
# parameter until IAM's eventual consistency catches up, so it must be retried, not reported
# as the user's mistake.
_MESSAGE_RULES: dict[str, list[tuple[str, str, ErrorClass]]] = {}


def register_codes(
    service: str,
    codes: Mapping[str, ErrorClass],
    message_rules: tuple[tuple[str, str, ErrorClass], ...] = (),
) -> None:
    """Add a service's own table (called once at import by each service's aws.py)."""
    _SERVICE_CODES.setdefault(service, {}).update(codes)
    _MESSAGE_RULES.setdefault(service, []).extend(message_rules)


def _by_message(service: str, code: str, message: str) -> ErrorClass | None:
    lowered = message.lower()
    for rule_code, fragment, error_class in _MESSAGE_RULES.get(service, []):
        if rule_code == code and fragment in lowered:
            return error_class
    return None


def classify(exc: BaseException, service: str) -> GantryError:
    """Map any exception raised by a boto3 call to one of the three classes."""
    if isinstance(exc, GantryError):
        return exc
    if isinstance(exc, ClientError):
        return _from_client_error(exc, service)
    if isinstance(exc, ResponseParserError):
        # An HTML page or other non-AWS body, typically a 5xx from a proxy or an emulator
        # that does not implement the operation. Never a crash; retried with backoff.
        return Retryable("UnparsableResponse", first_line(str(exc)))
    if isinstance(exc, EndpointConnectionError | BotoConnectionError | ReadTimeoutError):
        return Retryable("ConnectionError", str(exc))
    if isinstance(exc, NoCredentialsError):
        return Terminal("NoCredentials", "no AWS credentials found for the operator")
    if isinstance(exc, BotoCoreError):
        return Retryable(type(exc).__name__, str(exc))
    return Retryable(type(exc).__name__, str(exc))


def _from_client_error(exc: ClientError, service: str) -> GantryError:
    error: Mapping[str, Any] = exc.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or "")
    operation = exc.operation_name
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    table = _SERVICE_CODES.get(service, {})
    known = code in table or code in COMMON_CODES  # "404" of an S3 HEAD is a real answer
    if not known and (not code[:1].isalpha() or message.lstrip().startswith("<")):
        # botocore names an error whose body it could not read by its HTTP status ("500"),
        # and keeps the body (an HTML page) as the message: neither belongs in a condition.
        return Retryable(
            "UnparsableResponse",
            f"{operation} got HTTP {status or code} with a body that is not an AWS response "
            "(is the region or endpoint right?)",
            operation,
        )
    error_class = _by_message(service, code, message) or table.get(code) or COMMON_CODES.get(code)
    if error_class is None:
        # Unknown 4xx are the caller's fault more often than not, but we cannot be sure
        # they will not clear; 5xx and unknown statuses are the server's.
        error_class = ErrorClass.TERMINAL if 400 <= status < 500 else ErrorClass.RETRYABLE
    cls = {
        ErrorClass.RETRYABLE: Retryable,
        ErrorClass.TERMINAL: Terminal,
        ErrorClass.NOT_FOUND: NotFound,
    }[error_class]
    return cls(code, message, operation)


def first_line(text: str, limit: int = 300) -> str:
    """The first line of an error text, bounded, for a condition message."""
    return text.strip().splitlines()[0][:limit] if text.strip() else "unparsable response"


@contextlib.contextmanager
def translate(service: str) -> Iterator[None]:
    """Run boto3 calls and re-raise whatever they raise as Retryable/Terminal/NotFound."""
    try:
        yield
    except GantryError:
        raise
    except Exception as exc:
        raise classify(exc, service) from exc


THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
    }
)


def is_throttle(code: str) -> bool:
    return code in THROTTLE_CODES
