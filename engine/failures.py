"""Describe an exception for a log line without its message or its values.

Exception messages and tracebacks can carry PHI (a ``ValueError`` naming the value it
refused, a frame's local variables in a crash report), so logs get the exception's type
and where it was raised (module and line of the innermost frame), never its text.
"""

from __future__ import annotations

import traceback

__all__ = ["describe_failure"]


def describe_failure(exc: BaseException) -> str:
    """``"KeyError at engine/handlers/intake.py:88"``: type and place, no message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    path = last.filename.replace("\\", "/")
    short = path[path.rfind("/engine/") + 1 :] if "/engine/" in path else path.rsplit("/", 1)[-1]
    return f"{type(exc).__name__} at {short}:{last.lineno}"
