"""Cluster credentials: real TLS trusts one cluster's CA alone, and kubeconfigs work."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from labplatform.clusters.embedded.pki import ClusterCredentials
from labplatform.clusters.kubeconfig import write_kubeconfig
from tests.helpers import JsonRequestHandler

VERSION = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class VersionHandler(JsonRequestHandler):
    """Answers ``GET /version`` to the cluster's token, 401 to anyone else."""

    credentials: ClusterCredentials

    def do_GET(self) -> None:
        body: dict[str, object] = dict(VERSION)
        code = 200
        if not self.credentials.token_matches(self.headers.get("Authorization", "")):
            code, body = 401, {"kind": "Status", "code": 401, "reason": "Unauthorized"}
        self.send_json(code, body)


@pytest.fixture
def credentials(tmp_path: Path) -> ClusterCredentials:
    return ClusterCredentials.load_or_create(
        tmp_path / "pki", extra_ips=("10.0.0.7",), extra_names=("api.lab.example",)
    )


@pytest.fixture
def api_port(credentials: ClusterCredentials) -> Iterator[int]:
    """An HTTPS server on loopback presenting the cluster's serving certificate."""
    handler = type("Handler", (VersionHandler,), {"credentials": credentials})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = credentials.ssl_server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def handshake(port: int, server_hostname: str, ca_pem: bytes) -> None:
    """A TLS handshake with 127.0.0.1:port that trusts ``ca_pem`` alone."""
    context = ssl.create_default_context(cadata=ca_pem.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname),
    ):
        pass


@pytest.mark.parametrize(
    "hostname",
    [
        "localhost",
        "127.0.0.1",
        "kubernetes.default.svc.cluster.local",
        "api.lab.example",
        "10.0.0.7",
    ],
)
def test_the_serving_certificate_verifies_against_the_cluster_ca(
    credentials: ClusterCredentials, api_port: int, hostname: str
) -> None:
    handshake(api_port, hostname, credentials.ca_pem)


def test_another_clusters_ca_and_other_names_are_refused(
    credentials: ClusterCredentials, api_port: int, tmp_path: Path
) -> None:
    other = ClusterCredentials.load_or_create(tmp_path / "other")
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(api_port, "localhost", other.ca_pem)
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(api_port, "api.elsewhere.example", credentials.ca_pem)


def test_the_kubeconfig_drives_the_official_client(
    credentials: ClusterCredentials, api_port: int, tmp_path: Path
) -> None:
    path = tmp_path / "home" / ".kube" / "config"
    server = f"https://127.0.0.1:{api_port}"
    write_kubeconfig(path, "lab", server, credentials.ca_pem, credentials.token, namespace="lab")

    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(path), client_configuration=configuration)
    assert configuration.host == server
    assert configuration.verify_ssl
    assert Path(configuration.ssl_ca_cert).read_bytes() == credentials.ca_pem
    assert list(configuration.api_key.values()) == [f"Bearer {credentials.token}"]
    with k8s.ApiClient(configuration) as api_client:
        assert k8s.VersionApi(api_client).get_code().git_version == "v1.37.0"

    kubeconfig = yaml.safe_load(path.read_text())
    assert kubeconfig["current-context"] == "lab"
    assert kubeconfig["contexts"][0]["context"]["namespace"] == "lab"
    assert "insecure-skip-tls-verify" not in kubeconfig["clusters"][0]["cluster"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_kubeconfig_with_another_token_is_unauthorized(
    credentials: ClusterCredentials, api_port: int, tmp_path: Path
) -> None:
    path = tmp_path / "stale-kubeconfig"
    stale = dataclasses.replace(credentials, token="not-the-token")
    write_kubeconfig(path, "lab", f"https://127.0.0.1:{api_port}", stale.ca_pem, stale.token)
    with (
        k8s_config.new_client_from_config(config_file=str(path)) as api_client,
        pytest.raises(k8s.ApiException) as refused,
    ):
        k8s.VersionApi(api_client).get_code()
    assert refused.value.status == 401


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ("Bearer {token}", True),
        ("bearer {token}", True),
        ("  Bearer   {token} ", True),
        ("Bearer {token}x", False),
        ("Bearer ", False),
        ("Basic {token}", False),
        ("{token}", False),
        ("", False),
    ],
)
def test_token_matches_only_the_bearer_token(
    credentials: ClusterCredentials, header: str, matches: bool
) -> None:
    assert credentials.token_matches(header.format(token=credentials.token)) is matches


def test_credentials_are_private_and_survive_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    first = ClusterCredentials.load_or_create(directory)
    serving = first.server_cert_path.read_bytes()
    again = ClusterCredentials.load_or_create(directory)

    assert again == first
    assert again.ca_pem == first.ca_pem
    assert again.server_cert_path.read_bytes() == serving
    assert len(first.token) >= 43  # 32 random bytes, base64url
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = sorted(p.name for p in directory.iterdir())
    assert files == ["apiserver.crt", "apiserver.key", "ca.crt", "ca.key", "token"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()} == {0o600}


def test_new_names_reissue_the_serving_certificate_from_the_same_ca(tmp_path: Path) -> None:
    first = ClusterCredentials.load_or_create(tmp_path / "pki")
    later = ClusterCredentials.load_or_create(tmp_path / "pki", extra_ips=("192.0.2.10",))
    assert later.ca_pem == first.ca_pem
    assert later.token == first.token
    serving = x509.load_pem_x509_certificate(later.server_cert_path.read_bytes())
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "192.0.2.10",
    ]
    serving.verify_directly_issued_by(x509.load_pem_x509_certificate(first.ca_pem))


def test_a_damaged_serving_pair_is_reissued(tmp_path: Path) -> None:
    first = ClusterCredentials.load_or_create(tmp_path / "pki")
    first.server_key_path.unlink()
    again = ClusterCredentials.load_or_create(tmp_path / "pki")
    assert again.ca_pem == first.ca_pem
    assert again.server_key_path.is_file()
    again.ssl_server_context()  # the new key and certificate belong together


def test_certificates_are_what_kubernetes_clients_expect(credentials: ClusterCredentials) -> None:
    ca = x509.load_pem_x509_certificate(credentials.ca_pem)
    serving = x509.load_pem_x509_certificate(credentials.server_cert_path.read_bytes())
    now = dt.datetime.now(dt.UTC)

    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert ca_key.curve.name == "secp256r1"
    assert ca.not_valid_after_utc - now > dt.timedelta(days=3640)

    assert not serving.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usages = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert dt.timedelta(days=360) < serving.not_valid_after_utc - now <= dt.timedelta(days=365)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "api.lab.example",
    ]
