"""The mesh CA: one root, and short-lived workload certificates signed for SPIFFE IDs.

Keys are EC P-256. A workload certificate has an empty subject and its
identity as a critical URI SAN, usable for both ends of a connection, as
Istio issues them. The root comes from the operator (Istio's plug-in
``cacerts`` Secret) or is generated once and kept in ``istio-ca-secret``, so
a restarted citadel signs with the same root and running proxies keep
trusting each other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT_LIFETIME = dt.timedelta(days=365)
CLOCK_SKEW = dt.timedelta(minutes=1)  # certificates start a little in the past


class SigningError(ValueError):
    """A CSR citadel will not sign; the message says why, for the caller."""


@dataclass(frozen=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate  # signs workload certificates
    root: x509.Certificate  # what workloads trust (the same, unless an intermediate is plugged in)

    @classmethod
    def generate(cls, organization: str = "cluster.local") -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + ROOT_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(signing=True), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate, certificate)

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, root_pem: bytes | None = None) -> (
        CertificateAuthority
    ):  # fmt: skip
        """From PEM files (``ca-cert.pem``, ``ca-key.pem``, ``root-cert.pem``), checked to match."""
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
            certificate = x509.load_pem_x509_certificate(cert_pem)
            root = x509.load_pem_x509_certificate(root_pem) if root_pem else certificate
        except ValueError as error:
            raise ValueError(f"the CA's key or certificate is not valid PEM: {error}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the CA key must be an EC key (P-256)")
        if key.public_key() != certificate.public_key():
            raise ValueError("ca-key.pem is not the key of ca-cert.pem")
        return cls(key, certificate, root)

    def pem(self) -> dict[str, bytes]:
        """The files of Istio's CA Secrets."""
        return {
            "ca-cert.pem": self.certificate.public_bytes(serialization.Encoding.PEM),
            "ca-key.pem": self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "root-cert.pem": self.root_pem,
        }

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self) -> list[str]:
        """The signing certificate up to the root, as a workload's chain ends."""
        chain = [self.certificate]
        if self.certificate != self.root:
            chain.append(self.root)
        return [c.public_bytes(serialization.Encoding.PEM).decode() for c in chain]

    def sign_csr(self, csr_pem: bytes, identity: str, lifetime: dt.timedelta) -> str:
        """A certificate for ``identity``, if the CSR is well formed and asks for exactly it."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as error:
            raise SigningError(f"the CSR is not valid PEM: {error}") from None
        try:
            if not csr.is_signature_valid:
                raise SigningError("the CSR's signature does not verify")
        except InvalidSignature:
            raise SigningError("the CSR's signature does not verify") from None
        try:
            wanted = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            uris = wanted.value.get_values_for_type(x509.UniformResourceIdentifier)
        except x509.ExtensionNotFound:
            uris = []
        if uris != [identity]:
            asked = ", ".join(uris) or "no identity"
            raise SigningError(f"the CSR asks for {asked}, but the caller is {identity}")
        return self.issue(csr.public_key(), [identity], lifetime)

    def issue(
        self, public_key: CertificatePublicKeyTypes, identities: list[str], lifetime: dt.timedelta
    ) -> str:
        """A workload (or serving) certificate with ``identities`` as URI or DNS SANs."""
        now = dt.datetime.now(dt.UTC)
        names: list[x509.GeneralName] = [
            x509.UniformResourceIdentifier(i) if "://" in i else x509.DNSName(i) for i in identities
        ]
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + lifetime)
            .add_extension(x509.SubjectAlternativeName(names), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signing=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _key_usage(signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=not signing,
        data_encipherment=False, key_agreement=False, key_cert_sign=signing, crl_sign=signing,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
