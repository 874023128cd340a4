"""The one shape in which the fake APNs and the fake FCM report what they accepted
(``GET /_fake/received``, and their ``received`` / ``attempts`` attributes)::

    {"received": [{"token": "...", "payload": {...}, "headers": {...},
                   "received_at": 1764400000.123}, ...],
     "attempts": {"<token>": <push requests seen for it>},
     "next": <records accepted so far>}

``token`` is the device's push token (APNs: the hex token in the request path; FCM:
``message.token``); ``payload`` is what the app receives (APNs: the JSON payload; FCM:
``message.data``); ``headers`` are the HTTP request's headers, names in lower case
(``authorization`` included); ``received_at`` is when the fake accepted the push (Unix
epoch seconds, a float), so a benchmark can time a push from outside the engine.
Records are in the order the pushes were accepted. ``GET /_fake/received?since=N``
answers only the records from index ``N`` on: a reader that asks again with the
``next`` of its last answer gets each record once. The fake FCM adds ``android`` (the
message's Android options) to each record and ``token_grants`` (OAuth tokens it
issued) to the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

__all__ = ["parse_since", "received_answer", "received_record"]


def received_record(
    token: str,
    payload: dict[str, Any],
    headers: Mapping[str, str],
    *,
    received_at: float,
    **extra: Any,
) -> dict[str, Any]:
    """One accepted push, accepted at ``received_at`` (epoch seconds)."""
    return {
        "token": token,
        "payload": payload,
        "headers": {k.lower(): v for k, v in headers.items()},
        "received_at": received_at,
        **extra,
    }


def received_answer(
    records: list[dict[str, Any]], attempts: Mapping[str, int], *, since: int = 0, **extra: Any
) -> dict[str, Any]:
    """The body of ``GET /_fake/received[?since=N]``."""
    return {"received": records[since:], "attempts": dict(attempts), "next": len(records), **extra}


def parse_since(query: str) -> int:
    """The ``since`` of a query string (0 when absent); ValueError unless a whole number
    from 0 on."""
    values = parse_qs(query).get("since", ["0"])
    if len(values) != 1 or not values[0].isdigit():
        raise ValueError("since must be a whole number from 0 on")
    return int(values[0])
