"""Audit entries for changes to who may do what: accounts (invited, changed, disabled,
password reset) and integration API keys (issued, rotated, revoked). One entry per
practice the subject serves (``all`` for one that serves every practice), so each
practice administrator sees them in their own trail. Codes and ids only: never a
password, a key, a TOTP seed or a person's name.

Both the API routes and the command-line tools write them, before the change itself:
a change is never left unaudited.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterable
from datetime import datetime

from engine.schemas._base import new_event_id
from engine.schemas.audit import AuditEvent

__all__ = ["change_entries", "command_line_actor"]


def change_entries(
    subject_type: str, subject_id: str, practices: Iterable[str], actor: str, action: str,
    detail: str, at: datetime,
) -> list[AuditEvent]:  # fmt: skip
    """The entries for one change of an account or a key."""
    common = {"at": at, "subject_type": subject_type, "subject_id": subject_id,
              "actor": actor, "action": action, "detail": detail[:300]}  # fmt: skip
    return [
        AuditEvent(event_id=new_event_id(), practice_id=practice_id, **common)
        for practice_id in sorted(set(practices)) or ["all"]
    ]


def command_line_actor() -> str:
    """Who ran a command-line change: ``cli:<the operating-system user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return "cli:" + (re.sub(r"[^A-Za-z0-9_.-]", "_", user)[:60] or "unknown")
