"""End-to-end message encryption for a clinician's phone (RFC 8291 over RFC 8188).

Content-Encoding ``aes128gcm``: a fresh sender P-256 key per message, ECDH with the
device's public key, HKDF keyed with the device's 16-byte auth secret, AES-128-GCM. A
message is one record: its body is the plaintext plus :data:`OVERHEAD` bytes (86-byte
header: salt, record size, key id = sender public key; 16-byte GCM tag; 1 delimiter byte).

Encryption composes the ``cryptography`` primitives (ECDH, HKDF, AESGCM) in the RFC's
order, with each device's parsed public key cached: it is the worker's hot path, and
this is a third faster than going through ``http_ece``. Decryption (what the phone does)
goes through ``http_ece``, an independent implementation, so every round-trip test checks
one against the other; the RFC 8291 example vector pins the encryption byte for byte.

Keys and ciphertexts travel as base64url without padding (``=`` accepted on input).
"""

from __future__ import annotations

import base64
import functools
import os
from dataclasses import dataclass

import http_ece
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "AUTH_SECRET_BYTES",
    "OVERHEAD",
    "RECORD_SIZE",
    "DecryptionError",
    "DeviceKeyError",
    "DeviceKeys",
    "b64url_decode",
    "b64url_encode",
    "check_device_keys",
    "decrypt_on_device",
    "encrypt_for_device",
    "generate_device_keys",
]

AUTH_SECRET_BYTES = 16
RECORD_SIZE = 4096  # one record holds up to 4,079 plaintext bytes: pushes fit in one
OVERHEAD = 16 + 4 + 1 + 65 + 16 + 1  # salt, rs, idlen, key id, GCM tag, delimiter = 103
_CURVE = ec.SECP256R1()


class DeviceKeyError(ValueError):
    """The device's public key or auth secret is missing or malformed."""


class DecryptionError(ValueError):
    """The body is not an aes128gcm message for these keys (or was tampered with)."""


def b64url_encode(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Base64url, padding optional."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


@dataclass(frozen=True)
class DeviceKeys:
    """A device's RFC 8291 key pair and auth secret (the private half never leaves the phone)."""

    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @property
    def public_key_b64(self) -> str:
        """The uncompressed public point (65 bytes), base64url."""
        return b64url_encode(_public_bytes(self.private_key))

    @property
    def auth_secret_b64(self) -> str:
        return b64url_encode(self.auth_secret)

    @classmethod
    def from_b64(cls, private_key_b64: str, auth_secret_b64: str) -> DeviceKeys:
        """Keys from a base64url raw 32-byte private scalar and auth secret."""
        scalar = int.from_bytes(b64url_decode(private_key_b64), "big")
        return cls(ec.derive_private_key(scalar, _CURVE), b64url_decode(auth_secret_b64))

    def __repr__(self) -> str:
        return f"DeviceKeys(public_key_b64={self.public_key_b64!r})"


def generate_device_keys() -> DeviceKeys:
    """A fresh P-256 key pair and random 16-byte auth secret, as a phone makes at install."""
    return DeviceKeys(ec.generate_private_key(_CURVE), os.urandom(AUTH_SECRET_BYTES))


def check_device_keys(public_key_b64: str, auth_secret_b64: str) -> None:
    """Raise :class:`DeviceKeyError` unless these are a P-256 point and a 16-byte secret."""
    _receiver_key(public_key_b64, auth_secret_b64)


@functools.lru_cache(maxsize=65536)
def _receiver_key(
    public_key_b64: str, auth_secret_b64: str
) -> tuple[bytes, ec.EllipticCurvePublicKey, bytes]:
    """(point, parsed key, auth secret) of a device, parsed once per process."""
    try:
        point = b64url_decode(public_key_b64)
        secret = b64url_decode(auth_secret_b64)
        key = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, point)
    except ValueError as exc:
        raise DeviceKeyError(f"invalid device public key or auth secret: {exc}") from None
    if len(point) != 65 or len(secret) != AUTH_SECRET_BYTES:
        raise DeviceKeyError("device key must be a 65-byte point and a 16-byte auth secret")
    return point, key, secret


def _hkdf(salt: bytes, info: bytes, length: int, ikm: bytes) -> bytes:
    return HKDF(hashes.SHA256(), length, salt, info).derive(ikm)


def encrypt_for_device(
    plaintext: bytes,
    public_key_b64: str,
    auth_secret_b64: str,
    *,
    sender_key: ec.EllipticCurvePrivateKey | None = None,
    salt: bytes | None = None,
) -> bytes:
    """The aes128gcm body of ``plaintext`` for one device (``len(plaintext) + OVERHEAD``).

    ``sender_key`` and ``salt`` are fresh random values per message; pass them only to
    reproduce known test vectors.
    """
    if not plaintext:
        raise ValueError("nothing to encrypt")
    if len(plaintext) + 1 + 16 > RECORD_SIZE:
        raise ValueError(f"plaintext over {RECORD_SIZE - 17} bytes does not fit one record")
    point, device_key, secret = _receiver_key(public_key_b64, auth_secret_b64)
    sender = sender_key or ec.generate_private_key(_CURVE)
    salt = salt if salt is not None else os.urandom(16)
    sender_point = _public_bytes(sender)
    # RFC 8291 section 3.4: the input keying material from ECDH and the auth secret
    shared = sender.exchange(ec.ECDH(), device_key)
    ikm = _hkdf(secret, b"WebPush: info\x00" + point + sender_point, 32, shared)
    # RFC 8188 section 2.2 / 2.3: content encryption key and nonce from the header salt
    cek = _hkdf(salt, b"Content-Encoding: aes128gcm\x00", 16, ikm)
    nonce = _hkdf(salt, b"Content-Encoding: nonce\x00", 12, ikm)
    record = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)  # 0x02: last record
    header = salt + RECORD_SIZE.to_bytes(4, "big") + bytes([len(sender_point)]) + sender_point
    return header + record


def decrypt_on_device(body: bytes, keys: DeviceKeys) -> bytes:
    """What the phone does: decrypt an aes128gcm body with its own keys."""
    try:
        plaintext: bytes = http_ece.decrypt(
            body, private_key=keys.private_key, auth_secret=keys.auth_secret, version="aes128gcm"
        )
    except (http_ece.ECEException, ValueError) as exc:
        raise DecryptionError(f"cannot decrypt push payload: {exc}") from None
    return plaintext
