"""Accounts administered over the API: a practice administrator invites a clinician of
their practice, who signs in; roles are bounded by the administrator's own; disabling
ends the sessions; another practice's administrator sees none of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pyotp
import pytest

from tests.integration.api_client import RunningApi, api_settings, create_account, running_api
from tests.integration.harness import Harness, wait_for

PASSWORD = "correct horse battery staple"


@pytest.fixture()
async def api(harness: Harness) -> AsyncIterator[RunningApi]:
    async with running_api(api_settings(harness.settings, harness.log_dir)) as running:
        yield running


async def _admin(api: RunningApi, practice: str) -> dict[str, str]:
    name, secret = await create_account(api.services, "adm", {"practice_admin"}, {practice},
                                        totp=True)  # fmt: skip
    assert secret is not None
    body: dict[str, Any] = {"username": name, "password": PASSWORD,
                            "totp": pyotp.TOTP(secret).now()}  # fmt: skip
    answer = await api.client.post("/v1/auth/sign-in", json=body)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_invite_sign_in_list_and_disable(harness: Harness, api: RunningApi) -> None:
    from tests.integration import scenario_data as data

    harness.load_practice(data.practice("p-users", primary=("dr-lee",)), [])
    harness.load_practice(data.practice("p-users-other", primary=("dr-shared",)), [])
    admin = await _admin(api, "p-users")
    invited = await api.client.post(
        "/v1/admin/users",
        json={"username": "lee@p-users-test", "roles": ["clinician"], "practices": ["p-users"],
              "clinician_id": "dr-lee"},
        headers=admin,
    )  # fmt: skip
    assert invited.status_code == 201, invited.text
    body = invited.json()
    assert len(body["one_time_password"]) >= 12 and "totp_uri" not in body
    one_time = {"username": "lee@p-users-test", "password": body["one_time_password"]}
    first = await api.client.post("/v1/auth/sign-in", json=one_time)
    assert first.status_code == 403  # the one-time password only sets one's own
    assert first.json()["type"].endswith("password-change-required")
    weak = await api.client.post("/v1/auth/password", json={**one_time, "new_password": "short"})
    assert weak.status_code == 422
    own = "lee's own long passphrase"
    changed = await api.client.post("/v1/auth/password", json={**one_time, "new_password": own})
    assert changed.status_code == 200 and changed.json()["totp_uri"] is None
    assert (await api.client.post("/v1/auth/sign-in", json=one_time)).status_code == 401
    signed = await api.client.post(
        "/v1/auth/sign-in", json={"username": "lee@p-users-test", "password": own}
    )
    assert signed.status_code == 200
    lee = {"Authorization": f"Bearer {signed.json()['access_token']}"}

    listed = (await api.client.get("/v1/admin/users", headers=admin)).json()
    row = next(u for u in listed if u["username"] == "lee@p-users-test")
    assert row["last_sign_in_at"] and row["roles"] == ["clinician"]
    again = await api.client.post(
        "/v1/admin/users",
        json={"username": "lee@p-users-test", "roles": ["clinician"], "practices": ["p-users"],
              "clinician_id": "dr-lee"},
        headers=admin,
    )  # fmt: skip
    assert again.status_code == 409

    for attempt in (
        {"username": "grab@p-users", "roles": ["clinician"], "practices": ["p-users"],
         "clinician_id": "dr-shared"},  # another practice's clinician: their pages, phones
        {"username": "desk@p-users", "roles": ["clinician"], "practices": ["p-users"],
         "clinician_id": "dr-lee", "desks": ["operator-desk"]},  # desks serve many practices
        {"username": "op@p-users", "roles": ["operator"], "practices": ["p-users"]},
    ):  # fmt: skip
        refused = await api.client.post("/v1/admin/users", json=attempt, headers=admin)
        assert refused.status_code == 403, attempt
    too_much = await api.client.post(
        "/v1/admin/users",
        json={"username": "root@p-users", "roles": ["service_admin"], "practices": ["p-users"]},
        headers=admin,
    )
    assert too_much.status_code == 403
    elsewhere = await api.client.post(
        "/v1/admin/users",
        json={"username": "x@p-other", "roles": ["operator"], "practices": ["p-other"]},
        headers=admin,
    )
    assert elsewhere.status_code == 403

    stranger = await _admin(api, "p-other")
    assert "lee@p-users-test" not in str(
        (await api.client.get("/v1/admin/users", headers=stranger)).json()
    )
    hidden = await api.client.put(
        f"/v1/admin/users/{row['account_id']}", json={"roles": ["clinician"], "disabled": True},
        headers=stranger,
    )  # fmt: skip
    assert hidden.status_code == 404

    disabled = await api.client.put(
        f"/v1/admin/users/{row['account_id']}", json={"roles": ["clinician"], "disabled": True},
        headers=admin,
    )  # fmt: skip
    assert disabled.status_code == 200 and disabled.json()["disabled"]
    assert (await api.client.get("/v1/me", headers=lee)).status_code == 401
    audit = wait_for(
        lambda: [a for a in harness.read("audit") if a.subject_id == row["account_id"]],
        15,
        "the account changes in the audit",
    )
    assert [a.action for a in audit] == ["account_invited", "account_changed"]
    assert all(a.subject_type == "account" and a.practice_id == "p-users" for a in audit)


async def test_an_invited_administrator_enrols_totp_unseen_by_the_inviter(
    harness: Harness, api: RunningApi
) -> None:
    admin = await _admin(api, "p-users2")
    invited = (
        await api.client.post(
            "/v1/admin/users",
            json={"username": "ada@p-users2", "roles": ["practice_admin"],
                  "practices": ["p-users2"]},
            headers=admin,
        )
    ).json()  # fmt: skip
    one_time = {"username": "ada@p-users2", "password": invited["one_time_password"]}
    own = "ada's own long passphrase"
    changed = await api.client.post("/v1/auth/password", json={**one_time, "new_password": own})
    assert changed.status_code == 200
    uri = changed.json()["totp_uri"]
    assert uri and uri.startswith("otpauth://totp/")
    secret = uri.split("secret=")[1].split("&")[0]
    without = await api.client.post(
        "/v1/auth/sign-in", json={"username": "ada@p-users2", "password": own}
    )
    assert without.status_code == 401 and without.json()["type"].endswith("totp-required")
    signed = await api.client.post(
        "/v1/auth/sign-in",
        json={"username": "ada@p-users2", "password": own, "totp": pyotp.TOTP(secret).now()},
    )
    assert signed.status_code == 200


async def test_a_password_reset_by_an_administrator(harness: Harness, api: RunningApi) -> None:
    admin = await _admin(api, "p-reset")
    stranger = await _admin(api, "p-reset-other")
    name, _ = await create_account(api.services, "kim", {"clinician"}, {"p-reset"},
                                   clinician_id="dr-kim")  # fmt: skip
    signed = await api.client.post(
        "/v1/auth/sign-in", json={"username": name, "password": PASSWORD}
    )
    assert signed.status_code == 200
    kim = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    found = await api.services.accounts.by_username(name)
    assert found is not None
    path = f"/v1/admin/users/{found.account_id}/password-reset"

    hidden = await api.client.post(path, headers=stranger)
    assert hidden.status_code == 404
    assert (await api.client.get("/v1/me", headers=kim)).status_code == 200

    reset = await api.client.post(path, headers=admin)
    assert reset.status_code == 200, reset.text
    one_time = reset.json()["one_time_password"]
    assert len(one_time) >= 12 and one_time != PASSWORD
    assert (await api.client.get("/v1/me", headers=kim)).status_code == 401  # sessions ended
    old = await api.client.post("/v1/auth/sign-in", json={"username": name, "password": PASSWORD})
    assert old.status_code == 401
    first = await api.client.post("/v1/auth/sign-in", json={"username": name, "password": one_time})
    assert first.status_code == 403 and first.json()["type"].endswith("password-change-required")
    own = "kim's brand new passphrase"
    changed = await api.client.post(
        "/v1/auth/password", json={"username": name, "password": one_time, "new_password": own}
    )
    assert changed.status_code == 200
    again = await api.client.post("/v1/auth/sign-in", json={"username": name, "password": own})
    assert again.status_code == 200
    audit = wait_for(
        lambda: [a for a in harness.read("audit") if a.subject_id == found.account_id],
        15,
        "the reset in the audit",
    )
    assert [(a.action, a.practice_id) for a in audit] == [("password_reset", "p-reset")]
    assert one_time not in str([a.detail for a in audit])
