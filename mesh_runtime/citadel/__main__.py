"""Run citadel: ``python -m mesh_runtime.citadel`` (the ``labplatform/citadel`` image).

At start it loads the CA (the operator's ``cacerts`` Secret in istio-system,
else its own ``istio-ca-secret``, made on first start), publishes the root as
the ConfigMap ``istio-ca-root-cert`` in every namespace (pods mount it to
trust citadel and each other), and serves signing over TLS with a serving
certificate from its own CA.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import logging
import tempfile
import threading
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from labkit.durations import parse_duration
from labkit.logs import configure_logging
from mesh_runtime import kube
from mesh_runtime.citadel.ca import CertificateAuthority
from mesh_runtime.citadel.server import Citadel
from mesh_runtime.identity import ROOT_CONFIGMAP, TOKEN_AUDIENCE

log = logging.getLogger("mesh_runtime.citadel")

NAMESPACE = "istio-system"
PLUGGED_IN = "cacerts"  # Istio's name for an operator-provided CA
SELF_SIGNED = "istio-ca-secret"
SERVING_NAMES = [f"istio-citadel.{NAMESPACE}.svc", f"istio-citadel.{NAMESPACE}.svc.cluster.local",
                 f"istiod.{NAMESPACE}.svc"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", help="outside a cluster: the kubeconfig to use")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=15012)
    parser.add_argument("--workload-cert-ttl", default="24h",
                        help="workload certificate lifetime (labs may use minutes)")  # fmt: skip
    parser.add_argument("--max-workload-cert-ttl", default="2160h",
                        help="the longest lifetime a workload may ask for")  # fmt: skip
    parser.add_argument("--log-format", choices=("json", "kv"), default="json")
    args = parser.parse_args()
    configure_logging(args.log_format, "INFO")
    api = kube.api_client(args.kubeconfig)
    ca = load_ca(k8s.CoreV1Api(api))
    lifetime = dt.timedelta(seconds=float(parse_duration(args.workload_cert_ttl)))
    longest = dt.timedelta(seconds=float(parse_duration(args.max_workload_cert_ttl)))
    citadel = Citadel(ca, TokenReviewer(api), lifetime, longest)
    stop = threading.Event()
    threading.Thread(target=publish_root, args=(api, ca, stop), daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="citadel-") as tmp:
        cert, key = serving_certificate(ca, Path(tmp))
        server = uvicorn.Server(uvicorn.Config(
            citadel.app(), host=args.host, port=args.port, ssl_certfile=str(cert),
            ssl_keyfile=str(key), log_config=None, access_log=False))  # fmt: skip
        log.info("citadel serving", extra={"port": args.port, "workload_ttl": str(lifetime)})
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(server.serve())
    stop.set()
    api.close()


def load_ca(core: k8s.CoreV1Api) -> CertificateAuthority:
    """The plugged-in CA, else the self-signed one kept from an earlier start, else a new one."""
    for name in (PLUGGED_IN, SELF_SIGNED):
        data = _secret(core, name)
        if data is not None:
            ca = CertificateAuthority.from_pem(
                data["ca-cert.pem"], data["ca-key.pem"], data.get("root-cert.pem")
            )
            log.info("CA loaded", extra={"secret": f"{NAMESPACE}/{name}"})
            return ca
    ca = CertificateAuthority.generate()
    body = {"metadata": {"name": SELF_SIGNED, "namespace": NAMESPACE}, "type": "istio.io/ca-root",
            "data": {k: base64.b64encode(v).decode() for k, v in ca.pem().items()}}  # fmt: skip
    try:
        core.create_namespaced_secret(NAMESPACE, body)
    except ApiException as error:
        if error.status != 409:
            raise
        return load_ca(core)  # another citadel made it first: use theirs
    log.info("CA generated", extra={"secret": f"{NAMESPACE}/{SELF_SIGNED}"})
    return ca


def _secret(core: k8s.CoreV1Api, name: str) -> dict[str, bytes] | None:
    try:
        secret = core.read_namespaced_secret(name, NAMESPACE)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}


def serving_certificate(
    ca: CertificateAuthority, directory: Path, names: list[str] = SERVING_NAMES
) -> tuple[Path, Path]:
    """citadel's own TLS certificate (for its Service's names), signed by the mesh CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    chain = ca.issue(key.public_key(), names, dt.timedelta(days=365))
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_text(chain + "".join(ca.chain_pem()))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    key_path.chmod(0o600)
    return cert_path, key_path


class TokenReviewer:
    """Asks the API server who holds a token, as Istio's CA does (TokenReview)."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self.authentication = k8s.AuthenticationV1Api(api)

    def __call__(self, token: str) -> tuple[str, str]:
        review = self.authentication.create_token_review(
            {"spec": {"token": token, "audiences": [TOKEN_AUDIENCE]}}
        )
        status = review.status
        if not status or not status.authenticated:
            raise PermissionError((status and status.error) or "not authenticated")
        parts = (status.user.username or "").split(":")
        if len(parts) != 4 or parts[:2] != ["system", "serviceaccount"]:
            raise PermissionError(f"{status.user.username} is not a service account")
        return parts[2], parts[3]


def publish_root(api: k8s.ApiClient, ca: CertificateAuthority, stop: threading.Event) -> None:
    """Keep ``istio-ca-root-cert`` in every namespace, new ones included (list, then watch)."""
    root = ca.root_pem.decode()
    kube.watch(k8s.CoreV1Api(api).list_namespace,
               lambda namespace: _publish(api, namespace["metadata"]["name"], root),
               lambda _: None, stop)  # fmt: skip


def _publish(api: k8s.ApiClient, namespace: str, root: str) -> None:
    kube.apply(api, [{"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": ROOT_CONFIGMAP, "namespace": namespace,
                                   "labels": {"istio.io/config": "true"}},
                      "data": {"root-cert.pem": root}}])  # fmt: skip


if __name__ == "__main__":
    main()
