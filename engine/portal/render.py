"""Rendering pages: the Jinja2 environment, the context every page gets (who is signed
in, the CSRF token, the navigation for their roles), and error pages for problems
raised under ``/portal``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from engine.api.browser_sessions import csrf_token
from engine.api.deps import Principal
from engine.api.problems import Problem

__all__ = ["PREFIX", "environment", "page", "problem_page", "see_other"]

PREFIX = "/portal"

environment = Environment(
    loader=PackageLoader("engine.portal", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _local(value: datetime | None, zone: str = "UTC", fmt: str = "%a %d %b %H:%M") -> str:
    """A time in a practice's zone, e.g. ``Sat 05 Dec 18:00``."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def _duration(seconds: float) -> str:
    """``45 s``, ``7 min``, ``1 h 30 min``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        rest = whole % 60
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


environment.filters["local"] = _local
environment.filters["duration"] = _duration


def navigation(principal: Principal | None, practice_id: str | None) -> list[tuple[str, str]]:
    """(label, href) of the pages this person may open."""
    if principal is None:
        return []
    roles = principal.roles
    items: list[tuple[str, str]] = []
    admin = bool(roles & {"practice_admin", "service_admin"})
    if practice_id and (admin or "billing" in roles):
        base = f"{PREFIX}/practices/{quote(practice_id)}"
        if admin:
            items += [
                ("Home", base), ("Calendar", f"{base}/calendar"),
                ("Overrides", f"{base}/overrides"),
                ("Rotations", f"{base}/rotations"), ("Escalation", f"{base}/escalation"),
                ("Triage", f"{base}/triage"), ("Office hours", f"{base}/office-hours"),
                ("Messages", f"{base}/messages"), ("Swap requests", f"{base}/swaps"),
            ]  # fmt: skip
        items.append(("Usage", f"{base}/usage"))
        if admin:
            items.append(("Audit log", f"{base}/audit"))
    if admin:
        items.append(("Users", f"{PREFIX}/users"))
    if principal.clinician_id:
        items.append(("My shifts", f"{PREFIX}/me"))
    if "operator" in roles:
        items.append(("Desk", f"{PREFIX}/desk"))
    return items


def page(
    request: Request, template: str, principal: Principal | None, *,
    practice_id: str | None = None, status_code: int = 200, **context: Any,
) -> HTMLResponse:  # fmt: skip
    """A page, with what every page shows: who is signed in, the navigation, the CSRF
    token for its forms, the session's idle limit for the logoff warning."""
    settings = request.app.state.services.settings
    body = environment.get_template(template).render(
        request=request,
        principal=principal,
        practice_id=practice_id,
        nav=navigation(principal, practice_id),
        csrf=csrf_token(principal.session) if principal and principal.session else "",
        idle_s=settings.session_idle_s,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(body, status_code=status_code)


def see_other(location: str) -> RedirectResponse:
    """Post, then redirect, then get (303)."""
    return RedirectResponse(location, status_code=303)


def problem_page(
    request: Request, problem: Problem, headers: dict[str, str] | None
) -> Response | None:
    """Problems of page requests as pages: not signed in goes to the sign-in page (and
    back after it); anything else is an error page with the problem's title and detail
    (which never hold PHI). JSON routes and the portal's own JSON answer as usual."""
    path = request.url.path
    if not path.startswith(PREFIX) or path.startswith(f"{PREFIX}/static"):
        return None
    if problem.status == 401:
        back = path if request.method == "GET" else PREFIX + "/"
        return see_other(f"{PREFIX}/sign-in?next={quote(back)}")
    answer = page(request, "error.html", None, status_code=problem.status, problem=problem)
    for name, value in (headers or {}).items():
        answer.headers[name] = value
    return answer
