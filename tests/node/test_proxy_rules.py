"""The service proxy's iptables rules, as text (the traffic is tested in test_services)."""

from __future__ import annotations

from typing import Any

from labplatform.clusters.embedded.node.services import proxy_rules

Obj = dict[str, Any]


def service(name: str, ip: str, ports: list[Obj], **spec: Any) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"clusterIP": ip, "ports": ports, **spec},
    }


def endpoints(
    name: str, ips: list[str], ports: list[Obj], not_ready: list[str] | None = None
) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "shop"},
        "subsets": [{
            "addresses": [{"ip": ip} for ip in ips],
            "notReadyAddresses": [{"ip": ip} for ip in not_ready or []],
            "ports": ports,
        }],
    }  # fmt: skip


def lines(rules: str, *needles: str) -> list[str]:
    return [line for line in rules.splitlines() if all(n in line for n in needles)]


def test_three_ready_endpoints_are_chosen_at_random_and_the_unready_never() -> None:
    rules = proxy_rules(
        [service("web", "10.96.0.5", [{"name": "http", "port": 80, "protocol": "TCP"}])],
        [endpoints("web", ["10.244.0.2", "10.244.0.3", "10.244.0.4"],
                   [{"name": "http", "port": 8080, "protocol": "TCP"}], not_ready=["10.244.0.9"])],
    )  # fmt: skip
    jumps = lines(rules, "-A KUBE-SVC-")
    assert [j.split("--probability ")[1].split()[0] for j in jumps[:2]] == [
        "0.3333333333",
        "0.5000000000",
    ]
    assert "--probability" not in jumps[2]
    assert {line.split("--to-destination ")[1] for line in lines(rules, "DNAT")} == {
        "10.244.0.2:8080", "10.244.0.3:8080", "10.244.0.4:8080",
    }  # fmt: skip
    assert "10.244.0.9" not in rules
    assert lines(rules, "-d 10.96.0.5/32", "--dport 80", '"shop/web:http"')
    assert lines(rules, "-s 10.244.0.2/32", "KUBE-MARK-MASQ")  # hairpin
    assert lines(rules, "POSTROUTING", "--mark 0x4000/0x4000", "MASQUERADE")
    assert len(lines(rules, "MASQUERADE")) == 1  # nothing else is ever masqueraded


def test_ports_pair_by_name_and_a_port_without_endpoints_is_refused() -> None:
    rules = proxy_rules(
        [service("api", "10.96.0.6", [
            {"name": "http", "port": 80, "protocol": "TCP"},
            {"name": "metrics", "port": 9090, "protocol": "TCP"},
            {"name": "dns", "port": 53, "protocol": "UDP"},
        ])],
        [endpoints("api", ["10.244.0.5"], [
            {"name": "http", "port": 8080, "protocol": "TCP"},
            {"name": "dns", "port": 5353, "protocol": "UDP"},
        ])],
    )  # fmt: skip
    assert {line.split("--to-destination ")[1] for line in lines(rules, "DNAT")} == {
        "10.244.0.5:8080", "10.244.0.5:5353",
    }  # fmt: skip
    assert lines(rules, "-p udp", "DNAT")
    refused = lines(rules, "REJECT")
    assert len(refused) == 1 and "--dport 9090" in refused[0]
    assert refused[0].endswith("-j REJECT --reject-with tcp-reset")


def test_headless_and_external_name_services_get_no_rules() -> None:
    rules = proxy_rules(
        [
            service("db", "None", [{"name": "sql", "port": 5432}]),
            service("docs", "", [{"port": 80}], type="ExternalName", externalName="docs.example"),
        ],
        [endpoints("db", ["10.244.0.7"], [{"name": "sql", "port": 5432}])],
    )
    assert "KUBE-SVC-" not in rules and "REJECT" not in rules
