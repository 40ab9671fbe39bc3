"""Durations as Istio reads them (Go's ``1h2m0.5s``) and as Envoy wants them (``3720.5s``).

Istio's docs write ``baseEjectionTime: 3m`` and ``timeout: 0.5s``; Envoy's
JSON only takes seconds. Every duration pilot passes on goes through
:func:`envoy_duration`, and validation uses :func:`parse_duration` so a
learner's ``timeout: 5 seconds`` is refused with a reason instead of
reaching a proxy that would NACK it.
"""

from __future__ import annotations

import re
from decimal import Decimal

UNITS = {"ns": Decimal("1e-9"), "us": Decimal("1e-6"), "µs": Decimal("1e-6"),
         "ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}  # fmt: skip
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> Decimal:
    """Seconds in ``text`` (``"1m30s"``, ``"0.25s"``, ``"100ms"``; a bare ``"0"`` too).

    Raises ``ValueError`` naming the text when it is not a duration.
    """
    value = str(text).strip()
    if value == "0":
        return Decimal(0)
    if not value:
        raise ValueError("invalid duration '' (write it like 5s, 100ms or 1m30s)")
    position, total = 0, Decimal(0)
    while position < len(value):
        part = _PART.match(value, position)
        if part is None:
            raise ValueError(f"invalid duration {text!r} (write it like 5s, 100ms or 1m30s)")
        total += Decimal(part.group(1)) * UNITS[part.group(2)]
        position = part.end()
    return total


def envoy_duration(text: str) -> str:
    """The same duration in Envoy's form: seconds with at most nine decimals."""
    seconds = parse_duration(text).quantize(Decimal("1e-9")).normalize()
    return f"{seconds:f}s"
