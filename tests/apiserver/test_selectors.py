import pytest

from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.selectors import (
    label_selector_from_spec,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "web", "version": "v1", "tier": "front"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web,version=v1", True),
        ("app!=web", False),
        ("version in (v1, v2)", True),
        ("version notin (v1)", False),
        ("tier", True),
        ("!tier", False),
        ("!missing,app=web", True),
        ("missing!=x", True),
    ],
)
def test_label_selector_syntax(text: str, matches: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is matches


@pytest.mark.parametrize("text", ["app=web=x", "app in (a", "bad key=x"])
def test_malformed_label_selectors_are_bad_requests(text: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_label_selector(text)
    assert err.value.code == 400 and "unable to parse requirement" in err.value.message


def test_spec_selectors_and_their_query_form() -> None:
    selector = label_selector_from_spec(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "version", "operator": "In", "values": ["v1", "v2"]}],
        }
    )
    assert selector.matches(LABELS)
    assert not selector.matches({"app": "web", "version": "v3"})
    assert selector.to_query() == "app=web,version in (v1,v2)"


def test_field_selectors_and_unsupported_fields() -> None:
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Running"}}
    supported = {"metadata.name", "status.phase"}
    assert parse_field_selector("status.phase=Running,metadata.name!=q", supported).matches(pod)
    assert parse_field_selector("metadata.name=p", supported).exact_name() == "p"
    with pytest.raises(ApiError, match=r"field label not supported: spec\.foo"):
        parse_field_selector("spec.foo=1", supported)
