"""Protobuf bodies as kubectl 1.37's typed clients send them (captured with -v=9)."""

import pytest

from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.protobuf import decode

# kubectl create secret generic s3 -n lab2 --from-literal=pw=x
SECRET = bytes.fromhex(
    "6b3873000a0c0a02763112065365637265741223"
    "0a160a0273331200 1a046c616232 2200 2a00 3200 3800 4200"
    "1207 0a027077 120178 1a00 1a00 2200".replace(" ", "")
)


def test_a_kubectl_secret_decodes_to_its_json_form() -> None:
    assert decode(SECRET) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s3", "namespace": "lab2"},
        "data": {"pw": "eA=="},  # bytes become base64, as in JSON
    }


def test_a_kind_without_a_table_is_refused_not_guessed() -> None:
    type_meta = b"\x0a\x08batch/v1\x12\x03Job"
    body = b"k8s\x00" + b"\x0a" + bytes([len(type_meta)]) + type_meta + b"\x12\x02\x0a\x00"
    with pytest.raises(ApiError) as err:
        decode(body)
    assert err.value.code == 415
    assert "kind Job: send application/json" in err.value.message


def test_garbage_is_a_bad_request() -> None:
    with pytest.raises(ApiError) as err:
        decode(b"not protobuf")
    assert err.value.code == 400
    with pytest.raises(ApiError) as truncated:
        decode(SECRET[:30])
    assert truncated.value.code == 400
