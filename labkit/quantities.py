"""Kubernetes quantities (``500m``, ``128Mi``, ``1e3``) as exact fractions."""

from __future__ import annotations

import re
from fractions import Fraction

SUFFIXES = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}  # fmt: skip
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(?:[eE]([+-]?[0-9]+))?([a-zA-Z]*)$")


def parse_quantity(text: object) -> Fraction:
    """``500m`` -> 1/2, ``128Mi`` -> 134217728, ``1e3`` -> 1000."""
    match = _QUANTITY.match(str(text).strip())
    if match is None or match.group(3) not in SUFFIXES:
        raise ValueError(f"quantities must match the regular expression {_QUANTITY.pattern}")
    number, exponent, suffix = match.groups()
    value = Fraction(number) * SUFFIXES[suffix]
    return value * Fraction(10) ** int(exponent) if exponent else value
