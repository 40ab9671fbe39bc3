"""mixer's attribution, fed over its real gRPC access log service the records Envoy sends.

The end-to-end tests watch real proxies report HTTP; here each kind of
record (outbound and inbound HTTP, TCP, a call that found no upstream) is
sent as Envoy would and the metrics mixer derives are read back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence

import grpc
import pytest
from envoy.data.accesslog.v3 import accesslog_pb2
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from mesh_runtime.mixer.reports import Inventory
from mesh_runtime.mixer.server import Mixer, serve_grpc
from tests.helpers import free_port

SLEEP_NODE = "sidecar~10.244.0.8~sleep-7d9c-x2k.default~default.svc.cluster.local"
REVIEWS_NODE = "sidecar~10.244.0.9~reviews-v1-5f6-abc.default~default.svc.cluster.local"


def pod(name: str, ip: str, app: str, version: str, account: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "default",
                         "labels": {"app": app, "version": version,
                                    "security.istio.io/tlsMode": "istio"},
                         "ownerReferences": [{"kind": "ReplicaSet",
                                              "name": name.rsplit("-", 1)[0]}]},
            "spec": {"serviceAccountName": account}, "status": {"podIP": ip}}  # fmt: skip


@pytest.fixture
def mixer() -> Iterator[tuple[Mixer, str]]:
    inventory = Inventory()
    inventory.set_pod(pod("sleep-7d9c-x2k", "10.244.0.8", "sleep", "v1", "sleep"))
    inventory.set_pod(pod("reviews-v1-5f6-abc", "10.244.0.9", "reviews", "v1", "reviews"))
    found = Mixer(inventory)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    address = f"127.0.0.1:{free_port()}"
    server = asyncio.run_coroutine_threadsafe(serve_grpc(found, address), loop).result(10)
    yield found, address
    asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)


def send(address: str, node: str, http: Sequence[accesslog_pb2.HTTPAccessLogEntry] = (),
         tcp: Sequence[accesslog_pb2.TCPAccessLogEntry] = ()) -> None:  # fmt: skip
    first = als_pb2.StreamAccessLogsMessage()
    first.identifier.node.id = node
    messages = [first]
    if http:
        messages.append(als_pb2.StreamAccessLogsMessage())
        messages[-1].http_logs.log_entry.extend(http)
    if tcp:
        messages.append(als_pb2.StreamAccessLogsMessage())
        messages[-1].tcp_logs.log_entry.extend(tcp)
    with grpc.insecure_channel(address) as channel:
        als_pb2_grpc.AccessLogServiceStub(channel).StreamAccessLogs(iter(messages))


def samples(mixer: Mixer, name: str) -> list[tuple[dict[str, str], float]]:
    text = mixer.metrics.exposition().decode()
    return [(s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name]  # fmt: skip


def test_each_side_of_an_http_call_is_attributed_as_istio_does(mixer: tuple[Mixer, str]) -> None:
    found, address = mixer
    outbound = accesslog_pb2.HTTPAccessLogEntry()
    outbound.common_properties.upstream_cluster = "outbound|80|v1|reviews.default.svc.cluster.local"
    outbound.common_properties.upstream_remote_address.socket_address.address = "10.244.0.9"
    outbound.request.authority = "reviews"
    outbound.response.response_code.value = 200
    inbound = accesslog_pb2.HTTPAccessLogEntry()
    inbound.common_properties.upstream_cluster = "InboundPassthroughClusterIpv4"
    inbound.common_properties.downstream_remote_address.socket_address.address = "10.244.0.8"
    inbound.common_properties.tls_properties.tls_version = accesslog_pb2.TLSProperties.TLSv1_3
    inbound.common_properties.tls_properties.peer_certificate_properties.subject_alt_name.add(
        uri="spiffe://cluster.local/ns/default/sa/sleep"
    )
    inbound.request.authority = "reviews:80"
    inbound.response.response_code.value = 200
    lost = accesslog_pb2.HTTPAccessLogEntry()
    lost.request.authority = "ratings"
    lost.response.response_code.value = 503
    lost.common_properties.response_flags.no_healthy_upstream = True
    send(address, SLEEP_NODE, http=[outbound, lost])
    send(address, REVIEWS_NODE, http=[inbound])
    counted = {(labels["reporter"], labels["destination_service"]): (labels, value)
               for labels, value in samples(found, "istio_requests_total")}  # fmt: skip
    source, _ = counted[("source", "reviews.default.svc.cluster.local")]
    assert (source["source_workload"], source["destination_workload"],
            source["destination_version"], source["connection_security_policy"]) == (
        "sleep", "reviews-v1", "v1", "unknown")  # fmt: skip
    destination, _ = counted[("destination", "reviews.default.svc.cluster.local")]
    assert (destination["source_workload"], destination["source_principal"],
            destination["connection_security_policy"]) == (
        "sleep", "spiffe://cluster.local/ns/default/sa/sleep", "mutual_tls")  # fmt: skip
    failed, _ = counted[("source", "ratings.default.svc.cluster.local")]
    assert (failed["response_code"], failed["response_flags"]) == ("503", "UH")


def test_tcp_connections_count_their_bytes(mixer: tuple[Mixer, str]) -> None:
    found, address = mixer
    connection = accesslog_pb2.TCPAccessLogEntry()
    connection.common_properties.upstream_cluster = "outbound|3306||mysql.default.svc.cluster.local"
    connection.connection_properties.received_bytes = 120
    connection.connection_properties.sent_bytes = 4096
    send(address, SLEEP_NODE, tcp=[connection, connection])
    received = samples(found, "istio_tcp_received_bytes_total")
    sent = samples(found, "istio_tcp_sent_bytes_total")
    assert [(labels["destination_service"], value) for labels, value in received] == [
        ("mysql.default.svc.cluster.local", 240.0)]  # fmt: skip
    assert [value for _, value in sent] == [8192.0]
    assert [labels["request_protocol"] for labels, _ in sent] == ["tcp"]
