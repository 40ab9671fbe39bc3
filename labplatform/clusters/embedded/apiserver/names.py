"""Name syntax: DNS labels and subdomains, with apimachinery's exact messages.

Object names (:mod:`.validation`) and label-key prefixes (:mod:`.selectors`)
follow the same rules and must say the same thing when they are broken.
"""

from __future__ import annotations

import re

LABEL_FORMAT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
SUBDOMAIN_FORMAT = LABEL_FORMAT + r"(\." + LABEL_FORMAT + ")*"
DNS1035_FORMAT = "[a-z]([-a-z0-9]*[a-z0-9])?"
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)


def is_subdomain(value: str) -> bool:
    return re.fullmatch(SUBDOMAIN_FORMAT, value) is not None


def subdomain_regex_error() -> str:
    return regex_error(SUBDOMAIN_MESSAGE, SUBDOMAIN_FORMAT, "example.com")


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """apimachinery's ``RegexError`` wording, double spaces included."""
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len(value: str, limit: int) -> list[str]:
    return [f"must be no more than {limit} characters"] if len(value) > limit else []


def dns1123_subdomain(value: str) -> list[str]:
    """Why ``value`` is not a lowercase RFC 1123 subdomain (most object names)."""
    if is_subdomain(value):
        return max_len(value, 253)
    return [*max_len(value, 253), subdomain_regex_error()]


def dns1123_label(value: str) -> list[str]:
    """Why ``value`` is not a lowercase RFC 1123 label (namespaces, container names, ports)."""
    problems = max_len(value, 63)
    if re.fullmatch(LABEL_FORMAT, value):
        return problems
    if is_subdomain(value):
        return [*problems, "must not contain dots"]
    message = (
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character"
    )
    return [*problems, regex_error(message, LABEL_FORMAT, "my-name", "123-abc")]


def dns1035_label(value: str) -> list[str]:
    """Why ``value`` is not a DNS-1035 label (Service names, CRD plurals): a letter first."""
    problems = max_len(value, 63)
    if re.fullmatch(DNS1035_FORMAT, value):
        return problems
    message = (
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
        "an alphabetic character, and end with an alphanumeric character"
    )
    return [*problems, regex_error(message, DNS1035_FORMAT, "my-name", "abc-123")]
