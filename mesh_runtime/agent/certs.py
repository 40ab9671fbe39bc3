"""The proxy's credentials: a key that never leaves the pod, a certificate from citadel.

The agent makes an EC key, asks citadel to sign a CSR for the pod's SPIFFE
ID (proving it with the pod's projected ``istio-ca`` token), and hands the
certificate chain and the mesh root to Envoy as the SDS secrets
``default`` and ``ROOTCA``: JSON files in a directory Envoy watches,
replaced by rename so Envoy never reads half a file. It renews at half the
certificate's life; while citadel is away it retries with back-off and the
current certificate keeps serving until it expires.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mesh_runtime.identity import CERTIFICATE_SECRET, ROOT_SECRET, spiffe_id

log = logging.getLogger("mesh_runtime.agent")

SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class Credentials:
    chain: str
    key: str
    root: str
    not_before: dt.datetime
    not_after: dt.datetime
    serial: int

    @classmethod
    def of(cls, chain: str, key: ec.EllipticCurvePrivateKey, root: str) -> Credentials:
        """From a PEM chain (leaf first), the key it certifies and the root."""
        leaf = x509.load_pem_x509_certificate(chain.encode())
        return cls(chain, _pem(key), root, leaf.not_valid_before_utc, leaf.not_valid_after_utc,
                   leaf.serial_number)  # fmt: skip

    @property
    def renew_at(self) -> dt.datetime:
        """Half-way through its life, as Istio's grace ratio of 0.5."""
        return self.not_before + (self.not_after - self.not_before) / 2


@dataclass(frozen=True)
class CertificateSource:
    """Where and as whom the agent asks citadel for certificates."""

    address: str  # host:port of citadel
    namespace: str
    service_account: str
    token_path: Path
    root_path: Path
    ttl: str = ""  # ask for this lifetime ("" for citadel's default)

    async def fetch(self) -> Credentials:
        """A fresh key and its certificate; raises ``OSError`` or ``httpx.HTTPError``."""
        key = ec.generate_private_key(ec.SECP256R1())
        identity = spiffe_id(self.namespace, self.service_account)
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([]))
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        body: dict[str, str] = {"csr": csr.public_bytes(serialization.Encoding.PEM).decode()}
        if self.ttl:
            body["ttl"] = self.ttl
        token = self.token_path.read_text().strip()
        async with httpx.AsyncClient(verify=str(self.root_path), timeout=10.0) as client:
            reply = await client.post(
                f"https://{self.address}/v1/certificates",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        if reply.status_code != 200:
            raise httpx.HTTPStatusError(
                f"citadel refused ({reply.status_code}): {reply.text.strip()}",
                request=reply.request,
                response=reply,
            )
        answer = reply.json()
        return Credentials.of("".join(answer["certChain"]), key, answer["root"])


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def write_secrets(directory: Path, credentials: Credentials) -> None:
    """Both SDS files, each replaced at once: Envoy sees the old or the new, never a mix."""
    directory.mkdir(parents=True, exist_ok=True)
    secrets = {
        CERTIFICATE_SECRET: {
            "tls_certificate": {
                "certificate_chain": {"inline_string": credentials.chain},
                "private_key": {"inline_string": credentials.key},
            }
        },
        ROOT_SECRET: {"validation_context": {"trusted_ca": {"inline_string": credentials.root}}},
    }
    for name, secret in secrets.items():
        staged = directory / f".{name}.json.tmp"
        staged.write_text(json.dumps({"resources": [{"@type": SECRET_TYPE, "name": name,
                                                     **secret}]}))  # fmt: skip
        staged.chmod(0o600)
        staged.replace(directory / f"{name}.json")


async def first_credentials(source: CertificateSource, directory: Path) -> Credentials:
    """Keep asking (with back-off) until citadel signs; Envoy starts only after this."""
    credentials = await _signed(source, None)
    install(directory, credentials)
    return credentials


async def rotate(source: CertificateSource, directory: Path, credentials: Credentials) -> None:
    """Renew at half life, forever; failures retry with back-off while the old one holds."""
    while True:
        wait = (credentials.renew_at - dt.datetime.now(dt.UTC)).total_seconds()
        await asyncio.sleep(max(wait, 0.0))
        credentials = await _signed(source, credentials)
        install(directory, credentials)


async def _signed(source: CertificateSource, current: Credentials | None) -> Credentials:
    delay = 0.5
    while True:
        try:
            return await source.fetch()
        except (OSError, httpx.HTTPError, KeyError, ValueError) as error:
            extra: dict[str, object] = {"error": str(error), "retry_in": delay}
            if current is not None:
                left = (current.not_after - dt.datetime.now(dt.UTC)).total_seconds()
                extra["current_expires_in"] = round(left)
            log.warning("no certificate from citadel; retrying", extra=extra)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)


def install(directory: Path, credentials: Credentials) -> None:
    write_secrets(directory, credentials)
    log.info("certificate installed", extra={"serial": f"{credentials.serial:x}",
             "not_after": credentials.not_after.isoformat()})  # fmt: skip
