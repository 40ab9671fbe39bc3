"""Service-account JWTs: signed by the cluster, checked for audience and expiry."""

import base64
import json
import time
from pathlib import Path

import pytest

from labplatform.clusters.embedded.apiserver.tokens import ISSUER, TokenIssuer

ACCOUNT = {"metadata": {"name": "pilot", "uid": "sa-uid"}}
POD = {"metadata": {"name": "pilot-1", "uid": "pod-uid"}}


def claims_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def test_issued_tokens_verify_and_carry_bound_claims(tmp_path: Path) -> None:
    issuer = TokenIssuer(tmp_path / "sa.key")
    token, expiry = issuer.issue("istio-system", ACCOUNT, ["istio-ca"], 600, POD)
    claims = issuer.verify(token, ["istio-ca"])
    assert claims == claims_of(token)
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "system:serviceaccount:istio-system:pilot"
    assert claims["kubernetes.io"]["pod"] == {"name": "pilot-1", "uid": "pod-uid"}
    assert expiry - time.time() == pytest.approx(600, abs=5)


def test_the_key_persists_so_tokens_survive_a_restart(tmp_path: Path) -> None:
    token, _ = TokenIssuer(tmp_path / "sa.key").issue("lab", ACCOUNT, ["a"], 600)
    assert TokenIssuer(tmp_path / "sa.key").verify(token, ["a"])["sub"].endswith(":lab:pilot")
    assert (tmp_path / "sa.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (lambda t: t + "x", "invalid signature"),
        (lambda t: "not-a-jwt", "token is not a JWT"),
    ],
)
def test_tampered_tokens_are_refused(tmp_path: Path, mangle, error: str) -> None:
    issuer = TokenIssuer(tmp_path / "sa.key")
    token, _ = issuer.issue("lab", ACCOUNT, ["a"], 600)
    with pytest.raises(ValueError, match=error):
        issuer.verify(mangle(token), ["a"])


def test_another_clusters_token_wrong_audience_and_expiry_are_refused(tmp_path: Path) -> None:
    ours = TokenIssuer(tmp_path / "ours.key")
    theirs, _ = TokenIssuer(tmp_path / "theirs.key").issue("lab", ACCOUNT, ["a"], 600)
    with pytest.raises(ValueError, match="not issued by this cluster"):
        ours.verify(theirs, ["a"])
    token, _ = ours.issue("lab", ACCOUNT, ["a"], 600)
    with pytest.raises(ValueError, match="audiences do not match"):
        ours.verify(token, ["b"])
    expired, _ = ours.issue("lab", ACCOUNT, ["a"], -10)
    with pytest.raises(ValueError, match="expired"):
        ours.verify(expired, ["a"])
