"""Service-account tokens: the identity a pod proves to the API server and citadel.

Tokens are JWTs signed with the cluster's own key (ES256), carrying the
claims Kubernetes puts in bound tokens (``sub`` =
``system:serviceaccount:<ns>:<name>``, audiences, expiry, the
``kubernetes.io`` claim naming namespace, service account and pod). The
node runtime requests one per pod through the ``serviceaccounts/token``
subresource and projects it into the pod; anyone holding one can have it
checked with a TokenReview, which is how citadel authenticates a CSR.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCE = ISSUER
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 2**32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Signs and checks the cluster's service-account tokens."""

    def __init__(self, key_path: Path) -> None:
        if key_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path}: not an EC private key")
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            key_path.parent.mkdir(parents=True, exist_ok=True)
            key_path.touch(mode=0o600)
            key_path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        self._key = key
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = _b64(hashlib.sha256(public).digest())

    def issue(
        self,
        namespace: str,
        service_account: dict[str, Any],
        audiences: list[str],
        expiration_seconds: int,
        pod: dict[str, Any] | None = None,
    ) -> tuple[str, int]:
        """A signed token and its expiry (unix seconds)."""
        now = int(time.time())
        expiry = now + expiration_seconds
        name = service_account["metadata"]["name"]
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": service_account["metadata"]["uid"]},
        }
        if pod is not None:
            private["pod"] = {"name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
        claims = {
            "iss": ISSUER,
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "aud": audiences,
            "iat": now,
            "nbf": now,
            "exp": expiry,
            "kubernetes.io": private,
        }
        header = {"alg": "ES256", "kid": self.key_id, "typ": "JWT"}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        der = self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64(signature)}", expiry

    def verify(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """The token's claims; raises ValueError saying why it is not acceptable."""
        try:
            header_b64, claims_b64, signature_b64 = token.split(".")
            signature = _unb64(signature_b64)
            claims: dict[str, Any] = json.loads(_unb64(claims_b64))
        except ValueError:
            raise ValueError("token is not a JWT") from None
        if len(signature) != 64:
            raise ValueError("invalid signature")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            self._key.public_key().verify(
                der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature:
            raise ValueError("invalid signature: not issued by this cluster") from None
        now = time.time()
        if claims.get("iss") != ISSUER:
            raise ValueError(f"invalid issuer {claims.get('iss')!r}")
        if claims.get("exp", 0) < now:
            raise ValueError("token has expired")
        if claims.get("nbf", 0) > now + 60:
            raise ValueError("token is not valid yet")
        token_audiences = claims.get("aud") or []
        if audiences and not set(audiences) & set(token_audiences):
            raise ValueError("token audiences do not match")
        return claims
