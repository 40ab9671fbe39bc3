"""ClusterIP and NodePort allocation, rebuilt from the stored Services at start.

Allocation is random within the range, as the real allocator's is, so that a
learner who deletes and re-creates a Service sees a new address, and two
clusters' addresses do not look alike by accident.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable

from labplatform.clusters.embedded.apiserver.errors import Cause

DEFAULT_SERVICE_CIDR = "10.96.0.0/16"
NODE_PORT_RANGE = range(30000, 32768)


class ClusterIPAllocator:
    """Addresses for Services from a CIDR; the first one goes to ``kubernetes``."""

    def __init__(self, cidr: str = DEFAULT_SERVICE_CIDR, used: Iterable[str] = ()) -> None:
        self.network = ipaddress.ip_network(cidr)
        self._used = {ipaddress.ip_address(ip) for ip in used if ip and ip != "None"}
        self._rng = random.Random()

    @property
    def first(self) -> str:
        """The address Kubernetes reserves for the ``kubernetes`` Service."""
        return str(self.network.network_address + 1)

    def allocate(self, requested: str | None = None) -> str:
        if requested:
            return self._claim(requested)
        size = self.network.num_addresses
        if len(self._used) >= size - 3:
            raise ValueError(f"range is full: no more addresses in {self.network}")
        while True:
            candidate = self.network.network_address + self._rng.randrange(2, size - 1)
            if candidate not in self._used:
                self._used.add(candidate)
                return str(candidate)

    def _claim(self, requested: str) -> str:
        try:
            address = ipaddress.ip_address(requested)
        except ValueError:
            raise ValueError(
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            ) from None
        if address not in self.network:
            raise ValueError(
                f"failed to allocate IP {requested}: the provided IP ({requested}) is not in "
                f"the valid range. The range of valid IPs is {self.network}"
            )
        if address in self._used:
            raise ValueError(f"failed to allocate IP {requested}: provided IP is already allocated")
        self._used.add(address)
        return requested

    def release(self, address: str | None) -> None:
        if address and address != "None":
            self._used.discard(ipaddress.ip_address(address))


class NodePortAllocator:
    """Ports for NodePort Services from 30000-32767."""

    def __init__(self, used: Iterable[int] = ()) -> None:
        self._used = set(used)
        self._rng = random.Random()

    def allocate(self, requested: int | None = None) -> int:
        if requested:
            if requested not in NODE_PORT_RANGE:
                raise ValueError(
                    f"provided port is not in the valid range. The range of valid ports is "
                    f"{NODE_PORT_RANGE.start}-{NODE_PORT_RANGE.stop - 1}"
                )
            if requested in self._used:
                raise ValueError("provided port is already allocated")
            self._used.add(requested)
            return requested
        free = [p for p in NODE_PORT_RANGE if p not in self._used]
        if not free:
            raise ValueError("range is full")
        port = self._rng.choice(free)
        self._used.add(port)
        return port

    def release(self, port: int | None) -> None:
        self._used.discard(port or 0)


def allocation_cause(field: str, value: object, err: ValueError) -> Cause:
    """An allocator's refusal as the Invalid cause the real server reports."""
    return Cause("FieldValueInvalid", f"Invalid value: {value!r}: {err}", field)
