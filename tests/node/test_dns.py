"""The cluster DNS over real UDP and TCP on loopback, asked with dnspython's own client."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest

from labplatform.clusters.embedded.node.dns import ClusterDns, ClusterRecords

Obj = dict[str, Any]


def service(name: str, ip: str, ports: list[Obj] | None = None, **spec: Any) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"clusterIP": ip, "ports": ports or [{"name": "http", "port": 80}], **spec},
    }


def endpoints(name: str, ready: list[Obj], not_ready: tuple[str, ...] = ()) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "shop"},
        "subsets": [
            {
                "addresses": ready,
                "notReadyAddresses": [{"ip": ip} for ip in not_ready],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        ],
    }


@pytest.fixture
def server() -> Iterator[tuple[ClusterRecords, int]]:
    """The DNS server on its own event loop in a thread, as it runs beside the node's work.

    (Synchronous tests: an event loop left running by the browser tests in the
    same worker would get in an async fixture's way.)
    """
    records = ClusterRecords()
    records.set_service(service("web", "10.96.0.50"))
    records.set_service(service("db", "None"))
    ready = [{"ip": "10.244.0.7", "hostname": "db-0"}, {"ip": "10.244.0.8"}]
    records.set_endpoints(endpoints("db", ready, not_ready=("10.244.0.9",)))
    records.set_service(service("docs", "", type="ExternalName", externalName="docs.example.org"))
    records.set_pod(
        {"metadata": {"name": "p", "namespace": "shop"}, "status": {"podIP": "10.244.0.20"}}
    )
    dns_server = ClusterDns(records)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(dns_server.start("127.0.0.1", 0), loop).result(5)
    try:
        yield records, dns_server.port
    finally:
        asyncio.run_coroutine_threadsafe(dns_server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def ask(port: int, name: str, rdtype: str = "A", tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(query, "127.0.0.1", port=port, timeout=2)
    return dns.query.udp(query, "127.0.0.1", port=port, timeout=2)


def addresses(reply: dns.message.Message) -> set[str]:
    return {item.to_text() for rrset in reply.answer for item in rrset}


def test_a_service_name_resolves_to_its_cluster_ip(
    server: tuple[ClusterRecords, int],
) -> None:
    _, port = server
    reply = ask(port, "web.shop.svc.cluster.local.")
    assert reply.rcode() == dns.rcode.NOERROR and addresses(reply) == {"10.96.0.50"}
    assert addresses(ask(port, "WEB.Shop.SVC.cluster.LOCAL.")) == {"10.96.0.50"}
    assert addresses(ask(port, "web.shop.svc.cluster.local.", tcp=True)) == {"10.96.0.50"}


def test_a_headless_service_lists_ready_pods_and_follows_endpoints(
    server: tuple[ClusterRecords, int],
) -> None:
    records, port = server
    assert addresses(ask(port, "db.shop.svc.cluster.local.")) == {"10.244.0.7", "10.244.0.8"}
    assert addresses(ask(port, "db-0.db.shop.svc.cluster.local.")) == {"10.244.0.7"}
    records.set_endpoints(endpoints("db", [{"ip": "10.244.0.8"}]))
    assert addresses(ask(port, "db.shop.svc.cluster.local.")) == {"10.244.0.8"}


def test_srv_for_a_named_port_carries_its_addresses(
    server: tuple[ClusterRecords, int],
) -> None:
    _, port = server
    reply = ask(port, "_http._tcp.web.shop.svc.cluster.local.", "SRV")
    assert [item.to_text() for item in reply.answer[0]] == ["0 100 80 web.shop.svc.cluster.local."]
    assert {item.to_text() for rrset in reply.additional for item in rrset} == {"10.96.0.50"}
    headless = ask(port, "_http._tcp.db.shop.svc.cluster.local.", "SRV")
    assert {item.to_text() for item in headless.answer[0]} == {
        "0 100 8080 db-0.db.shop.svc.cluster.local.",
        "0 100 8080 10-244-0-8.db.shop.svc.cluster.local.",
    }


def test_unknown_names_missing_types_and_outside_names(
    server: tuple[ClusterRecords, int],
) -> None:
    records, port = server
    missing = ask(port, "nope.shop.svc.cluster.local.")
    assert (
        missing.rcode() == dns.rcode.NXDOMAIN and missing.authority[0].rdtype == dns.rdatatype.SOA
    )
    nodata = ask(port, "web.shop.svc.cluster.local.", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority
    outside = ask(port, "example.com.")
    assert outside.rcode() == dns.rcode.REFUSED  # nothing is forwarded out of the cluster
    records.delete_service("shop", "web")
    assert (ask(port, "web.shop.svc.cluster.local.")).rcode() == dns.rcode.NXDOMAIN


def test_external_names_pods_and_reverse_lookups(server: tuple[ClusterRecords, int]) -> None:
    _, port = server
    cname = ask(port, "docs.shop.svc.cluster.local.")
    assert [item.to_text() for item in cname.answer[0]] == ["docs.example.org."]
    assert addresses(ask(port, "10-244-0-20.shop.pod.cluster.local.")) == {"10.244.0.20"}
    ptr = ask(port, dns.reversename.from_address("10.96.0.50").to_text(), "PTR")
    assert addresses(ptr) == {"web.shop.svc.cluster.local."}


def test_garbage_is_dropped_and_large_answers_move_to_tcp(
    server: tuple[ClusterRecords, int],
) -> None:
    records, port = server
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.sendto(b"\x00\x01garbage", ("127.0.0.1", port))
    assert addresses(ask(port, "web.shop.svc.cluster.local.")) == {"10.96.0.50"}
    many = [{"ip": f"10.244.1.{i}"} for i in range(1, 101)]
    records.set_endpoints(endpoints("db", many))
    truncated = ask(port, "db.shop.svc.cluster.local.")
    assert truncated.flags & dns.flags.TC
    assert len(addresses(ask(port, "db.shop.svc.cluster.local.", tcp=True))) == 100
