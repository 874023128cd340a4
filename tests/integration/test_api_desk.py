"""The operator desk through the API, on the real Kafka and Redis and a real worker: an
unanswered call arrives on the live stream, one operator claims it (another cannot),
the desk's re-alerts stop, and the outcome is audited; operators of other practices
see nothing of it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.handlers.intake import dispatch_id_for
from engine.settings import Settings
from tests.integration import scenario_data as data
from tests.integration.api_client import RunningApi, api_settings, create_account, serving_api
from tests.integration.harness import Harness, wait_for

PASSWORD = "correct horse battery staple"
DESK_TIMEOUT_S = 2


@pytest.fixture()
def desk_harness(stack_settings: Settings, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(stack_settings, tmp_path, {"NIGHTLINE_DESK_ACK_TIMEOUT_S": str(DESK_TIMEOUT_S)})
    h.start_worker()
    yield h
    h.close()


@pytest.fixture()
async def api(desk_harness: Harness) -> AsyncIterator[RunningApi]:
    settings = api_settings(
        desk_harness.settings, desk_harness.log_dir, desk_ack_timeout_s=DESK_TIMEOUT_S
    )
    async with serving_api(settings) as running:
        yield running


async def _operator(api: RunningApi, practices: set[str], desks: set[str]) -> dict[str, str]:
    name, _ = await create_account(api.services, "op", {"operator"}, practices, desks=desks)
    answer = await api.client.post(
        "/v1/auth/sign-in", json={"username": name, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _collect(client: httpx.AsyncClient, headers: dict[str, str], into: list[Any]) -> None:
    async with client.stream("GET", "/v1/desk/stream", headers=headers, timeout=None) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        kind = None
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                into.append((kind, json.loads(line.removeprefix("data: "))))


async def _eventually(check: Any, timeout: float, what: str) -> Any:
    for _ in range(int(timeout / 0.1)):
        found = check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_an_unanswered_call_reaches_the_console_and_one_operator_claims_it(
    desk_harness: Harness, api: RunningApi
) -> None:
    h = desk_harness
    h.load_practice(data.practice("p-desk", primary=(), backup=()), [])  # nobody on call
    first = await _operator(api, {"p-desk"}, {"desk-1"})
    second = await _operator(api, {"p-desk"}, {"desk-1"})
    stranger = await _operator(api, {"p-other"}, {"desk-9"})
    seen: list[Any] = []
    listener = asyncio.create_task(_collect(api.client, first, seen))
    strangers_view: list[Any] = []
    watcher = asyncio.create_task(_collect(api.client, stranger, strangers_view))
    await asyncio.sleep(0.5)

    call = data.urgent_call("p-desk")
    h.producer.send_intake(call)
    dispatch_id = dispatch_id_for(call.event_id)
    arrived = await _eventually(
        lambda: [d for k, d in seen if k == "alert" and d["dispatch_id"] == dispatch_id],
        20,
        "the alert on the stream",
    )
    assert arrived[0]["urgency"] == "urgent" and arrived[0]["practice_id"] == "p-desk"
    assert data.SYNTHETIC_PATIENT not in json.dumps(seen)

    listed = (await api.client.get("/v1/desk/alerts", headers=first)).json()["alerts"]
    assert [a["dispatch_id"] for a in listed] == [dispatch_id]
    assert listed[0]["age_seconds"] >= 0 and listed[0]["reason"]
    assert (await api.client.get("/v1/desk/alerts", headers=stranger)).json()["alerts"] == []
    assert strangers_view == []  # another practice's operator: nothing on their stream
    hidden = await api.client.post(f"/v1/desk/alerts/{dispatch_id}/claim", headers=stranger)
    assert hidden.status_code == 404

    won = await api.client.post(f"/v1/desk/alerts/{dispatch_id}/claim", headers=first)
    assert won.status_code == 200, won.text
    assert won.json()["status"] == "claimed"  # the worker recorded the operator as owner
    lost = await api.client.post(f"/v1/desk/alerts/{dispatch_id}/claim", headers=second)
    assert lost.status_code == 409
    again = await api.client.post(f"/v1/desk/alerts/{dispatch_id}/claim", headers=first)
    assert again.status_code == 200 and again.json()["status"] == "claimed"
    mine = (await api.client.get("/v1/desk/claims", headers=first)).json()
    assert [c["dispatch_id"] for c in mine] == [dispatch_id]  # out of the queue, not of sight
    assert (await api.client.get("/v1/desk/claims", headers=second)).json() == []
    not_owner = await api.client.post(
        f"/v1/desk/alerts/{dispatch_id}/resolve", json={"outcome": "other"}, headers=second
    )
    assert not_owner.status_code == 409
    await _eventually(
        lambda: [d for k, d in seen if k == "closed" and d["dispatch_id"] == dispatch_id],
        20,
        "the alert leaving the queue",
    )

    def alerts() -> list[Any]:
        return [a for a in h.read("operator.alerts") if a.dispatch_id == dispatch_id]

    count = len(alerts())
    await asyncio.sleep(3 * DESK_TIMEOUT_S)
    assert len(alerts()) == count, "the desk was re-alerted after the claim"

    resolved = await api.client.post(
        f"/v1/desk/alerts/{dispatch_id}/resolve",
        json={"outcome": "caller_advised_911", "note": "advised ER, synthetic"},
        headers=first,
    )
    assert resolved.status_code == 200, resolved.text
    audit = wait_for(
        lambda: [
            a for a in h.read("audit") if a.subject_id == dispatch_id and a.action == "desk_outcome"
        ],
        15,
        "the outcome in the audit",
    )
    assert audit[0].detail.startswith("outcome=caller_advised_911")
    assert "synthetic" not in audit[0].detail
    assert (await api.client.get("/v1/desk/claims", headers=first)).json() == []
    listener.cancel()
    watcher.cancel()


async def test_an_operator_pages_on_a_callers_behalf(
    desk_harness: Harness, api: RunningApi
) -> None:
    h = desk_harness
    h.load_practice(data.practice("p-desk2", timeout_s=60), data.devices_for("dr-ash"))
    operator = await _operator(api, {"p-desk2"}, {"desk-1"})
    event = json.loads(data.urgent_call("p-desk2").model_dump_json())
    answer = await api.client.post("/v1/desk/page", json=event, headers=operator)
    assert answer.status_code == 202, answer.text
    dispatch_id = answer.json()["dispatch_id"]
    wait_for(lambda: h.pushes(dispatch_id), 15, "the page")
    intake = [e for e in h.read("intake") if str(e.event_id) == event["event_id"]]
    assert intake and intake[0].source_system.startswith("desk.")
    other = json.loads(data.urgent_call("p-elsewhere").model_dump_json())
    refused = await api.client.post("/v1/desk/page", json=other, headers=operator)
    assert refused.status_code == 403

    script = await api.client.get("/v1/desk/practices/p-desk2/script", headers=operator)
    assert script.status_code == 200, script.text
    body = script.json()
    assert body["on_call_line"] == "dr-ash is on call now, then dr-birch, then the operator desk."
    assert body["chain"][-1]["operator_desk"] and isinstance(body["office_open"], bool)
    hidden = await api.client.get("/v1/desk/practices/p-elsewhere/script", headers=operator)
    assert hidden.status_code == 404


async def test_the_desk_is_for_operators(desk_harness: Harness, api: RunningApi) -> None:
    name, _ = await create_account(
        api.services, "clin", {"clinician"}, {"p-desk"}, clinician_id="dr-ash"
    )
    tokens = (
        await api.client.post("/v1/auth/sign-in", json={"username": name, "password": PASSWORD})
    ).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await api.client.get("/v1/desk/alerts", headers=headers)).status_code == 403
    assert (await api.client.get("/v1/desk/alerts")).status_code == 401


async def test_a_stream_ends_with_its_session(
    desk_harness: Harness, api: RunningApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.api.routers import desk

    monkeypatch.setattr(desk, "_HEARTBEAT_S", 0.3)
    operator = await _operator(api, {"p-desk"}, {"desk-1"})
    seen: list[Any] = []
    listening = asyncio.create_task(_collect(api.client, operator, seen))
    await asyncio.sleep(1.0)
    assert not listening.done()
    assert (await api.client.post("/v1/auth/sign-out", headers=operator)).status_code == 204
    await asyncio.wait_for(listening, 10)  # the server ended the stream


async def test_an_operator_works_only_the_practices_of_their_desks(
    desk_harness: Harness, api: RunningApi
) -> None:
    h = desk_harness
    ours = data.practice("p-our-desk", primary=(), backup=())
    theirs = data.practice("p-their-desk", primary=(), backup=()).model_copy(
        update={"operator_desk": "desk-2"}
    )
    for practice in (ours, theirs):
        h.load_practice(practice, [])
    me = await _operator(api, {"p-our-desk", "p-their-desk"}, {"desk-1"})  # both in scope
    calls = {p.practice_id: data.urgent_call(p.practice_id) for p in (ours, theirs)}
    for call in calls.values():
        h.producer.send_intake(call)
    ids = {p: dispatch_id_for(c.event_id) for p, c in calls.items()}
    await _eventually(lambda: all(i in api.services.desk.board.open for i in ids.values()), 30,
                      "both alerts on the board")  # fmt: skip
    listed = (await api.client.get("/v1/desk/alerts", headers=me)).json()["alerts"]
    shown = {a["dispatch_id"] for a in listed}
    assert ids["p-our-desk"] in shown and ids["p-their-desk"] not in shown
    claim = await api.client.post(f"/v1/desk/alerts/{ids['p-their-desk']}/claim", headers=me)
    assert claim.status_code == 404
    script = await api.client.get("/v1/desk/practices/p-their-desk/script", headers=me)
    assert script.status_code == 404
    assert (await api.client.get("/v1/desk/practices/p-our-desk/script", headers=me)).is_success
    body = json.loads(data.urgent_call("p-their-desk").model_dump_json())
    assert (await api.client.post("/v1/desk/page", headers=me, json=body)).status_code == 403
