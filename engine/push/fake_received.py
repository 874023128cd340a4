"""The one shape in which the fake APNs and the fake FCM report what they accepted
(``GET /_fake/received``, and their ``received`` / ``attempts`` attributes)::

    {"received": [{"token": "...", "payload": {...}, "headers": {...}}, ...],
     "attempts": {"<token>": <push requests seen for it>}}

``token`` is the device's push token (APNs: the hex token in the request path; FCM:
``message.token``); ``payload`` is what the app receives (APNs: the JSON payload; FCM:
``message.data``); ``headers`` are the HTTP request's headers, names in lower case
(``authorization`` included). Records are in the order the pushes were accepted. The
fake FCM adds ``android`` (the message's Android options) to each record and
``token_grants`` (OAuth tokens it issued) to the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["received_answer", "received_record"]


def received_record(
    token: str, payload: dict[str, Any], headers: Mapping[str, str], **extra: Any
) -> dict[str, Any]:
    """One accepted push."""
    return {
        "token": token,
        "payload": payload,
        "headers": {k.lower(): v for k, v in headers.items()},
        **extra,
    }


def received_answer(
    records: list[dict[str, Any]], attempts: Mapping[str, int], **extra: Any
) -> dict[str, Any]:
    """The body of ``GET /_fake/received``."""
    return {"received": records, "attempts": dict(attempts), **extra}
