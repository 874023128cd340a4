"""Pages: push every device of every paged clinician at once, record each device a
push reached as soon as it went out (a re-run pushes only the rest), and report the
clinicians no push reached, so the dispatch escalates at once instead of waiting.

Pushes still running after ``Services.push_wait_s`` (a slow provider) are left to
finish in the background: the caller gets that task, and the page effects stay claimed
until it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.domain.dispatch import DispatchState, PagePerson
from engine.failures import describe_failure
from engine.handlers.outbox import PendingEffect
from engine.handlers.services import Services
from engine.ports import Device, PushRequest, PushResult
from engine.push.payload import alert_text_for

__all__ = ["FailedPage", "PagesOutcome", "page_or_leave"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedPage:
    """Nobody of ``clinicians`` was reached by any push of page ``page`` (at ``step``)."""

    step: int
    page: int
    clinicians: tuple[str, ...]


@dataclass(frozen=True)
class PagesOutcome:
    """Pages that reached nobody, and the page effects whose pushes all ran."""

    failed: list[FailedPage] = field(default_factory=list)
    done: list[str] = field(default_factory=list)


async def page_or_leave(
    svc: Services,
    state: DispatchState,
    pages: list[PendingEffect],
    meta: dict[str, Any],
    sent: dict[str, list[str]],
) -> PagesOutcome | asyncio.Task[PagesOutcome] | None:
    """The pages, or None when they could not be sent (Redis away while looking up the
    devices): they stay in the outbox for the scanner, and the events still go out."""
    try:
        return await _page(svc, state, pages, meta, sent)
    except Exception as exc:
        svc.metrics.effect_failures.labels("push").inc()
        log.warning("dispatch %s: pages left to the scanner: %s", state.dispatch_id,
                    describe_failure(exc))  # fmt: skip
        return None


async def _page(
    svc: Services,
    state: DispatchState,
    pages: list[PendingEffect],
    meta: dict[str, Any],
    sent: dict[str, list[str]],
) -> PagesOutcome | asyncio.Task[PagesOutcome]:
    """Send the pages; wait up to ``push_wait_s`` for them, then let them finish alone."""
    sending = asyncio.ensure_future(_send_pages(svc, state, pages, meta, sent))
    done, _ = await asyncio.wait({sending}, timeout=svc.push_wait_s)
    if sending in done:
        return sending.result()
    log.warning(
        "dispatch %s: pushes still running after %.1f s; finishing in the background",
        state.dispatch_id,
        svc.push_wait_s or 0.0,
    )
    return sending


async def _send_pages(
    svc: Services,
    state: DispatchState,
    entries: list[PendingEffect],
    meta: dict[str, Any],
    sent: dict[str, list[str]],
) -> PagesOutcome:
    """Push every device of every paged clinician at once (but those an earlier run
    reached); who was reached, per page."""
    pages: list[tuple[str, PagePerson]] = [(e.id, e.effect) for e in entries]
    clinicians = sorted({p.clinician_id for _, p in pages})
    devices, _ = await asyncio.gather(
        svc.devices.devices_for(clinicians), _note_paged(svc, state, clinicians)
    )
    reached: set[tuple[int, str]] = set()
    sends = []
    for effect_id, page in pages:
        for device in devices.get(page.clinician_id, []):
            if device.device_id in sent.get(effect_id, ()):
                reached.add((page.page, page.clinician_id))
            else:
                sends.append((effect_id, page, device, _request(state, page, device)))
    results = await asyncio.gather(
        *(_push(svc, state.dispatch_id, e, r) for e, _, _, r in sends), return_exceptions=True
    )
    newly: dict[str, list[str]] = defaultdict(list)
    for (effect_id, page, device, _), result in zip(sends, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancelled: the worker is stopping; the outbox keeps the page
        if isinstance(result, Exception):  # a gateway bug must not stop the escalation
            log.error("push to device %s failed: %s", device.device_id, type(result).__name__)
            result = PushResult(ok=False, detail=type(result).__name__)
        svc.metrics.pushes.labels(device.platform, "ok" if result.ok else "failed").inc()
        if result.ok:
            reached.add((page.page, page.clinician_id))
            newly[effect_id].append(device.device_id)
    first_reached = {page.page for effect_id, page in pages if newly.get(effect_id)}
    failed = _failed_pages(svc, state, [p for _, p in pages], reached, first_reached, meta)
    return PagesOutcome(failed, [effect_id for effect_id, _ in pages])


async def _note_paged(svc: Services, state: DispatchState, clinicians: list[str]) -> None:
    """Add the dispatch to each paged clinician's list (what the app shows); a failure
    costs the list an entry, never the page."""
    try:
        await svc.dispatches.note_paged(state.dispatch_id, clinicians, svc.clock.now())
    except Exception as exc:
        svc.metrics.effect_failures.labels("paged_index").inc()
        log.warning("dispatch %s: not listed for its clinicians: %s", state.dispatch_id,
                    describe_failure(exc))  # fmt: skip


async def _push(
    svc: Services, dispatch_id: str, effect_id: str, request: PushRequest
) -> PushResult:
    """One push, recorded as soon as it went out: a re-run after a crash at any later
    point does not push this device again for this page."""
    result = await svc.push.send(request)
    if result.ok:
        try:
            await svc.dispatches.mark_sent(dispatch_id, effect_id, [request.device.device_id])
        except Exception as exc:  # it went out all the same: never count it as failed
            svc.metrics.effect_failures.labels("push_record").inc()
            log.warning("push to device %s not recorded: %s", request.device.device_id,
                        describe_failure(exc))  # fmt: skip
    return result


def _failed_pages(
    svc: Services,
    state: DispatchState,
    pages: list[PagePerson],
    reached: set[tuple[int, str]],
    newly_reached: set[int],
    meta: dict[str, Any],
) -> list[FailedPage]:
    missed: dict[tuple[int, int], list[str]] = defaultdict(list)
    steps: dict[int, int] = {}
    for page in pages:
        steps[page.page] = page.step
        if (page.page, page.clinician_id) not in reached:
            missed[(page.step, page.page)].append(page.clinician_id)
    for number, step in steps.items():
        if number not in newly_reached:  # measured once, when the page first reached anyone
            continue
        plan_step = state.plan.step(step)
        if step > 0 and not plan_step.is_operator:
            svc.metrics.escalations.labels(plan_step.level_name).inc()
        if step == 0 and "received_at" in meta:
            received = datetime.fromisoformat(meta["received_at"])
            latency = (svc.clock.now() - received).total_seconds()
            svc.metrics.call_to_push.labels(str(state.urgency)).observe(max(0.0, latency))
    if missed:
        log.warning("dispatch %s: nobody reachable at pages %s", state.dispatch_id,
                    sorted(page for _, page in missed))  # fmt: skip
    return [FailedPage(step, page, tuple(who)) for (step, page), who in sorted(missed.items())]


def _request(state: DispatchState, page: PagePerson, device: Device) -> PushRequest:
    return PushRequest(
        dispatch_id=state.dispatch_id,
        device=device,
        urgency=str(state.urgency),
        step=page.step,
        attempt=page.attempt,
        alert_text=alert_text_for(str(state.urgency)),
        page=page.page,
    )
