"""The image catalog: references a manifest may carry, and what they run as."""

from __future__ import annotations

import pytest

from labplatform.clusters.embedded.node.images import ImageNotFoundError, resolve


def test_a_tag_selects_the_variant_an_image_has() -> None:
    assert resolve("labplatform/sa-logic:v2").env["SA_LOGIC_VERSION"] == "v2"
    assert resolve("docker.io/labplatform/sa-logic:buggy").env["SA_LOGIC_VERSION"] == "buggy"
    assert "SA_LOGIC_VERSION" not in resolve("labplatform/sa-logic").env  # the module's default
    assert resolve("busybox:1.36").repository == "busybox"  # images without variants ignore tags


def test_an_unknown_tag_or_image_is_refused_with_what_exists() -> None:
    with pytest.raises(ImageNotFoundError, match="has the tags v1, v2, buggy"):
        resolve("labplatform/sa-logic:v3")
    with pytest.raises(ImageNotFoundError, match=r"available: .*labplatform/sa-web-app"):
        resolve("labplatform/sa-webapp")
