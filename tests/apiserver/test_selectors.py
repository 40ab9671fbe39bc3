import pytest

from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.selectors import (
    FIELD_LABELS,
    label_selector_from_spec,
    parse_field_selector,
    parse_label_selector,
    validate_label_selector,
)

LABELS = {"app": "web", "version": "v1", "tier": "front", "replicas": "3"}
VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
NAME_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web,version=v1", True),
        ("  app = web ,\tversion==v1 ", True),
        ("app!=web", False),
        ("version in (v1, v2)", True),
        ("version in (v2,v3)", False),
        ("version notin (v1)", False),
        ("missing notin (v1)", True),
        ("tier", True),
        ("!tier", False),
        ("!missing,app=web", True),
        ("missing!=x", True),
        ("missing=", False),
        ("replicas>2,replicas<4", True),
        ("replicas>3", False),
        ("app>1", False),  # not a number: never matches
        ("in in (in)", False),  # in and notin are plain words outside the operator position
    ],
)
def test_label_selector_syntax(text: str, matches: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is matches


def test_empty_values_in_sets_match_empty_labels() -> None:
    selector = parse_label_selector("track in (,canary)")
    assert selector.matches({"track": ""}) and selector.matches({"track": "canary"})
    assert not selector.matches({"track": "stable"}) and not selector.matches({})
    assert parse_label_selector("").empty and not selector.empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app=web=x", "found '=', expected: ',' or 'end of string'"),
        ("app=web,", "found '', expected: identifier after ','"),
        (",app", "found ',', expected: !, identifier, or 'end of string'"),
        ("!app=web", "found '=', expected: ',' or 'end of string'"),
        ("app in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("app in a", "unable to parse requirement: found 'a' expected: '('"),
        ("app in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
        ("app=(x)", "unable to parse requirement: found '(', expected: identifier"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        (
            "bad key=x",
            "unable to parse requirement: found 'key', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "app=-web",
            f'unable to parse requirement: values[0][app]: Invalid value: "-web": {VALUE_RULE}',
        ),
        ("-app", f'unable to parse requirement: <nil>: Invalid value: "-app": {NAME_RULE}'),
        (
            "replicas>many",
            'unable to parse requirement: values[0]: Invalid value: "many": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ],
)
def test_malformed_label_selectors_are_the_servers_bad_requests(text: str, message: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_label_selector(text)
    assert (err.value.code, err.value.reason, err.value.message) == (400, "BadRequest", message)


def test_label_keys_with_a_prefix_must_have_a_dns_subdomain_prefix() -> None:
    assert parse_label_selector("app.kubernetes.io/name=web").matches(
        {"app.kubernetes.io/name": "web"}
    )
    with pytest.raises(ApiError, match=r'"Example\.com/name": prefix part a lowercase RFC 1123'):
        parse_label_selector("Example.com/name=web")
    with pytest.raises(ApiError, match=r"name part must be no more than 63 bytes"):
        parse_label_selector("a" * 64)


def test_selectors_render_back_in_canonical_order() -> None:
    parsed = parse_label_selector("version in (v2,v1),app==web,!canary,tier")
    assert parsed.to_query() == "app==web,!canary,tier,version in (v1,v2)"  # by key
    assert parse_label_selector(parsed.to_query()) == parsed


def test_spec_selectors_and_their_query_form() -> None:
    selector = label_selector_from_spec(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "version", "operator": "In", "values": ["v2", "v1"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "tier", "operator": "Exists"},
                {"key": "zone", "operator": "NotIn", "values": ["east"]},
            ],
        }
    )
    assert selector.matches(LABELS)
    assert not selector.matches({**LABELS, "version": "v3"})
    assert not selector.matches({**LABELS, "canary": "true"})
    assert not selector.matches({**LABELS, "zone": "east"})
    assert selector.to_query() == "app=web,!canary,tier,version in (v1,v2),zone notin (east)"
    assert label_selector_from_spec(None).matches({}) and label_selector_from_spec({}).empty


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            {"key": "app", "operator": "Equals", "values": ["x"]},
            '"Equals" is not a valid label selector operator',
        ),
        (
            {"key": "app", "operator": "In"},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"key": "app", "operator": "Exists", "values": ["x"]},
            'values: Invalid value: ["x"]: values set must be empty for exists and does not exist',
        ),
    ],
)
def test_unusable_spec_selectors_are_refused(expression: dict, message: str) -> None:
    with pytest.raises(ApiError) as err:
        label_selector_from_spec({"matchExpressions": [expression]})
    assert (err.value.code, err.value.message) == (400, message)


def test_spec_selector_validation_names_each_bad_field() -> None:
    causes = validate_label_selector(
        {
            "matchLabels": {"app": "-web"},
            "matchExpressions": [
                {"key": "tier", "operator": "Equals", "values": ["front"]},
                {"key": "zone", "operator": "In"},
                {"key": "env", "operator": "Exists", "values": ["prod"]},
            ],
        },
        "spec.selector",
    )
    assert [(c.reason, c.field) for c in causes] == [
        ("FieldValueInvalid", "spec.selector.matchLabels"),
        ("FieldValueInvalid", "spec.selector.matchExpressions[0].operator"),
        ("FieldValueRequired", "spec.selector.matchExpressions[1].values"),
        ("FieldValueForbidden", "spec.selector.matchExpressions[2].values"),
    ]
    assert causes[0].message == f'Invalid value: "-web": {VALUE_RULE}'
    assert causes[1].message == 'Invalid value: "Equals": not a valid selector operator'
    assert validate_label_selector({"matchLabels": {"app": "web"}}, "spec.selector") == []


POD = {
    "metadata": {"name": "web-1", "namespace": "shop"},
    "spec": {"nodeName": "node-1", "restartPolicy": "Always"},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.7"}]},
}
EVENT = {
    "metadata": {"name": "web-1.17", "namespace": "shop"},
    "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "shop", "uid": "u-1"},
    "reason": "Started",
    "type": "Normal",
    "source": {"component": "kubelet"},
}


@pytest.mark.parametrize(
    ("kind", "obj", "text", "matches"),
    [
        ("Pod", POD, "status.phase=Running", True),
        ("Pod", POD, "status.phase==Running,metadata.name!=web-2", True),
        ("Pod", POD, "status.phase!=Running", False),
        ("Pod", POD, "spec.nodeName=node-1,metadata.namespace=shop", True),
        ("Pod", POD, "status.podIP=10.0.0.7", True),
        ("Pod", POD, "spec.hostNetwork=false", True),  # absent reads as false
        ("Pod", POD, "spec.schedulerName=", True),  # absent reads as empty
        ("Pod", POD, "status.phase=Running,", True),
        # what kubectl describe sends to find a pod's events
        (
            "Event",
            EVENT,
            "involvedObject.name=web-1,involvedObject.namespace=shop,involvedObject.uid=u-1",
            True,
        ),
        ("Event", EVENT, "source=kubelet,type=Normal,reason!=Failed", True),
        ("Event", EVENT, "involvedObject.kind=Deployment", False),
    ],
)
def test_field_selectors_match_the_fields_the_server_indexes(
    kind: str, obj: dict, text: str, matches: bool
) -> None:
    assert parse_field_selector(text, FIELD_LABELS[kind]).matches(obj) is matches


def test_escaped_commas_belong_to_the_value() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b", FIELD_LABELS["Pod"])
    assert selector.matches({"metadata": {"name": "a,b"}})
    assert selector.exact_name() == "a,b"


def test_exact_name_pins_only_equality_on_the_name() -> None:
    supported = FIELD_LABELS["Pod"]
    assert (
        parse_field_selector("status.phase=Running,metadata.name=p", supported).exact_name() == "p"
    )
    assert parse_field_selector("metadata.name!=p", supported).exact_name() is None
    assert parse_field_selector("", supported).exact_name() is None


@pytest.mark.parametrize(
    ("text", "supported", "message"),
    [
        ("spec.foo=1", FIELD_LABELS["Pod"], "field label not supported: spec.foo"),
        (
            "metadata.namespace=x",
            FIELD_LABELS["Namespace"],
            "field label not supported: metadata.namespace",
        ),
        (
            "spec.replicas=1",
            None,
            '"spec.replicas" is not a known field selector: only "metadata.name", '
            '"metadata.namespace"',
        ),
        ("status.phase = Running", FIELD_LABELS["Pod"], "field label not supported: status.phase "),
        (
            "status.phase",
            FIELD_LABELS["Pod"],
            "invalid selector: 'status.phase'; can't understand 'status.phase'",
        ),
        (
            "metadata.name=a=b",
            FIELD_LABELS["Pod"],
            "invalid field selector: unescaped character in value: 61",
        ),
        (
            r"metadata.name=a\b",
            FIELD_LABELS["Pod"],
            r"invalid field selector: invalid escape sequence: \b",
        ),
    ],
)
def test_bad_field_selectors_are_the_servers_bad_requests(
    text: str, supported: frozenset[str] | None, message: str
) -> None:
    with pytest.raises(ApiError) as err:
        parse_field_selector(text, supported)
    assert (err.value.code, err.value.reason, err.value.message) == (400, "BadRequest", message)


def test_kinds_without_field_labels_of_their_own_take_name_and_namespace() -> None:
    deploy = {"metadata": {"name": "web", "namespace": "shop"}}
    assert parse_field_selector("metadata.namespace=shop,metadata.name=web").matches(deploy)
