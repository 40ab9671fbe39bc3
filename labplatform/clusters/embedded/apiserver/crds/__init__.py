"""The CustomResourceDefinitions every lab cluster starts with: Istio's config kinds.

They live in ``istio.yaml``, a manifest ``kubectl apply -f`` would accept on any
cluster, so what a lab cluster serves can be read, diffed and reviewed as the YAML
Istio users know; this module only loads it.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import yaml


@functools.cache
def _istio_json() -> str:
    text = resources.files(__name__).joinpath("istio.yaml").read_text(encoding="utf-8")
    return json.dumps([doc for doc in yaml.safe_load_all(text) if doc])


def istio_crds() -> list[dict[str, Any]]:
    """The CRDs of Istio's networking and security APIs, as fresh objects.

    Fresh on every call, with no node shared: the YAML's anchors make the three
    versions of a kind one object when parsed, and callers default and store what
    they get.
    """
    crds: list[dict[str, Any]] = json.loads(_istio_json())
    return crds


__all__ = ["istio_crds"]
