"""Per-cluster credentials: a CA, the API server's serving certificate, a bearer token.

Every cluster gets its own CA, so a kubeconfig trusts exactly one cluster
(``certificate-authority-data``, never ``insecure-skip-tls-verify``), and its own
admin token. Credentials are made once and loaded on every later start: the CA and
the token never change, so kubeconfigs handed out stay valid across restarts. The
serving certificate is the one part that may be reissued (by the same CA), when a
start asks for names it lacks or it nears its end.

Layout of the directory (0700; every file 0600): ``ca.key``, ``ca.crt``,
``apiserver.key``, ``apiserver.crt``, ``token``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import secrets
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from labplatform.clusters.kubeconfig import write_private

SERVER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVER_IPS = ("127.0.0.1",)
CA_LIFETIME = dt.timedelta(days=3650)
SERVING_LIFETIME = dt.timedelta(days=365)
# A serving certificate this close to its end is reissued at the next start.
RENEW_BEFORE = dt.timedelta(days=30)
# Tolerates clocks of clients slightly behind the machine that issued.
BACKDATE = dt.timedelta(minutes=5)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _same_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def _load_pair(
    key_path: Path, cert_path: Path
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A key and its certificate, or ValueError when either is missing or they differ."""
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except FileNotFoundError as exc:
        raise ValueError(f"{exc.filename} is missing") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _same_key(cert, key):
        raise ValueError(f"{cert_path} does not belong to {key_path}")
    return key, cert


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    lifetime: dt.timedelta,
    ca: bool,
) -> x509.CertificateBuilder:
    """What every certificate here has; a CA may sign certificates, a leaf may not."""
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def _issue_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("labplatform-cluster-ca")
    cert = (
        _builder(name, name, key, CA_LIFETIME, ca=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(directory / "ca.key", _key_pem(key))
    write_private(directory / "ca.crt", cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _serving_cert_fits(
    cert: x509.Certificate, ca: x509.Certificate, names: set[str], ips: set[IPAddress]
) -> bool:
    """Whether ``cert`` was issued by ``ca``, covers every name and has time left."""
    try:
        cert.verify_directly_issued_by(ca)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return (
        names <= set(sans.get_values_for_type(x509.DNSName))
        and ips <= set(sans.get_values_for_type(x509.IPAddress))
        and cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_BEFORE
    )


def _issue_serving_cert(
    directory: Path,
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    names: Iterable[str],
    ips: Iterable[IPAddress],
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ip) for ip in ips]
    cert = (
        _builder(_name("kube-apiserver"), ca.subject, key, SERVING_LIFETIME, ca=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    # Key first: a crash between the two leaves a pair that does not match, which
    # the next start detects and reissues.
    write_private(directory / "apiserver.key", _key_pem(key))
    write_private(directory / "apiserver.crt", cert.public_bytes(serialization.Encoding.PEM))


@dataclass(frozen=True)
class ClusterCredentials:
    """A cluster's credentials directory, and its admin token."""

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
        cls,
        directory: Path,
        extra_ips: Iterable[str] = (),
        extra_names: Iterable[str] = (),
    ) -> ClusterCredentials:
        """The credentials in ``directory``, made on first use.

        The serving certificate covers localhost, the in-cluster names of the
        ``kubernetes`` Service, 127.0.0.1 and the ``extra_ips``/``extra_names``
        (addresses other than loopback the server is reached at).
        """
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)  # mkdir's mode is masked by the umask
        try:
            ca_key, ca = _load_pair(directory / "ca.key", directory / "ca.crt")
        except ValueError:
            ca_key, ca = _issue_ca(directory)
        names = dict.fromkeys((*SERVER_NAMES, *extra_names))
        ips = dict.fromkeys(ipaddress.ip_address(ip) for ip in (*SERVER_IPS, *extra_ips))
        try:
            _, serving = _load_pair(directory / "apiserver.key", directory / "apiserver.crt")
            fits = _serving_cert_fits(serving, ca, set(names), set(ips))
        except ValueError:
            fits = False
        if not fits:
            _issue_serving_cert(directory, ca_key, ca, names, ips)
        token_path = directory / "token"
        token = token_path.read_text().strip() if token_path.is_file() else ""
        if not token:
            token = secrets.token_urlsafe(32)
            write_private(token_path, token.encode())
        return cls(directory, token)

    def ssl_server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting the serving certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_cert_path, self.server_key_path)
        return context

    def token_matches(self, authorization: str) -> bool:
        """Whether an ``Authorization`` header carries this cluster's token.

        The scheme is case-insensitive, as the real API server's bearer token
        authenticator reads it; the token is compared in constant time.
        """
        scheme, _, presented = authorization.strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), self.token.encode()
        )
