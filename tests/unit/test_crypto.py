"""RFC 8291 payload encryption: the RFC's own example, round trips, overhead, failures."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from engine.push.crypto import (
    OVERHEAD,
    DecryptionError,
    DeviceKeyError,
    DeviceKeys,
    b64url_decode,
    b64url_encode,
    decrypt_on_device,
    encrypt_for_device,
    generate_device_keys,
)

# RFC 8291 section 5 (all base64url).
RFC_PLAINTEXT = b"When I grow up, I want to be a watermelon"
RFC_AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
RFC_UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
RFC_UA_PUBLIC = (
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
)
RFC_SALT = "DGv6ra1nlYgDCS1FRnbzlw"
RFC_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
RFC_BODY = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAm"
    "S6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_"
    "Qulcy4a-fN"
)


def _rfc_sender() -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(b64url_decode(RFC_AS_PRIVATE), "big")
    return ec.derive_private_key(scalar, ec.SECP256R1())


def test_rfc8291_example_is_reproduced_exactly() -> None:
    body = encrypt_for_device(
        RFC_PLAINTEXT,
        RFC_UA_PUBLIC,
        RFC_AUTH,
        sender_key=_rfc_sender(),
        salt=b64url_decode(RFC_SALT),
    )
    assert b64url_encode(body) == RFC_BODY


def test_rfc8291_example_decrypts_with_the_user_agent_keys() -> None:
    keys = DeviceKeys.from_b64(RFC_UA_PRIVATE, RFC_AUTH)
    assert keys.public_key_b64 == RFC_UA_PUBLIC
    assert keys.auth_secret_b64 == RFC_AUTH
    assert decrypt_on_device(b64url_decode(RFC_BODY), keys) == RFC_PLAINTEXT


@pytest.mark.parametrize("size", [1, 41, 2800, 4079])
def test_round_trip_and_fixed_overhead(size: int) -> None:
    keys = generate_device_keys()
    plaintext = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    body = encrypt_for_device(plaintext, keys.public_key_b64, keys.auth_secret_b64)
    assert len(body) == size + OVERHEAD == size + 103
    assert decrypt_on_device(body, keys) == plaintext


def test_each_message_uses_a_fresh_sender_key_and_salt() -> None:
    keys = generate_device_keys()
    first = encrypt_for_device(b"same", keys.public_key_b64, keys.auth_secret_b64)
    second = encrypt_for_device(b"same", keys.public_key_b64, keys.auth_secret_b64)
    assert first[:16] != second[:16]  # salt
    assert first[21:86] != second[21:86]  # sender public key
    assert first != second


def test_generated_keys_have_rfc_shapes() -> None:
    keys = generate_device_keys()
    point = b64url_decode(keys.public_key_b64)
    assert len(point) == 65 and point[0] == 4
    assert len(b64url_decode(keys.auth_secret_b64)) == 16
    assert "=" not in keys.public_key_b64 + keys.auth_secret_b64
    assert keys.auth_secret_b64 not in repr(keys)


def test_another_device_cannot_decrypt() -> None:
    keys, other = generate_device_keys(), generate_device_keys()
    body = encrypt_for_device(b"secret", keys.public_key_b64, keys.auth_secret_b64)
    with pytest.raises(DecryptionError):
        decrypt_on_device(body, other)


def test_wrong_auth_secret_cannot_decrypt() -> None:
    keys = generate_device_keys()
    body = encrypt_for_device(b"secret", keys.public_key_b64, keys.auth_secret_b64)
    with pytest.raises(DecryptionError):
        decrypt_on_device(body, DeviceKeys(keys.private_key, b"\x00" * 16))


def test_tampered_body_is_rejected() -> None:
    keys = generate_device_keys()
    body = bytearray(encrypt_for_device(b"secret", keys.public_key_b64, keys.auth_secret_b64))
    body[-1] ^= 1
    with pytest.raises(DecryptionError):
        decrypt_on_device(bytes(body), keys)
    with pytest.raises(DecryptionError):
        decrypt_on_device(b"short", keys)


@pytest.mark.parametrize(
    ("public_key", "auth_secret"),
    [
        ("", RFC_AUTH),
        ("not-a-point", RFC_AUTH),
        ("B" + RFC_UA_PUBLIC[1:-4] + "AAAA", RFC_AUTH),  # not on the curve
        (RFC_UA_PUBLIC, ""),
        (RFC_UA_PUBLIC, b64url_encode(b"\x01" * 8)),
    ],
)
def test_bad_device_keys_are_refused(public_key: str, auth_secret: str) -> None:
    with pytest.raises(DeviceKeyError):
        encrypt_for_device(b"secret", public_key, auth_secret)


def test_empty_plaintext_is_refused() -> None:
    keys = generate_device_keys()
    with pytest.raises(ValueError, match="nothing to encrypt"):
        encrypt_for_device(b"", keys.public_key_b64, keys.auth_secret_b64)


def test_a_message_over_one_record_is_refused() -> None:
    keys = generate_device_keys()
    with pytest.raises(ValueError, match="one record"):
        encrypt_for_device(b"x" * 4080, keys.public_key_b64, keys.auth_secret_b64)


def test_encryption_matches_the_independent_http_ece_implementation() -> None:
    """Our encryption, decrypted by http_ece with the same fixed inputs it would use."""
    import http_ece

    keys = generate_device_keys()
    sender, salt = ec.generate_private_key(ec.SECP256R1()), bytes(range(16))
    body = encrypt_for_device(
        b"synthetic", keys.public_key_b64, keys.auth_secret_b64, sender_key=sender, salt=salt
    )
    reference = http_ece.encrypt(
        b"synthetic",
        salt=salt,
        private_key=sender,
        dh=b64url_decode(keys.public_key_b64),
        auth_secret=keys.auth_secret,
        rs=4096,
        version="aes128gcm",
    )
    assert body == reference
