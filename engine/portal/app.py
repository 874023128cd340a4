"""Mounting the portal on the API app: its page routes, its own static files (our CSS
and JavaScript, no third-party code), error pages for problems under ``/portal``, and
the renewal of the browser's session cookie."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from engine.api.browser_sessions import CookieRenewal
from engine.portal.render import PREFIX, problem_page
from engine.portal.routes import (
    audit,
    auth,
    calendar,
    desk,
    escalation,
    home,
    me,
    messages,
    office_hours,
    overrides,
    rotations,
    swaps,
    triage,
    usage,
    users,
)

__all__ = ["install_portal"]

STATIC = Path(__file__).resolve().parent / "static"


def install_portal(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="portal-static")
    pages = (
        auth, home, me, calendar, overrides, rotations, escalation, triage, office_hours,
        messages, usage, audit, desk, users, swaps,
    )  # fmt: skip
    for module in pages:
        app.include_router(module.router)
    app.state.problem_page = problem_page
    app.add_middleware(CookieRenewal)
