"""citadel's API: a workload proves who it is and gets a certificate for exactly that.

``POST /v1/certificates`` over TLS (15012) with the pod's projected service
account token as a bearer token (audience ``istio-ca``) and a CSR. The token
is checked by the API server (a TokenReview); the CSR must ask for the SPIFFE
ID of the token's service account and nothing else. The reply carries the
certificate chain and the root. ``/metrics`` counts requests and refusals
under Istio's names, so a lab can watch rotation happen.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from cryptography import x509
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from labkit.durations import parse_duration
from mesh_runtime.citadel.ca import CertificateAuthority, SigningError
from mesh_runtime.identity import spiffe_id

log = logging.getLogger("mesh_runtime.citadel")

# token -> (namespace, service account), or PermissionError saying why not
Authenticator = Callable[[str], tuple[str, str]]


class Citadel:
    def __init__(
        self,
        ca: CertificateAuthority,
        authenticate: Authenticator,
        lifetime: dt.timedelta,
        max_lifetime: dt.timedelta,
    ) -> None:
        self.ca, self.authenticate = ca, authenticate
        self.lifetime, self.max_lifetime = lifetime, max_lifetime
        self.counts: Counter[str] = Counter()

    async def sign(self, request: Request) -> Response:
        self.counts["citadel_server_csr_count"] += 1
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self._refuse(401, "no bearer token: send the pod's istio-ca token")
        try:
            body = await request.json()
            csr, ttl = str(body["csr"]), body.get("ttl")
            lifetime = self._lifetime(ttl)
        except (ValueError, KeyError, TypeError) as error:
            return self._refuse(400, f"expected JSON {{csr, ttl?}}: {error}")
        try:
            namespace, account = await asyncio.to_thread(self.authenticate, token)
        except PermissionError as error:
            return self._refuse(401, f"the token was not accepted: {error}")
        identity = spiffe_id(namespace, account)
        try:
            leaf = self.ca.sign_csr(csr.encode(), identity, lifetime)
        except SigningError as error:
            return self._refuse(403, str(error))
        certificate = x509.load_pem_x509_certificate(leaf.encode())
        self.counts["citadel_server_success_cert_issuance_count"] += 1
        log.info(
            "signed",
            extra={"identity": identity, "serial": f"{certificate.serial_number:x}",
                   "not_after": certificate.not_valid_after_utc.isoformat()},
        )  # fmt: skip
        return JSONResponse(
            {"certChain": [leaf, *self.ca.chain_pem()], "root": self.ca.root_pem.decode()}
        )

    def _lifetime(self, ttl: Any) -> dt.timedelta:
        if ttl is None:
            return self.lifetime
        requested = dt.timedelta(seconds=float(parse_duration(str(ttl))))
        return min(requested, self.max_lifetime)

    def _refuse(self, status: int, message: str) -> Response:
        self.counts["citadel_server_csr_refused_count"] += 1
        log.warning("refused", extra={"status": status, "reason": message})
        return JSONResponse({"error": message}, status_code=status)

    async def metrics(self, _: Request) -> Response:
        lines = []
        for name in ("citadel_server_csr_count", "citadel_server_success_cert_issuance_count",
                     "citadel_server_csr_refused_count"):  # fmt: skip
            lines += [f"# TYPE {name} counter", f"{name} {self.counts[name]}"]
        expiry = self.ca.root.not_valid_after_utc.timestamp()
        lines += ["# TYPE citadel_server_root_cert_expiry_timestamp gauge",
                  f"citadel_server_root_cert_expiry_timestamp {expiry:.0f}"]  # fmt: skip
        return PlainTextResponse("\n".join(lines) + "\n")

    def app(self) -> Starlette:
        async def healthz(_: Request) -> Response:
            return PlainTextResponse("ok")

        return Starlette(
            routes=[
                Route("/v1/certificates", self.sign, methods=["POST"]),
                Route("/metrics", self.metrics),
                Route("/healthz", healthz),
            ]
        )
