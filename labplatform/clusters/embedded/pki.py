"""Per-cluster credentials: a CA, the API server's serving certificate, a token.

Every cluster gets its own CA so a kubeconfig trusts exactly one cluster
(``certificate-authority-data``, never ``insecure-skip-tls-verify``), and
its own admin bearer token. Credentials are created once and loaded on
every later start, so kubeconfigs handed out stay valid across restarts.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only, before any secret is in it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class ClusterCredentials:
    """Paths of a cluster's CA and serving certificate, and its admin token."""

    directory: Path
    token: str

    @property
    def ca_cert_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def server_cert_path(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def server_key_path(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def ca_pem(self) -> bytes:
        return self.ca_cert_path.read_bytes()

    @classmethod
    def load_or_create(
        cls, directory: Path, extra_ips: tuple[str, ...] = (), extra_names: tuple[str, ...] = ()
    ) -> ClusterCredentials:
        """The credentials in ``directory``, made on first use."""
        token_path = directory / "token"
        if token_path.is_file():
            return cls(directory, token_path.read_text().strip())
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labplatform-cluster-ca")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        server_key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in (*SERVER_NAMES, *extra_names)]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", *extra_ips)]
        server_cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_name)
            .public_key(server_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        credentials = cls(directory, secrets.token_urlsafe(32))
        _write_private(directory / "ca.key", _key_pem(ca_key))
        _write_private(credentials.ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM))
        _write_private(credentials.server_key_path, _key_pem(server_key))
        _write_private(
            credentials.server_cert_path, server_cert.public_bytes(serialization.Encoding.PEM)
        )
        _write_private(token_path, credentials.token.encode())  # last: marks them complete
        return credentials

    def token_matches(self, authorization: str) -> bool:
        """Constant-time check of an ``Authorization: Bearer <token>`` header."""
        return hmac.compare_digest(authorization.encode(), f"Bearer {self.token}".encode())


def write_kubeconfig(
    path: Path,
    cluster_name: str,
    server_url: str,
    credentials: ClusterCredentials,
    namespace: str = "default",
) -> None:
    """A kubeconfig that trusts this cluster's CA alone and carries its token."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": base64.b64encode(credentials.ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": f"{cluster_name}-admin", "user": {"token": credentials.token}}],
        "contexts": [
            {
                "name": cluster_name,
                "context": {
                    "cluster": cluster_name,
                    "user": f"{cluster_name}-admin",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": cluster_name,
        "preferences": {},
    }
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
