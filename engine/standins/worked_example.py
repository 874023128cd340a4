"""The worked decryption example of README.md ("For mobile app developers"), regenerated.

App developers implement RFC 8291 decryption in Swift or Kotlin from the README, so the
README shows one push with every intermediate value. This module makes those values from
fixed inputs (each key is SHA-256 of a label, so anyone can recreate it), through the
same :func:`engine.push.crypto.encrypt_for_device` the engine uses, and prints them in the
README's format::

    .venv/bin/python -m engine.standins.worked_example

The intermediates are computed here step by step with the standard library (RFC 5869
HKDF written out as HMAC calls) and checked against ``http_ece``'s own key derivation and
:func:`engine.push.crypto.decrypt_on_device` before anything is printed. The patient is
synthetic. ``tests/unit/test_app_doc_example.py`` checks the README against an independent
implementation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from engine.push.apns import build_payload
from engine.push.crypto import (
    DeviceKeys,
    b64url_encode,
    decrypt_on_device,
    encrypt_for_device,
)
from engine.push.envelope import android_data, ios_payload
from engine.push.fcm import build_message
from engine.push.payload import DevicePayload, PushContent, alert_text_for
from engine.schemas.intake import Urgency

__all__ = ["WorkedExample", "build", "main", "push_examples", "worked_example_block"]

MARKER = "<!-- nightline-example: {} -->"  # what the README test looks for
WRAP = 76  # characters per line of long values in the README block
DISPATCH_ID = "d-6f1c3e0a-2b4d-4e8f-9a10-0c2d3e4f5a6b"
EXAMPLE_PAGE = 1  # the first page of the dispatch
CONTENT = PushContent(
    dispatch_id=DISPATCH_ID,
    urgency=Urgency.URGENT,
    patient_name="Test Patient Alpha",
    callback_number="+1 555 0100",
    message="Synthetic test message: fever 39.8 C since this evening, no rash.",
    practice_name="Demo Pediatrics",
)
KEY_INFO_LABEL = b"WebPush: info\x00"
CEK_INFO = b"Content-Encoding: aes128gcm\x00"
NONCE_INFO = b"Content-Encoding: nonce\x00"
_CURVE = ec.SECP256R1()


def _label_bytes(label: str, size: int) -> bytes:
    return hashlib.sha256(f"nightline worked example: {label}".encode()).digest()[:size]


def _private_key(label: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(_label_bytes(label, 32), "big"), _CURVE)


def _scalar(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_numbers().private_value.to_bytes(32, "big")


def _point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def _hkdf_expand_one_block(prk: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 expand for ``length`` <= 32: the first block T(1) = HMAC(PRK, info || 0x01)."""
    if length > 32:
        raise ValueError("one HMAC-SHA256 block gives at most 32 bytes")
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


@dataclass(frozen=True)
class WorkedExample:
    """Every value of the README's example (bytes as they are, before any encoding)."""

    device_private_key: bytes  # 32-byte scalar; never leaves the phone
    device_public_key: bytes  # 65-byte uncompressed point (ua_public)
    auth_secret: bytes  # 16 bytes
    sender_private_key: bytes  # the server's one-time key for this message
    sender_public_key: bytes  # as_public, carried as the header's keyid
    plaintext: bytes
    body: bytes
    ecdh_secret: bytes
    key_info: bytes
    ikm: bytes
    prk: bytes
    cek: bytes
    nonce: bytes
    record_plaintext: bytes  # the decrypted record: plaintext || 0x02

    @property
    def salt(self) -> bytes:
        return self.body[:16]

    @property
    def record(self) -> bytes:
        return self.body[86:]


def build() -> WorkedExample:
    """Encrypt :data:`CONTENT` for the fixed device and derive every intermediate value."""
    device = _private_key("device private key")
    sender = _private_key("sender private key")
    auth_secret = _label_bytes("auth secret", 16)
    salt = _label_bytes("salt", 16)
    keys = DeviceKeys(device, auth_secret)
    plaintext = CONTENT.model_dump_json().encode()  # exactly what the engine encrypts
    body = encrypt_for_device(
        plaintext, keys.public_key_b64, keys.auth_secret_b64, sender_key=sender, salt=salt
    )

    ua_public, as_public = _point(device), _point(sender)
    ecdh_secret = device.exchange(ec.ECDH(), sender.public_key())
    key_info = KEY_INFO_LABEL + ua_public + as_public
    ikm = _hkdf_expand_one_block(_hkdf_extract(auth_secret, ecdh_secret), key_info, 32)
    prk = _hkdf_extract(salt, ikm)
    cek = _hkdf_expand_one_block(prk, CEK_INFO, 16)
    nonce = _hkdf_expand_one_block(prk, NONCE_INFO, 12)

    # The same derivation as http_ece does it, and the engine's own decryption.
    derived = http_ece.derive_key(
        "decrypt",
        version="aes128gcm",
        salt=salt,
        key=None,
        private_key=device,
        dh=as_public,
        auth_secret=auth_secret,
        keyid=None,
    )
    if derived != (cek, nonce):
        raise AssertionError("step-by-step derivation disagrees with http_ece")
    if decrypt_on_device(body, keys) != plaintext or body[:16] != salt:
        raise AssertionError("the example body does not decrypt to its plaintext")
    record_plaintext = AESGCM(cek).decrypt(nonce, body[86:], None)
    if record_plaintext != plaintext + b"\x02":  # one record, delimiter 02, no zero padding
        raise AssertionError("the record is not the plaintext and its 02 delimiter")
    return WorkedExample(
        device_private_key=_scalar(device),
        device_public_key=ua_public,
        auth_secret=auth_secret,
        sender_private_key=_scalar(sender),
        sender_public_key=as_public,
        plaintext=plaintext,
        body=body,
        ecdh_secret=ecdh_secret,
        key_info=key_info,
        ikm=ikm,
        prk=prk,
        cek=cek,
        nonce=nonce,
        record_plaintext=record_plaintext,
    )


def _line(name: str, value: str) -> list[str]:
    """``name: value``; long values continue on lines indented by four spaces."""
    head = f"{name}: "
    if len(head) + len(value) <= WRAP + 30:
        return [head + value]
    parts = (value[i : i + WRAP] for i in range(0, len(value), WRAP))
    return [name + ":", *("    " + part for part in parts)]


def worked_example_block(example: WorkedExample | None = None) -> str:
    """The body of the README's ``worked-example`` fenced block (without the fences)."""
    ex = example or build()
    hex_ = bytes.hex
    lines = [
        "# Inputs (fixed here; real ones are random). The device's, as the app stores them:",
        *_line("device_private_key_b64url", b64url_encode(ex.device_private_key)),
        *_line("device_public_key_b64url", b64url_encode(ex.device_public_key)),
        *_line("auth_secret_b64url", b64url_encode(ex.auth_secret)),
        "# The server's one-time key (never sent; shown only to reproduce the encryption):",
        *_line("sender_private_key_b64url", b64url_encode(ex.sender_private_key)),
        '# The push\'s "c" (iOS) / "ciphertext" (Android) value, base64url, no padding:',
        *_line("body_b64url", b64url_encode(ex.body)),
        f"body_length: {len(ex.body)}",
        "# Step 1, header = body[0:86]:",
        *_line("salt_hex", hex_(ex.salt)),
        *_line("rs_hex", hex_(ex.body[16:20])),
        f"rs: {int.from_bytes(ex.body[16:20], 'big')}",
        *_line("idlen_hex", hex_(ex.body[20:21])),
        f"idlen: {ex.body[20]}",
        *_line("keyid_hex", hex_(ex.body[21:86])),
        "# Step 2, record = body[86:] = ciphertext || 16-byte tag:",
        f"record_length: {len(ex.record)}",
        "# Step 3, ECDH(device private key, keyid) = x coordinate:",
        *_line("ecdh_secret_hex", hex_(ex.ecdh_secret)),
        '# Step 4, key_info = "WebPush: info" 00 || device public key || keyid:',
        *_line("key_info_hex", hex_(ex.key_info)),
        "# Step 5, IKM = HKDF-SHA256(salt=auth_secret, ikm=ecdh_secret, info=key_info, L=32):",
        *_line("ikm_hex", hex_(ex.ikm)),
        "# Step 6, PRK = HKDF-Extract(salt=header salt, IKM) = HMAC-SHA256(salt, IKM):",
        *_line("prk_hex", hex_(ex.prk)),
        '# Step 7, CEK = HKDF-Expand(PRK, "Content-Encoding: aes128gcm" 00, 16):',
        *_line("cek_hex", hex_(ex.cek)),
        '# Step 8, NONCE = HKDF-Expand(PRK, "Content-Encoding: nonce" 00, 12):',
        *_line("nonce_hex", hex_(ex.nonce)),
        "# Step 9, AES-128-GCM(CEK, NONCE, no AAD) opens the record; its last byte:",
        *_line("record_last_byte_hex", hex_(ex.record_plaintext[-1:])),
        "# Step 10, drop that 02 delimiter; the plaintext (UTF-8 JSON, one line):",
        f"plaintext: {ex.plaintext.decode()}",
    ]
    return "\n".join(lines)


def push_examples(example: WorkedExample | None = None) -> dict[str, Any]:
    """The example's push as APNs and FCM carry it (see :mod:`engine.push.envelope`)."""
    ex = example or build()
    urgency = CONTENT.urgency.value
    payload = DevicePayload(b64url_encode(ex.body), DISPATCH_ID, alert_text_for(urgency), False)
    fetch = DevicePayload(None, DISPATCH_ID, alert_text_for(urgency), True)
    token = "fcm-registration-token-of-the-device"
    page = EXAMPLE_PAGE
    return {
        "apns": build_payload(ios_payload(payload, urgency, page), urgency, critical=False),
        "fcm": build_message(
            token, android_data(payload, urgency, page), ttl_s=300, urgency=urgency
        ),
        "apns-fetch": build_payload(ios_payload(fetch, urgency, page), urgency, critical=False),
        "fcm-fetch-data": android_data(fetch, urgency, page),
    }


def main() -> None:
    """Print the README's worked-example block and the example pushes, with their markers."""
    example = build()
    print(f"{MARKER.format('worked-example')}\n```text\n{worked_example_block(example)}\n```")
    for name, value in push_examples(example).items():
        text = json.dumps(value, indent=2, ensure_ascii=False)
        print(f"\n{MARKER.format(name)}\n```json\n{text}\n```")


if __name__ == "__main__":
    main()
