"""README "For mobile app developers": its worked example and JSON examples stay true.

The worked example is checked three ways: the engine decrypts the README's ciphertext to
the README's plaintext; an independent implementation of the README's steps (ECDH and
HKDF from ``cryptography``, not ``http_ece``) reproduces every intermediate value the
README prints and opens the record with the README's own CEK and NONCE; and the block is
what ``engine.standins.worked_example`` prints. Every value in the block is tampered with once
to show the checks notice. The JSON examples must validate against the event models and
match what the envelope, APNs and FCM code builds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import ValidationError

from engine.push.apns import build_payload
from engine.push.crypto import (
    DecryptionError,
    DeviceKeys,
    b64url_decode,
    b64url_encode,
    decrypt_on_device,
)
from engine.push.envelope import android_data, ios_payload, parse_push
from engine.push.fcm import build_message
from engine.push.payload import DevicePayload, alert_text_for
from engine.schemas.acks import AckKind, Acknowledgement
from engine.schemas.devices import DeviceAction, DeviceRegistration
from engine.standins.worked_example import worked_example_block

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## For mobile app developers"
BLOCK = re.compile(
    r"<!-- nightline-example: (?P<name>[\w-]+)(?P<lines> lines)? -->\n"
    r"```\w*\n(?P<body>.*?)\n```",
    re.S,
)
NAMES = {
    "device_private_key_b64url",
    "device_public_key_b64url",
    "auth_secret_b64url",
    "sender_private_key_b64url",
    "body_b64url",
    "body_length",
    "salt_hex",
    "rs_hex",
    "rs",
    "idlen_hex",
    "idlen",
    "keyid_hex",
    "record_length",
    "ecdh_secret_hex",
    "key_info_hex",
    "ikm_hex",
    "prk_hex",
    "cek_hex",
    "nonce_hex",
    "record_last_byte_hex",
    "plaintext",
}
CURVE = ec.SECP256R1()


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.find(f"\n{SECTION}\n")
    assert start >= 0, f"README.md has no '{SECTION}' section"
    end = text.find("\n## ", start + len(SECTION) + 2)
    return text[start : end if end >= 0 else len(text)]


def _blocks() -> list[tuple[str, bool, str]]:
    """``(name, one-JSON-per-line, body)`` of every marked block of the section."""
    return [(m["name"], bool(m["lines"]), m["body"]) for m in BLOCK.finditer(_section())]


def _block(name: str) -> str:
    found = [body for found_name, _, body in _blocks() if found_name == name]
    assert len(found) == 1, f"expected one '{name}' block in the README, found {len(found)}"
    return found[0]


def _json_examples(name: str) -> list[str]:
    """The JSON documents of every block called ``name`` (one per line in ``lines`` blocks)."""
    docs: list[str] = []
    for found_name, per_line, body in _blocks():
        if found_name == name:
            docs += [line for line in body.splitlines() if line.strip()] if per_line else [body]
    assert docs, f"the README has no '{name}' example"
    return docs


def parse_values(block: str) -> dict[str, str]:
    """``name: value`` lines; ``#`` lines are comments, indented lines continue a value."""
    values: dict[str, str] = {}
    last: str | None = None
    for line in block.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():
            assert last is not None, f"continuation without a name: {line!r}"
            values[last] += line.strip()
            continue
        name, sep, value = line.partition(":")
        assert sep and name.isidentifier(), f"not a 'name: value' line: {line!r}"
        assert name not in values, f"{name} appears twice"
        values[name], last = value.strip(), name
    return values


def _readme_values() -> dict[str, str]:
    return parse_values(_block("worked-example"))


def _point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _private(b64: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b64url_decode(b64), "big"), CURVE)


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def recompute(values: dict[str, str]) -> dict[str, str]:
    """The README's steps, implemented independently of ``http_ece`` and of the generator.

    Inputs are the README's keys, auth secret and body; the result holds every derived
    value the README shows, formatted as the README formats it.
    """
    device = _private(values["device_private_key_b64url"])
    sender = _private(values["sender_private_key_b64url"])
    auth_secret = b64url_decode(values["auth_secret_b64url"])
    body = b64url_decode(values["body_b64url"])
    salt, rs, idlen = body[:16], body[16:20], body[20]
    keyid, record = body[21 : 21 + idlen], body[21 + idlen :]

    ua_public = _point(device)
    as_public = keyid
    sender_public = ec.EllipticCurvePublicKey.from_encoded_point(CURVE, keyid)
    ecdh_secret = device.exchange(ec.ECDH(), sender_public)
    key_info = b"WebPush: info\x00" + ua_public + as_public
    ikm = HKDF(hashes.SHA256(), 32, salt=auth_secret, info=key_info).derive(ecdh_secret)
    prk = _hmac_sha256(salt, ikm)  # HKDF-Extract
    cek = HKDFExpand(hashes.SHA256(), 16, info=b"Content-Encoding: aes128gcm\x00").derive(prk)
    nonce = HKDFExpand(hashes.SHA256(), 12, info=b"Content-Encoding: nonce\x00").derive(prk)
    # Extract-then-expand in one go must agree with the two halves, and ECDH both ways.
    if HKDF(hashes.SHA256(), 16, salt, b"Content-Encoding: aes128gcm\x00").derive(ikm) != cek:
        raise ValueError("HKDF-Extract + HKDF-Expand disagree with HKDF")
    if sender.exchange(ec.ECDH(), device.public_key()) != ecdh_secret:
        raise ValueError("the sender's ECDH secret differs from the device's")
    opened = AESGCM(cek).decrypt(nonce, record, None)
    return {
        "device_public_key_b64url": b64url_encode(ua_public),
        "keyid_hex": _point(sender).hex(),  # the sender key the README names is in the body
        "body_length": str(len(body)),
        "salt_hex": salt.hex(),
        "rs_hex": rs.hex(),
        "rs": str(int.from_bytes(rs, "big")),
        "idlen_hex": body[20:21].hex(),
        "idlen": str(idlen),
        "record_length": str(len(record)),
        "ecdh_secret_hex": ecdh_secret.hex(),
        "key_info_hex": key_info.hex(),
        "ikm_hex": ikm.hex(),
        "prk_hex": prk.hex(),
        "cek_hex": cek.hex(),
        "nonce_hex": nonce.hex(),
        "record_last_byte_hex": opened[-1:].hex(),
        "plaintext": opened.rstrip(b"\x00")[:-1].decode(),
    }


def mismatches(values: dict[str, str]) -> list[str]:
    """Names of README values that are not what the scheme gives; [] when all hold."""
    bad: list[str] = []
    try:
        expected = recompute(values)
    except (InvalidTag, ValueError, UnicodeDecodeError):
        return ["recompute"]
    bad += [name for name, value in expected.items() if values.get(name) != value]
    body = b64url_decode(values["body_b64url"])
    if body[21:86].hex() != values["keyid_hex"]:
        bad.append("body keyid")
    # The README's own CEK and NONCE must open the README's record.
    try:
        opened = AESGCM(bytes.fromhex(values["cek_hex"])).decrypt(
            bytes.fromhex(values["nonce_hex"]), body[86:], None
        )
        if opened != values["plaintext"].encode() + b"\x02":
            bad.append("record with README cek/nonce")
    except (InvalidTag, ValueError):
        bad.append("record with README cek/nonce")
    # And the engine's decryption with the README's device keys gives the README's JSON.
    keys = DeviceKeys.from_b64(values["device_private_key_b64url"], values["auth_secret_b64url"])
    try:
        if decrypt_on_device(body, keys) != values["plaintext"].encode():
            bad.append("decrypt_on_device")
    except DecryptionError:
        bad.append("decrypt_on_device")
    return bad


# (a) and (b): the worked example


def test_the_worked_example_block_has_every_value() -> None:
    assert set(_readme_values()) == NAMES


def test_the_engine_decrypts_the_readme_body_to_the_readme_plaintext() -> None:
    values = _readme_values()
    keys = DeviceKeys.from_b64(values["device_private_key_b64url"], values["auth_secret_b64url"])
    assert keys.public_key_b64 == values["device_public_key_b64url"]
    plaintext = decrypt_on_device(b64url_decode(values["body_b64url"]), keys)
    assert plaintext == values["plaintext"].encode()
    message = json.loads(plaintext)
    assert message["patient_name"] == "Test Patient Alpha"  # synthetic patient only
    assert message["callback_number"] == "+1 555 0100"


def test_an_independent_implementation_reproduces_every_intermediate_value() -> None:
    values = _readme_values()
    expected = recompute(values)
    for name, value in expected.items():
        assert values[name] == value, name
    assert mismatches(values) == []


def test_the_readme_block_is_what_the_generator_prints() -> None:
    assert _block("worked-example") == worked_example_block()


def _tampered(name: str, value: str) -> str:
    if name == "plaintext":
        return value.replace("Alpha", "Omega")
    if name in {"body_length", "rs", "idlen", "record_length"}:
        return str(int(value) + 1)
    alphabet = "0123456789abcdef" if name.endswith("_hex") else "AB"
    return (alphabet[1] if value[0] == alphabet[0] else alphabet[0]) + value[1:]


@pytest.mark.parametrize("name", sorted(NAMES))
def test_any_wrong_value_in_the_readme_is_caught(name: str) -> None:
    values = _readme_values()
    tampered = {**values, name: _tampered(name, values[name])}
    assert tampered[name] != values[name]
    assert mismatches(tampered) != []


# (c): the JSON examples


def test_registration_examples_are_valid_device_registrations() -> None:
    docs = _json_examples("DeviceRegistration")
    changes = [DeviceRegistration.model_validate_json(doc) for doc in docs]
    assert {c.action for c in changes} == set(DeviceAction)
    registers = [c for c in changes if c.action is DeviceAction.REGISTER]
    assert {c.platform for c in registers} == {"ios", "android"}
    for change in registers:
        assert change.public_key and change.auth_secret and change.push_token
        point = b64url_decode(change.public_key)
        assert len(point) == 65 and len(change.public_key) == 87
        ec.EllipticCurvePublicKey.from_encoded_point(CURVE, point)  # a real P-256 point
        assert len(b64url_decode(change.auth_secret)) == 16
        if change.platform == "ios":
            assert re.fullmatch(r"[0-9a-f]{64}", change.push_token)
    values = _readme_values()
    ios = next(c for c in registers if c.platform == "ios")
    assert ios.public_key == values["device_public_key_b64url"]
    assert ios.auth_secret == values["auth_secret_b64url"]
    assert len({c.event_id for c in changes}) == len(changes)


def test_acknowledgement_examples_are_valid_and_belong_to_the_example() -> None:
    acks = [Acknowledgement.model_validate_json(doc) for doc in _json_examples("Acknowledgement")]
    assert {AckKind.RECEIVED, AckKind.READ, AckKind.ACCEPTED, AckKind.DECLINED} <= {
        a.kind for a in acks
    }
    dispatch_id = json.loads(_readme_values()["plaintext"])["dispatch_id"]
    registrations = [json.loads(doc) for doc in _json_examples("DeviceRegistration")]
    ios = next(r for r in registrations if r.get("platform") == "ios")
    page = json.loads(_block("apns"))["nl"]["p"]
    for ack in acks:
        assert ack.dispatch_id == dispatch_id
        assert (ack.clinician_id, ack.device_id) == (ios["clinician_id"], ios["device_id"])
        assert (ack.schema_version, ack.page) == (2, page), "acks name the page they answer"
    assert len({a.event_id for a in acks}) == len(acks), "every acknowledgement needs its own id"


@pytest.mark.parametrize(
    ("model", "name", "change"),
    [
        (DeviceRegistration, "DeviceRegistration", {"private_key": "never sent"}),
        (DeviceRegistration, "DeviceRegistration", {"at": "2026-11-29T07:58:41"}),
        (DeviceRegistration, "DeviceRegistration", {"public_key": None}),
        (Acknowledgement, "Acknowledgement", {"kind": "seen"}),
        (Acknowledgement, "Acknowledgement", {"dispatch_id": "d 6f1c"}),
        (Acknowledgement, "Acknowledgement", {"page": None}),  # a v2 receipt names its page
    ],
)
def test_a_wrong_example_would_fail_validation(
    model: type[DeviceRegistration] | type[Acknowledgement], name: str, change: dict[str, Any]
) -> None:
    broken = {**json.loads(_json_examples(name)[0]), **change}
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps(broken))


def _push(fetch: bool) -> tuple[DevicePayload, str]:
    values = _readme_values()
    message = json.loads(values["plaintext"])
    urgency = message["urgency"]
    ciphertext = None if fetch else values["body_b64url"]
    alert = alert_text_for(urgency)
    return DevicePayload(ciphertext, message["dispatch_id"], alert, truncated=fetch), urgency


@pytest.mark.parametrize("fetch", [False, True])
def test_the_apns_examples_are_what_the_engine_sends(fetch: bool) -> None:
    payload, urgency = _push(fetch)
    readme = json.loads(_block("apns-fetch" if fetch else "apns"))
    page = readme["nl"]["p"]
    assert readme == build_payload(ios_payload(payload, urgency, page), urgency, critical=False)
    received = parse_push("ios", readme)
    assert (received.ciphertext_b64, received.fetch) == (payload.ciphertext_b64, fetch)
    assert received.page == page == 1


def test_the_fcm_examples_are_what_the_engine_sends() -> None:
    payload, urgency = _push(fetch=False)
    readme = json.loads(_block("fcm"))
    token = readme["message"]["token"]
    data = android_data(payload, urgency, 1)
    assert readme == build_message(token, data, ttl_s=300, urgency=urgency)
    received = parse_push("android", readme["message"]["data"])
    assert (received.ciphertext_b64, received.fetch, received.page) == (
        payload.ciphertext_b64,
        False,
        1,
    )
    fetch_payload, _ = _push(fetch=True)
    assert json.loads(_block("fcm-fetch-data")) == android_data(fetch_payload, urgency, 1)
