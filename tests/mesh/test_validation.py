"""``meshctl validate`` and ``meshctl analyze`` on files, as a learner runs them before applying.

The same rules answer pilot's validating webhook (exercised through
``kubectl apply`` in test_mesh_cluster); here the CLI is run as a process on
YAML files and its output and exit status are what is checked.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import VENV_BIN

MESHCTL = str(VENV_BIN / "meshctl")
HEAD = "apiVersion: networking.istio.io/v1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n"


def meshctl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MESHCTL, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def rule(kind: str, spec: str, name: str = "reviews") -> str:
    group = "security" if kind.endswith(("Authentication", "Policy")) else "networking"
    head = HEAD.format(kind=kind, name=name).replace("networking", group)
    return head + "".join(f"  {line}\n" for line in spec.splitlines())


GOOD = rule(
    "VirtualService",
    """hosts: [reviews]
http:
- match: [{headers: {end-user: {exact: jason}}}]
  fault: {delay: {fixedDelay: 7s, percentage: {value: 100}}}
  route: [{destination: {host: reviews, subset: v2}}]
- route:
  - {destination: {host: reviews, subset: v1}, weight: 80}
  - {destination: {host: reviews, subset: v2}, weight: 20}
  timeout: 1m30s
  retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,connect-failure"}""",
)

# Each case: a spec, and Istio's message for what is wrong with it.
INVALID = [
    ("VirtualService", "hosts: []\nhttp: [{route: [{destination: {host: a}}]}]",
     "hosts: virtual service must have at least one host"),
    ("VirtualService", "hosts: [reviews]",
     "http, tcp or tls must be provided in virtual service"),
    ("VirtualService", "hosts: [reviews]\nhttp: [{fault: {}, route: [{destination: {host: a}}]}]",
     "http[0].fault: HTTP fault injection must have an abort and/or a delay"),
    ("VirtualService", "hosts: [reviews]\nhttp: [{fault: {abort: {httpStatus: 500, "
     "percentage: {value: 101}}}, route: [{destination: {host: a}}]}]",
     "http[0].fault.abort.percentage: percentage 101 is not in range 0..100"),
    ("VirtualService", "hosts: [reviews]\nhttp: [{fault: {delay: {fixedDelay: 0.5ms}}, "
     "route: [{destination: {host: a}}]}]",
     "http[0].fault.delay.fixedDelay: duration must be greater than 1ms"),
    ("VirtualService", "hosts: [reviews]\nhttp: [{timeout: 1.0005s, "
     "route: [{destination: {host: a}}]}]",
     "http[0].timeout: only durations to ms precision are supported"),
    ("VirtualService", "hosts: [reviews]\nhttp: [{retries: {attempts: -1}, "
     "route: [{destination: {host: a}}]}]", "http[0].retries.attempts: attempts must be positive"),
    ("VirtualService", "hosts: [reviews]\nhttp: [{match: [{uri: {prefix: /}}]}]",
     "http[0]: HTTP route, redirect or direct response is required"),
    ("VirtualService", "hosts: [reviews]\nhttp: [{route: [{destination: {host: a, subset: ''}}]}]",
     "http[0].route[0].destination.subset: subset name cannot be empty"),
    ("VirtualService", "hosts: [reviews]\nhttp: [{route: [{destination: {host: a, "
     "port: {number: 70000}}}]}]", "port number 70000 must be in the range 1..65535"),
    ("VirtualService", "hosts: [reviews]\nhttp: [{route: [{destination: {host: a}, weight: 0}, "
     "{destination: {host: b}, weight: 0}]}]", "http[0].route: total destination weight = 0"),
    ("Gateway", "selector: {istio: ingressgateway}\nservers: []",
     "servers: gateway must have at least one server"),
    ("Gateway", "servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ['*']}]",
     "servers[0]: server must have TLS settings for HTTPS/TLS protocols"),
    ("DestinationRule", "host: reviews\nsubsets: [{name: v1}, {name: v1}]",
     "subsets[1].name: duplicate subset names: v1"),
    ("DestinationRule", "host: reviews\ntrafficPolicy: {outlierDetection: {maxEjectionPercent: "
     "150}}", "maxEjectionPercent must be in range [0, 100]"),
    ("ServiceEntry", "hosts: [db.example.com]\nresolution: STATIC\n"
     "ports: [{number: 5432, name: tcp, protocol: TCP}]",
     "endpoints must be provided if service entry resolution mode is static"),
    ("Sidecar", "egress: [{hosts: [reviews]}]",
     "sidecar: host 'reviews' must be of the form namespace/dnsName"),
    ("AuthorizationPolicy", "rules: [{when: [{key: 'request.auth.claim[groups]', values: [a]}]}]",
     "rules[0].when[0].key: unknown attribute (request.auth.claim[groups])"),
    ("AuthorizationPolicy", "rules: [{from: [{source: {ipBlocks: [10.0.0.300/8]}}]}]",
     "invalid ip address or CIDR range: 10.0.0.300/8"),
    ("AuthorizationPolicy", "rules: [{to: [{}]}]",
     "rules[0].to[0]: `to.operation` must not be empty"),
    ("RequestAuthentication", "jwtRules: [{jwksUri: 'ftp://keys'}]", "issuer must be set"),
    ("PeerAuthentication", "mtls: {mode: STRICT}\nportLevelMtls: {'8080': {mode: DISABLE}}",
     "portLevelMtls: portLevelMtls requires selector"),
]  # fmt: skip


def test_a_valid_file_is_reported_valid(tmp_path: Path) -> None:
    config = tmp_path / "reviews.yaml"
    config.write_text(GOOD)
    result = meshctl("validate", "-f", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f'"{config}" is valid'


@pytest.mark.parametrize(("kind", "spec", "message"), INVALID)
def test_istios_rules_refuse_with_istios_message(kind: str, spec: str, message: str) -> None:
    result = meshctl("validate", "-f", "-", stdin=rule(kind, spec))
    assert result.returncode == 1
    assert message in result.stderr
    assert f"{kind} reviews: configuration is invalid:" in result.stderr


def test_every_error_in_a_directory_is_reported_with_its_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    broken = rule("VirtualService", "hosts: []\nhttp: [{fault: {}}]")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "broken.yml").write_text(broken)
    (tmp_path / "notes.txt").write_text("not config")
    result = meshctl("validate", "-f", str(tmp_path))
    assert result.returncode == 1
    assert f'"{tmp_path / "good.yaml"}" is valid' in result.stdout
    assert "notes.txt" not in result.stdout + result.stderr
    assert f"{tmp_path / 'nested' / 'broken.yml'}: VirtualService reviews: configuration is " \
        "invalid: 3 errors occurred:" in result.stderr  # fmt: skip


def test_unparseable_and_unknown_input_is_named() -> None:
    result = meshctl("validate", "-f", "-", stdin="spec: [unclosed")
    assert result.returncode == 1
    assert "<stdin>: not valid YAML" in result.stderr
    typo = meshctl("validate", "-f", "-", stdin=rule("VirtualServce", "hosts: [a]"))
    assert "unknown kind 'VirtualServce' in networking.istio.io" in typo.stderr
    missing = meshctl("validate", "-f", "/nonexistent/rules.yaml")
    assert "/nonexistent/rules.yaml: No such file or directory" in missing.stderr


SERVICE = """apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {ports: [{name: web, port: 80}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: default}
"""


def test_analyze_names_missing_hosts_subsets_and_gateways(tmp_path: Path) -> None:
    subsets = rule("DestinationRule", "host: reviews\nsubsets: [{name: v1, labels: {version: v1}}]")
    routes = rule(
        "VirtualService",
        """hosts: [reviews]
gateways: [mesh, shop-gateway]
http:
- route: [{destination: {host: reviews, subset: v2}}]
- route: [{destination: {host: ratings}}]""",
    )
    (tmp_path / "all.yaml").write_text("---\n".join([SERVICE, subsets, routes]))
    result = meshctl("analyze", "--no-use-kube", "-f", str(tmp_path / "all.yaml"))
    assert result.returncode == 79, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "Error [IST0101] (VirtualService default/reviews) Referenced gateway not found: "
        '"shop-gateway"',
        'Error [IST0101] (VirtualService default/reviews) Referenced host not found: "ratings"',
        "Error [IST0101] (VirtualService default/reviews) Referenced host+subset in "
        'destinationrule not found: "reviews+v2"',
    ]
    assert any(line.startswith("Info [IST0102] (Namespace default)") for line in lines)
    assert any("Port name web (port: 80, targetPort: 80)" in line for line in lines)


def test_analyze_passes_clean_config_and_honours_the_threshold(tmp_path: Path) -> None:
    labelled = SERVICE.replace("name: web", "name: http").replace(
        "metadata: {name: default}", "metadata: {name: default, labels: {istio-injection: enabled}}"
    )
    (tmp_path / "ok.yaml").write_text(labelled)
    clean = meshctl("analyze", "--no-use-kube", "-f", str(tmp_path / "ok.yaml"))
    assert clean.returncode == 0
    assert "No validation issues found when analyzing namespace: default." in clean.stdout
    (tmp_path / "info.yaml").write_text(SERVICE)
    info = meshctl("analyze", "--no-use-kube", "-f", str(tmp_path / "info.yaml"))
    assert info.returncode == 0  # Info findings alone do not fail at the default threshold
    strict = meshctl("analyze", "--no-use-kube", "--failure-threshold", "Info",
                     "-f", str(tmp_path / "info.yaml"))  # fmt: skip
    assert strict.returncode == 79
