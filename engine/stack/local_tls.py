"""Local TLS: a private CA and a ``localhost`` certificate for servers on this machine.

The fake APNs and the local API serve TLS with these, so clients are tested with
certificate checks on (they trust the CA file) rather than with verification off.
P-256 keys, a year of validity, SANs ``localhost``, ``127.0.0.1`` and ``::1``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["write_tls_files"]


def write_tls_files(cert_dir: Path, ca_common_name: str) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) in ``cert_dir``: a CA and a localhost certificate
    it signed, made once and reused. The key file is readable by its owner only."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    paths = cert_dir / "ca.pem", cert_dir / "server.pem", cert_dir / "server.key"
    if all(p.exists() for p in paths):
        return paths
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_common_name)])

    def cert(subject: x509.Name, pub: ec.EllipticCurvePublicKey, ca: bool) -> x509.Certificate:
        start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=365)
        b = x509.CertificateBuilder(ca_name, subject, pub, x509.random_serial_number(), start, end)
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        usage = (not ca, False, False, False, False, ca, ca, False, False)  # sign / certsign, crl
        b = b.add_extension(x509.KeyUsage(*usage), critical=True)
        if not ca:
            alt: list[x509.GeneralName] = [x509.DNSName("localhost")]
            alt += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
            b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        return b.sign(ca_key, hashes.SHA256())

    ca_cert = cert(ca_name, ca_key.public_key(), True)
    leaf = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]),
                key.public_key(), False)  # fmt: skip
    pem = serialization.Encoding.PEM
    paths[0].write_bytes(ca_cert.public_bytes(pem))
    paths[1].write_bytes(leaf.public_bytes(pem) + ca_cert.public_bytes(pem))
    paths[2].touch(mode=0o600)
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths
