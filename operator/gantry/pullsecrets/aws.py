"""boto3 I/O for the pull-secret kinds: one call, GetAuthorizationToken.

`reconcile.py` passes in a client from `core.aws.Clients` (so the call is counted and capped
like every other) and the time it asks at. Exceptions leave as Retryable / Terminal via
`core.errors.translate`. A malformed answer is Retryable with a message that quotes nothing
of the token.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gantry.core.errors import Retryable, translate
from gantry.pullsecrets.diff import Token, decode_token

SERVICE = "ecr"


def get_token(client: Any, now: dt.datetime) -> Token:
    """A fresh authorization token for the identity the client acts as."""
    with translate(SERVICE):
        response = client.get_authorization_token()
    data = (response.get("authorizationData") or [{}])[0]
    try:
        username, password = decode_token(str(data["authorizationToken"]))
        expires_at = _utc(data["expiresAt"])
        endpoint = str(data["proxyEndpoint"])
    except KeyError as exc:
        raise Retryable("MalformedAuthorizationToken", f"the answer lacks {exc}") from None
    except ValueError as exc:
        # decode_token's messages quote nothing of the token; the chain is cut all the same.
        raise Retryable("MalformedAuthorizationToken", str(exc)) from None
    return Token(username, password, endpoint, expires_at, now)


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(float(value), dt.UTC)
