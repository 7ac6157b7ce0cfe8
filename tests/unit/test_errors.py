"""botocore errors become Retryable, Terminal or NotFound from one table."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.parsers import ResponseParserError
from gantry.core.errors import ErrorClass, Terminal, classify
from gantry.ecr import aws as ecr_aws  # registers ECR's table
from gantry.runtime import _terminal_message


def client_error(code: str, status: int = 400) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "SomeOperation")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, ErrorClass.RETRYABLE),
        ("InternalFailure", 500, ErrorClass.RETRYABLE),
        ("SomethingNew", 503, ErrorClass.RETRYABLE),
        ("InvalidParameterException", 400, ErrorClass.TERMINAL),
        ("RepositoryNotFoundException", 400, ErrorClass.NOT_FOUND),
        ("RepositoryNotEmptyException", 400, ErrorClass.TERMINAL),
    ],
)
def test_aws_codes_map_to_their_class(code: str, status: int, expected: ErrorClass) -> None:
    assert classify(client_error(code, status), ecr_aws.SERVICE).error_class is expected


def test_principal_not_found_in_a_new_policy_is_retried() -> None:
    response = {
        "Error": {
            "Code": "InvalidParameterException",
            "Message": "Invalid parameter at 'PolicyText': Invalid principal in policy",
        },
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    exc = ClientError(response, "SetRepositoryPolicy")  # type: ignore[arg-type]
    assert classify(exc, ecr_aws.SERVICE).error_class is ErrorClass.RETRYABLE


def test_html_500_from_an_emulator_is_retryable_not_a_crash() -> None:
    exc = ResponseParserError("Unable to parse response (<html><body>500</body></html>)")
    error = classify(exc, "cloudformation")
    assert error.error_class is ErrorClass.RETRYABLE
    assert error.code == "UnparsableResponse"


def test_connection_errors_are_retryable() -> None:
    exc = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert classify(exc, "ecr").error_class is ErrorClass.RETRYABLE


def test_terminal_keeps_the_aws_message_for_the_condition() -> None:
    error = classify(client_error("InvalidParameterException"), "ecr")
    assert error.message == "InvalidParameterException happened"
    assert error.code == "InvalidParameterException"


def test_terminal_message_ends_in_one_full_stop_and_says_what_to_do() -> None:
    message = _terminal_message(Terminal("ClientException", "Container.memory must be set.."))
    assert message.startswith("Container.memory must be set. Change the spec")
    assert ".." not in message


def test_an_html_error_page_is_a_retry_whose_message_quotes_no_html() -> None:
    response = {
        "Error": {"Code": "500", "Message": "<!doctype html>\n<title>500 Internal</title>"},
        "ResponseMetadata": {"HTTPStatusCode": 500},
    }
    error = classify(ClientError(response, "CreateRepository"), ecr_aws.SERVICE)  # type: ignore[arg-type]
    assert error.error_class is ErrorClass.RETRYABLE
    assert error.code == "UnparsableResponse"
    assert "<" not in error.message
    assert "CreateRepository got HTTP 500" in error.message
