"""The cluster DNS (CoreDNS's job), after the Kubernetes DNS specification.

It answers from the Services, Endpoints and Pods the node follows:
``<svc>.<ns>.svc.<domain>`` (the ClusterIP, or each ready address of a
headless Service, with ``<hostname>.<svc>...`` for named ones), SRV records
``_<port>._<proto>.<svc>...`` for named ports, ExternalName CNAMEs,
``<a-b-c-d>.<ns>.pod.<domain>`` and PTR records. It forwards nothing: a
name outside the cluster domain is REFUSED, because no traffic may leave
the namespaces the project made. Pods' ``resolv.conf`` search path turns
short names into cluster names first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Iterator
from typing import Any, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from labplatform.clusters.embedded.node.index import ServiceIndex, key

log = logging.getLogger(__name__)

Obj = dict[str, Any]
TTL = 5
UDP_LIMIT = 512


class ClusterRecords(ServiceIndex):
    """The records of one cluster domain, kept as the node's watch sees objects change."""

    def __init__(self, domain: str = "cluster.local") -> None:
        super().__init__()
        self.domain = dns.name.from_text(domain)
        self._pods: dict[tuple[str, str], str] = {}  # (ns, name) -> IP

    def set_pod(self, pod: Obj) -> None:
        ip = pod.get("status", {}).get("podIP")
        if ip:
            self._pods[key(pod)] = ip
        else:
            self._pods.pop(key(pod), None)

    def delete_pod(self, namespace: str, name: str) -> None:
        self._pods.pop((namespace, name), None)

    # -- answering ---------------------------------------------------------

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name = question.name
        in_domain = name.is_subdomain(self.domain) or _is_reverse(name)
        if not in_domain or question.rdclass != dns.rdataclass.IN:
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.REFUSED)
            return response
        records = list(self._records(name))
        if not records:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self._soa())
            return response
        wanted = [
            r for r in records if r[0] == question.rdtype or question.rdtype == dns.rdatatype.ANY
        ]
        cname = [r for r in records if r[0] == dns.rdatatype.CNAME]
        for rdtype, values in wanted or cname:
            response.answer.append(
                dns.rrset.from_text_list(name, TTL, dns.rdataclass.IN, rdtype, values)
            )
        if not response.answer:
            response.authority.append(self._soa())  # the name exists: NODATA
        if question.rdtype == dns.rdatatype.SRV:
            for rrset in response.answer:
                for srv in rrset:
                    target = srv.target
                    for rdtype, values in self._records(target):
                        if rdtype == dns.rdatatype.A:
                            response.additional.append(
                                dns.rrset.from_text_list(
                                    target, TTL, dns.rdataclass.IN, rdtype, values
                                )
                            )
        return response

    def _soa(self) -> dns.rrset.RRset:
        return dns.rrset.from_text(
            self.domain, TTL, "IN", "SOA",
            f"ns.dns.{self.domain} hostmaster.{self.domain} 1 7200 1800 86400 {TTL}",
        )  # fmt: skip

    def _records(self, name: dns.name.Name) -> Iterator[tuple[dns.rdatatype.RdataType, list[str]]]:
        """(type, values) for every record set the name has."""
        if _is_reverse(name):
            yield from self._reverse(name)
            return
        labels = [label.decode().lower() for label in name.relativize(self.domain).labels]
        if len(labels) >= 3 and labels[-1] == "svc":
            yield from self._service_records(labels[:-1])
        elif len(labels) == 3 and labels[-1] == "pod":
            ip = labels[0].replace("-", ".")
            if any(ip == pod_ip for (ns, _), pod_ip in self._pods.items() if ns == labels[1]):
                yield dns.rdatatype.A, [ip]

    def _service_records(
        self, labels: list[str]
    ) -> Iterator[tuple[dns.rdatatype.RdataType, list[str]]]:
        *prefix, service_name, namespace = labels
        service = self._services.get((namespace, service_name))
        if service is None:
            return
        spec = service.get("spec", {})
        fqdn = f"{service_name}.{namespace}.svc.{self.domain}"
        headless = spec.get("clusterIP") == "None"
        addresses = self._ready(namespace, service_name)
        if not prefix:
            if spec.get("type") == "ExternalName":
                yield dns.rdatatype.CNAME, [dns.name.from_text(spec["externalName"]).to_text()]
            elif headless:
                if addresses:
                    yield dns.rdatatype.A, sorted({ip for ip, _, _ in addresses})
            elif spec.get("clusterIP"):
                yield dns.rdatatype.A, [spec["clusterIP"]]
        elif len(prefix) == 1 and headless:
            ips = sorted({ip for ip, host, _ in addresses if host == prefix[0]})
            if ips:
                yield dns.rdatatype.A, ips
        elif len(prefix) == 2 and prefix[0].startswith("_") and prefix[1].startswith("_"):
            port_name, protocol = prefix[0][1:], prefix[1][1:].upper()
            if headless:
                targets = [
                    f"0 100 {port} {host or ip.replace('.', '-')}.{fqdn}"
                    for ip, host, ports in addresses
                    for name, proto, port in ports
                    if name == port_name and proto == protocol
                ]
            else:
                targets = [
                    f"0 100 {port['port']} {fqdn}"
                    for port in spec.get("ports") or []
                    if port.get("name") == port_name and port.get("protocol", "TCP") == protocol
                ]
            if targets:
                yield dns.rdatatype.SRV, sorted(set(targets))
        if headless and len(prefix) == 1 and not any(h == prefix[0] for _, h, _ in addresses):
            dashed = [ip for ip, _, _ in addresses if ip.replace(".", "-") == prefix[0]]
            if dashed:
                yield dns.rdatatype.A, dashed[:1]

    def _ready(
        self, namespace: str, name: str
    ) -> list[tuple[str, str, list[tuple[str, str, int]]]]:
        """(ip, hostname, [(port name, protocol, port)]) of each ready address."""
        endpoints = self._endpoints.get((namespace, name)) or {}
        found = []
        for subset in endpoints.get("subsets") or []:
            ports = [
                (p.get("name", ""), p.get("protocol", "TCP"), int(p["port"]))
                for p in subset.get("ports") or []
            ]
            for address in subset.get("addresses") or []:
                found.append((address["ip"], address.get("hostname", ""), ports))
        return found

    def _reverse(self, name: dns.name.Name) -> Iterator[tuple[dns.rdatatype.RdataType, list[str]]]:
        try:
            ip = dns.reversename.to_address(name)
        except (dns.exception.SyntaxError, ValueError):
            return
        for (namespace, service_name), service in self._services.items():
            if service.get("spec", {}).get("clusterIP") == ip:
                yield dns.rdatatype.PTR, [f"{service_name}.{namespace}.svc.{self.domain}"]
                return
        for (namespace, _), pod_ip in self._pods.items():
            if pod_ip == ip:
                yield dns.rdatatype.PTR, [f"{ip.replace('.', '-')}.{namespace}.pod.{self.domain}"]
                return


def _is_reverse(name: dns.name.Name) -> bool:
    return name.is_subdomain(dns.name.from_text("in-addr.arpa."))


class ClusterDns:
    """Serves :class:`ClusterRecords` over UDP and TCP on one address and port."""

    def __init__(self, records: ClusterRecords) -> None:
        self.records = records
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._udp is not None
        return int(self._udp.get_extra_info("sockname")[1])

    async def start(self, host: str, port: int = 53) -> None:
        """Listen on UDP and TCP at one port; port 0 picks one free for both."""
        loop = asyncio.get_running_loop()
        for attempt in range(20 if port == 0 else 1):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self.records), local_addr=(host, port)
            )
            self._udp = transport
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, host, self.port)
                break
            except OSError:  # the UDP port's TCP twin is taken: try another pair
                transport.close()
                if attempt == 19 or port != 0:
                    raise
        log.info("cluster DNS listening", extra={"address": f"{host}:{self.port}"})

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                wire = await reader.readexactly(length)
                try:
                    query = dns.message.from_wire(wire)
                except dns.exception.DNSException as error:
                    log.warning("malformed DNS query over TCP", extra={"error": str(error)})
                    break
                reply = self.records.answer(query).to_wire()
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, records: ClusterRecords) -> None:
        self.records = records
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException as error:
            log.warning("malformed DNS query", extra={"peer": addr[0], "error": str(error)})
            return
        limit = max(query.payload, UDP_LIMIT) if query.edns >= 0 else UDP_LIMIT
        reply = self.records.answer(query)
        try:
            wire = reply.to_wire(max_size=limit)
        except dns.exception.TooBig:
            reply.answer.clear()
            reply.additional.clear()
            reply.flags |= dns.flags.TC  # the client asks again over TCP
            wire = reply.to_wire(max_size=limit)
        assert self.transport is not None
        self.transport.sendto(wire, addr)
