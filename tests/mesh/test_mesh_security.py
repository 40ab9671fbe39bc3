"""Mesh security in an embedded cluster: citadel's certificates, mTLS, JWT and authorization.

Real citadel signing for real agents, real Envoy doing TLS on both ends of
every call between sidecars, and clients inside the cluster's own network
namespaces: curl and openssl, as the learner would use them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from tests.mesh.conftest import meshctl
from tests.node.conftest import NodeCluster

pytestmark = [pytest.mark.e2e, pytest.mark.root]

# A pod outside the mesh, that trusts the mesh root (to look at what servers present).
PLAIN = """
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  containers:
  - name: plain
    image: curlimages/curl
    command: [sleep, 1d]
    volumeMounts: [{name: root, mountPath: /etc/mesh}]
  volumes: [{name: root, configMap: {name: istio-ca-root-cert}}]
"""
STRICT = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default}
spec: {mtls: {mode: STRICT}}
"""


def curl(cluster: NodeCluster, pod: str, *args: str) -> subprocess.CompletedProcess[str]:
    container = ["-c", "sleep"] if pod.startswith("deploy/sleep") else []
    return cluster.kubectl("exec", pod, *container, "--", "curl", "-sS", "--max-time", "5",
                           *args, check=False)  # fmt: skip


def test_mtls_migration_from_permissive_to_strict(mesh: NodeCluster) -> None:
    mesh.kubectl("apply", "-f", "-", stdin=PLAIN)
    mesh.running_pod("plain")
    # No policy: PERMISSIVE. Both callers get through; only the sidecar's call is mTLS,
    # and the app sees who made it.
    meshed = curl(mesh, "deploy/sleep", "http://reviews/")
    assert meshed.returncode == 0, meshed.stderr
    assert "URI=spiffe://cluster.local/ns/default/sa/default" in meshed.stdout
    plain = curl(mesh, "plain", "http://reviews/")
    assert plain.returncode == 0, plain.stderr
    assert "x-forwarded-client-cert" not in plain.stdout.lower()

    mesh.kubectl("apply", "-f", "-", stdin=STRICT)
    mesh.wait_for("plaintext to be refused",
                  lambda: curl(mesh, "plain", "http://reviews/").returncode == 56)  # fmt: skip
    assert curl(mesh, "deploy/sleep", "http://reviews/").returncode == 0

    # What a server presents: the workload's SPIFFE ID, signed by the mesh root, and it
    # asks for a client certificate.
    shown = mesh.kubectl(
        "exec", "plain", "--", "sh", "-c",
        "openssl s_client -connect reviews:80 -CAfile /etc/mesh/root-cert.pem </dev/null "
        "2>&1 | tee /tmp/handshake | openssl x509 -noout -ext subjectAltName; cat /tmp/handshake",
        check=False,
    ).stdout  # fmt: skip
    assert "URI:spiffe://cluster.local/ns/default/sa/default" in shown
    assert "Verify return code: 0 (ok)" in shown
    assert "Requested Signature Algorithms" in shown or "certificate required" in shown

    # What meshctl says of it: the sidecar's calls are fine, the plain pod's conflict.
    sleep = mesh.get("pods", "-l", "app=sleep")["items"][0]["metadata"]["name"]
    row = meshctl(mesh, "tls-check", sleep, "reviews").splitlines()[1].split()
    assert row == ["reviews.default.svc.cluster.local:80", "OK", "STRICT", "ISTIO_MUTUAL",
                   "(auto)", "default/default", "-"]  # fmt: skip
    row = meshctl(mesh, "tls-check", "plain", "reviews").splitlines()[1].split()
    assert row[1:5] == ["CONFLICT", "STRICT", "DISABLE", "(no"]
    secrets = {line.split()[0]: line.split() for line in
               meshctl(mesh, "proxy-config", "secret", sleep).splitlines()[1:]}  # fmt: skip
    assert secrets["default"][1] == "spiffe://cluster.local/ns/default/sa/default"
    assert set(secrets) == {"default", "ROOTCA"}


ALLOW_NOTHING = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing}
spec: {}
"""
ALLOW_SLEEP = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-viewer}
spec:
  selector: {matchLabels: {app: reviews}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/default"]}}]
    to: [{operation: {methods: [GET]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin}
spec:
  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin*"]}}]
"""


def status(cluster: NodeCluster, pod: str, url: str, *headers: str) -> str:
    flags = [arg for header in headers for arg in ("-H", header)]
    result = curl(cluster, pod, "-o", "/dev/null", "-w", "%{http_code}", *flags, url)
    return result.stdout.strip() or f"exit {result.returncode}"


def settled(cluster: NodeCluster, url: str, expected: str, *headers: str, calls: int = 8) -> bool:
    """``calls`` requests from sleep all got ``expected``: every reviews pod's proxy (v1 and v2,
    each pushed on its own) has the new policy, not just the one the first call reached."""
    flags = " ".join(f"-H '{header}'" for header in headers)
    script = (f"for i in $(seq {calls}); do curl -s -o /dev/null -w '%{{http_code}} ' "
              f"--max-time 5 {flags} {url}; done")  # fmt: skip
    out = cluster.kubectl("exec", "deploy/sleep", "-c", "sleep", "--", "sh", "-c", script).stdout
    return out.split() == [expected] * calls


def test_authorization_denies_by_default_and_allows_one_edge_at_a_time(mesh: NodeCluster) -> None:
    mesh.kubectl("apply", "-f", "-", stdin=PLAIN)
    mesh.running_pod("plain")
    assert status(mesh, "deploy/sleep", "http://reviews/") == "200"
    mesh.kubectl("apply", "-f", "-", stdin=ALLOW_NOTHING)
    mesh.wait_for("deny-all on every pod", lambda: settled(mesh, "http://reviews/", "403"))
    denied = curl(mesh, "deploy/sleep", "http://reviews/")
    assert denied.stdout.strip() == "RBAC: access denied"

    mesh.kubectl("apply", "-f", "-", stdin=ALLOW_SLEEP)
    mesh.wait_for("the sleep edge on every pod", lambda: settled(mesh, "http://reviews/", "200")
                  and settled(mesh, "http://reviews/admin/users", "403"))  # fmt: skip
    assert status(mesh, "deploy/sleep", "http://reviews/", "X-HTTP-Method-Override: x") == "200"
    assert status(mesh, "deploy/sleep", "http://reviews/admin/users") == "403"  # DENY first
    post = curl(mesh, "deploy/sleep", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                "http://reviews/")  # fmt: skip
    assert post.stdout.strip() == "403"  # only GET is allowed
    # The plain pod has no certificate, so no principal: still denied.
    assert status(mesh, "plain", "http://reviews/") == "403"


ISSUER = "testing@secure.istio.io"


class Issuer:
    """A token issuer of the test's own: an RSA key, its JWKS, and RS256 tokens it signs."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> str:
        numbers = self.key.public_key().public_numbers()
        return json.dumps({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "test",
                                     "n": _b64(numbers.n.to_bytes(256, "big")),
                                     "e": _b64(numbers.e.to_bytes(3, "big"))}]})  # fmt: skip

    def token(self, **claims: Any) -> str:
        header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "test"}).encode())
        now = int(time.time())
        body = {"iss": ISSUER, "sub": "user-a", "iat": now, "exp": now + 3600, **claims}
        signing_input = f"{header}.{_b64(json.dumps(body).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_jwt_tokens_are_checked_and_authorization_can_require_them(mesh: NodeCluster) -> None:
    issuer, stranger = Issuer(), Issuer()
    mesh.kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
        "metadata": {"name": "jwt-example"},
        "spec": {"selector": {"matchLabels": {"app": "reviews"}},
                 "jwtRules": [{"issuer": ISSUER, "jwks": issuer.jwks()}]},
    }))  # fmt: skip
    url = "http://reviews/"
    valid = f"Authorization: Bearer {issuer.token(groups=['group1'])}"
    forged = f"Authorization: Bearer {stranger.token()}"
    mesh.wait_for("an invalid token refused", lambda: settled(mesh, url, "401", forged))
    assert status(mesh, "deploy/sleep", url) == "200"  # no token: RequestAuthentication alone
    assert status(mesh, "deploy/sleep", url, valid) == "200"

    holders = {"source": {"requestPrincipals": [f"{ISSUER}/*"]}}
    require = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
               "metadata": {"name": "require-jwt"},
               "spec": {"selector": {"matchLabels": {"app": "reviews"}}, "action": "ALLOW",
                        "rules": [{"from": [holders]}]}}  # fmt: skip
    mesh.kubectl("apply", "-f", "-", stdin=json.dumps(require))
    mesh.wait_for("a token required", lambda: settled(mesh, url, "403"))
    assert status(mesh, "deploy/sleep", url, valid) == "200"
    require["spec"]["rules"][0]["when"] = [{"key": "request.auth.claims[groups]",
                                            "values": ["group1"]}]  # fmt: skip
    mesh.kubectl("apply", "-f", "-", stdin=json.dumps(require))
    outsider = f"Authorization: Bearer {issuer.token(groups=['group2'])}"
    mesh.wait_for("the group condition", lambda: settled(mesh, url, "403", outsider))
    assert status(mesh, "deploy/sleep", url, valid) == "200"


@pytest.mark.timeout(600)  # five minutes of traffic, by design
def test_certificates_rotate_under_load_without_a_failed_request(mesh: NodeCluster) -> None:
    for deployment in ("sleep", "reviews-v1", "reviews-v2"):
        mesh.kubectl("set", "env", f"deploy/{deployment}", "-c", "istio-proxy", "SECRET_TTL=2m")
    for deployment in ("sleep", "reviews-v1", "reviews-v2"):
        mesh.kubectl("rollout", "status", f"deploy/{deployment}", "--timeout=90s", timeout=120)
    # Five minutes of calls while the certificates turn over (every minute, at half life).
    script = (
        "end=$(($(date +%s) + 300)); ok=0; bad=0; "
        "while [ $(date +%s) -lt $end ]; do "
        "if curl -sf --max-time 5 -o /dev/null http://reviews/; then ok=$((ok+1)); "
        "else bad=$((bad+1)); fi; sleep 0.2; done; echo ok=$ok bad=$bad"
    )
    calls = subprocess.Popen([*mesh.kubectl_argv(), "exec", "deploy/sleep", "-c", "sleep", "--",
                              "sh", "-c", script], stdout=subprocess.PIPE, text=True)  # fmt: skip
    serials = set()
    while calls.poll() is None:
        for pod in ("app=sleep", "version=v1"):
            name = mesh.live_pods(pod)[0]["metadata"]["name"]
            shown = meshctl(mesh, "proxy-config", "secret", name).splitlines()
            serials |= {(pod, line.split()[2]) for line in shown if line.startswith("default ")}
        time.sleep(15)
    out = calls.communicate(timeout=30)[0].strip()
    assert out.endswith(" bad=0"), out
    assert int(out.split()[0].removeprefix("ok=")) > 500
    for pod in ("app=sleep", "version=v1"):  # both ends renewed, more than once
        assert len({serial for who, serial in serials if who == pod}) >= 3, serials


def self_signed(host: str) -> tuple[str, str]:
    """(certificate, key) PEM for ``host``, as a learner would make with openssl."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


HTTPS_GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: shop-credential}
    hosts: [shop.example.com]
  - port: {number: 80, name: http, protocol: HTTP}
    tls: {httpsRedirect: true}
    hosts: [shop.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: [shop.example.com]
  gateways: [shop-gateway]
  http:
  - route: [{destination: {host: reviews.default.svc.cluster.local}}]
"""


def test_the_ingress_gateway_terminates_https_with_a_credential_secret(
    mesh: NodeCluster, tmp_path: Path
) -> None:
    mesh.kubectl("rollout", "status", "-n", "istio-system", "deploy/istio-ingressgateway",
                 "--timeout=60s", timeout=90)  # fmt: skip
    cert, key = self_signed("shop.example.com")
    (tmp_path / "tls.crt").write_text(cert)
    (tmp_path / "tls.key").write_text(key)
    mesh.kubectl("create", "-n", "istio-system", "secret", "tls", "shop-credential",
                 f"--cert={tmp_path / 'tls.crt'}", f"--key={tmp_path / 'tls.key'}")  # fmt: skip
    mesh.kubectl("apply", "-f", "-", stdin=HTTPS_GATEWAY)
    mesh.kubectl("apply", "-f", "-", stdin=PLAIN)
    mesh.running_pod("plain")
    mesh.kubectl("exec", "-i", "plain", "--", "sh", "-c", "cat > /tmp/shop.pem", stdin=cert)
    gateway = "istio-ingressgateway.istio-system.svc"

    def fetch(*args: str) -> subprocess.CompletedProcess[str]:
        return curl(mesh, "plain", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                    "--connect-to", f"shop.example.com:443:{gateway}:443",
                    "--connect-to", f"shop.example.com:80:{gateway}:80", *args)  # fmt: skip

    mesh.wait_for("HTTPS through the gateway", lambda: fetch(
        "--cacert", "/tmp/shop.pem", "https://shop.example.com/").stdout.startswith("200"),
        timeout=30)  # fmt: skip
    redirected = fetch("http://shop.example.com/reviews").stdout.split()
    assert redirected == ["301", "https://shop.example.com/reviews"]
    untrusted = fetch("https://shop.example.com/")  # the test CA is not in the system store
    assert untrusted.returncode == 60  # curl: peer certificate cannot be authenticated


ASK_AS = """
import asyncio, sys
from pathlib import Path
from mesh_runtime.agent.certs import CertificateSource
from mesh_runtime.identity import ROOT_PATH, TOKEN_PATH
source = CertificateSource("istio-citadel.istio-system.svc:15012", "default", sys.argv[1],
                           Path(sys.argv[2]), Path(ROOT_PATH))
try:
    print("signed", asyncio.run(source.fetch()).serial)
except Exception as error:
    print("refused:", error)
"""


def test_citadel_signs_only_the_identity_the_caller_holds(mesh: NodeCluster) -> None:
    python = "/run/labplatform/venv/bin/python"

    def ask(account: str, token: str = "/var/run/secrets/tokens/istio-token") -> str:
        return mesh.kubectl("exec", "deploy/sleep", "-c", "istio-proxy", "--", python, "-c",
                            ASK_AS, account, token).stdout.strip()  # fmt: skip

    assert ask("default").startswith("signed ")
    refused = ask("admin")
    assert "citadel refused (403)" in refused
    assert "asks for spiffe://cluster.local/ns/default/sa/admin, but the caller is " \
        "spiffe://cluster.local/ns/default/sa/default" in refused  # fmt: skip
    # A token for the API server's audience is not a token for citadel's.
    wrong = ask("default", "/var/run/secrets/kubernetes.io/serviceaccount/token")
    assert "citadel refused (401)" in wrong


def test_workloads_ride_out_citadel_being_away(mesh: NodeCluster) -> None:
    mesh.kubectl("scale", "-n", "istio-system", "deploy/istio-citadel", "--replicas=0")
    mesh.wait_for("citadel gone", lambda: not mesh.get("pods", "-n", "istio-system", "-l",
                                                        "app=istio-citadel")["items"])  # fmt: skip
    assert status(mesh, "deploy/sleep", "http://reviews/") == "200"  # certificates in hand
    mesh.kubectl("scale", "deploy/reviews-v2", "--replicas=2")

    def ready_v2() -> int:
        pods = mesh.live_pods("app=reviews,version=v2")
        return sum(
            any(c["type"] == "Ready" and c["status"] == "True"
                for c in (p.get("status") or {}).get("conditions") or [])
            for p in pods
        )  # fmt: skip

    time.sleep(8)  # long enough for a proxy that had its certificate to be ready
    assert ready_v2() == 1  # the new pod's proxy is still waiting for its certificate
    assert status(mesh, "deploy/sleep", "http://reviews/") == "200"
    mesh.kubectl("scale", "-n", "istio-system", "deploy/istio-citadel", "--replicas=1")
    mesh.wait_for("the new pod ready once citadel is back", lambda: ready_v2() == 2, timeout=60)
