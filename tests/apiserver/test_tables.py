from datetime import UTC, datetime, timedelta

import pytest

from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.tables import (
    BUILTIN_COLUMNS,
    DEFAULT_COLUMNS,
    build_table,
    columns_from_printer_columns,
    human_duration,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (5, "5s"),
        (119, "119s"),
        (123, "2m3s"),
        (300, "5m"),
        (600, "10m"),
        (10799, "179m"),
        (11040, "3h4m"),
        (8 * 3600, "8h"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (729 * 86400, "729d"),
        (800 * 86400, "2y70d"),
        (10 * 365 * 86400, "10y"),
    ],
)
def test_ages_read_like_kubectls(seconds: int, text: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == text


def headers(kind: str) -> tuple[list[str], list[str]]:
    columns = BUILTIN_COLUMNS[kind]
    return (
        [c.name.upper() for c in columns if c.priority == 0],
        [c.name.upper() for c in columns if c.priority == 1],
    )


def test_pod_and_service_headers_are_kubectls() -> None:
    assert headers("Pod") == (
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
    )
    assert headers("Service") == (
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        ["SELECTOR"],
    )
    assert headers("Deployment") == (
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
    )
    assert headers("Event")[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]


def cells(obj: dict, kind: str) -> list:
    return build_table(BUILTIN_COLUMNS[kind], [obj], now=NOW)["rows"][0]["cells"]


def pod(containers: list[dict], phase: str = "Running", **status: object) -> dict:
    return {
        "metadata": {"name": "web-1", "namespace": "shop", "creationTimestamp": ago(minutes=5)},
        "spec": {"containers": [{"name": c["name"]} for c in containers]},
        "status": {"phase": phase, "containerStatuses": containers, **status},
    }


RUNNING = {"running": {"startedAt": ago(minutes=4)}}


def test_a_crashing_pod_shows_its_back_off_and_when_it_last_restarted() -> None:
    crashing = pod(
        [
            {
                "name": "web",
                "ready": False,
                "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(seconds=60)}},
            }
        ]
    )
    assert cells(crashing, "Pod") == [
        "web-1", "0/1", "CrashLoopBackOff", "4 (60s ago)", "5m",
        "<none>", "<none>", "<none>", "<none>",
    ]  # fmt: skip


def test_a_running_pod_counts_restarts_across_containers() -> None:
    running = pod(
        [
            {"name": "web", "ready": True, "restartCount": 1, "state": RUNNING},
            {
                "name": "proxy",
                "ready": True,
                "restartCount": 2,
                "state": RUNNING,
                "lastState": {"terminated": {"exitCode": 137, "finishedAt": ago(minutes=3)}},
            },
        ],
        podIPs=[{"ip": "10.244.0.7"}],
        podIP="10.244.0.7",
    )
    running["spec"]["nodeName"] = "node-1"
    assert cells(running, "Pod")[:7] == [
        "web-1",
        "2/2",
        "Running",
        "3 (3m ago)",
        "5m",
        "10.244.0.7",
        "node-1",
    ]


def test_a_pod_being_deleted_is_terminating_unless_it_already_finished() -> None:
    terminating = pod([{"name": "web", "ready": True, "state": RUNNING}])
    terminating["metadata"]["deletionTimestamp"] = ago(seconds=-30)
    assert cells(terminating, "Pod")[2] == "Terminating"
    done = pod(
        [{"name": "web", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
        phase="Succeeded",
    )
    done["metadata"]["deletionTimestamp"] = ago(seconds=-30)
    assert cells(done, "Pod")[1:3] == ["0/1", "Completed"]


def init_pod(*init_states: dict) -> dict:
    waiting = {"name": "web", "ready": False, "state": {"waiting": {"reason": "PodInitializing"}}}
    result = pod([waiting], phase="Pending")
    result["spec"]["initContainers"] = [{"name": f"init-{i}"} for i in range(len(init_states))]
    result["status"]["initContainerStatuses"] = [
        {"name": f"init-{i}", "state": state, **({"restartCount": 2} if "waiting" in state else {})}
        for i, state in enumerate(init_states)
    ]
    return result


@pytest.mark.parametrize(
    ("init_states", "status", "restarts"),
    [
        (({"terminated": {"exitCode": 0, "reason": "Completed"}}, RUNNING), "Init:1/2", "0"),
        (
            ({"waiting": {"reason": "CrashLoopBackOff"}}, {"waiting": {}}),
            "Init:CrashLoopBackOff",
            "2",
        ),
        (({"terminated": {"exitCode": 1, "reason": "Error"}}, {"waiting": {}}), "Init:Error", "0"),
        (({"terminated": {"exitCode": 2}},), "Init:ExitCode:2", "0"),
        (({"terminated": {"exitCode": 0, "reason": "Completed"}},), "PodInitializing", "0"),
    ],
)
def test_init_containers_report_their_progress(
    init_states: tuple[dict, ...], status: str, restarts: str
) -> None:
    assert cells(init_pod(*init_states), "Pod")[1:4] == ["0/1", status, restarts]


def test_sidecars_count_as_containers() -> None:
    with_sidecar = pod([{"name": "web", "ready": True, "state": RUNNING}])
    with_sidecar["spec"]["initContainers"] = [{"name": "proxy", "restartPolicy": "Always"}]
    with_sidecar["status"]["initContainerStatuses"] = [
        {"name": "proxy", "ready": True, "started": True, "state": RUNNING}
    ]
    assert cells(with_sidecar, "Pod")[1:3] == ["2/2", "Running"]


def test_readiness_gates_show_how_many_are_met() -> None:
    gated = pod([{"name": "web", "ready": True, "state": RUNNING}])
    gated["spec"]["readinessGates"] = [{"conditionType": "a"}, {"conditionType": "b"}]
    gated["status"]["conditions"] = [
        {"type": "a", "status": "True"},
        {"type": "b", "status": "False"},
    ]
    assert cells(gated, "Pod")[-1] == "1/2"


def service(spec: dict, **status: object) -> dict:
    return {
        "metadata": {"name": "web", "creationTimestamp": ago(hours=3, minutes=4)},
        "spec": spec,
        "status": status,
    }


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        (
            {
                "type": "ClusterIP",
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "selector": {"tier": "front", "app": "web"},
                "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            },
            {},
            [
                "web",
                "ClusterIP",
                "10.96.0.10",
                "<none>",
                "80/TCP,53/UDP",
                "3h4m",
                "app=web,tier=front",
            ],
        ),
        (
            {
                "type": "NodePort",
                "clusterIP": "10.96.0.11",
                "selector": {"app": "web"},
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
            },
            {},
            ["web", "NodePort", "10.96.0.11", "<none>", "80:30080/TCP", "3h4m", "app=web"],
        ),
        (
            {
                "type": "LoadBalancer",
                "clusterIP": "10.96.0.12",
                "ports": [{"port": 443, "protocol": "TCP", "nodePort": 31443}],
            },
            {},
            ["web", "LoadBalancer", "10.96.0.12", "<pending>", "443:31443/TCP", "3h4m", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIP": "10.96.0.12", "externalIPs": ["1.2.3.4"]},
            {"loadBalancer": {"ingress": [{"hostname": "lb.example"}, {"ip": "5.6.7.8"}]}},
            [
                "web",
                "LoadBalancer",
                "10.96.0.12",
                "5.6.7.8,lb.example,1.2.3.4",
                "<none>",
                "3h4m",
                "<none>",
            ],
        ),
        (
            {"type": "ClusterIP", "clusterIP": "None", "selector": {"app": "db"}},
            {},
            ["web", "ClusterIP", "None", "<none>", "<none>", "3h4m", "app=db"],
        ),
        (
            {"type": "ExternalName", "externalName": "db.example.com"},
            {},
            ["web", "ExternalName", "<none>", "db.example.com", "<none>", "3h4m", "<none>"],
        ),
    ],
)
def test_service_rows(spec: dict, status: dict, expected: list) -> None:
    assert cells(service(spec, **status), "Service") == expected


def deployment() -> dict:
    return {
        "metadata": {"name": "web", "creationTimestamp": ago(minutes=5)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.27"},
                        {"name": "proxy", "image": "envoyproxy/envoy:v1.31"},
                    ]
                }
            },
        },
        "status": {"replicas": 4, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2},
    }


def test_a_deployment_mid_rollout() -> None:
    assert cells(deployment(), "Deployment") == [
        "web", "2/3", 1, 2, "5m", "web,proxy", "nginx:1.27,envoyproxy/envoy:v1.31", "app=web"
    ]  # fmt: skip


def test_a_new_replicaset_and_an_empty_selector() -> None:
    rs = deployment()
    rs["spec"]["selector"] = {}
    rs["status"] = {"replicas": 1}
    assert cells(rs, "ReplicaSet") == [
        "web", 3, 1, 0, "5m", "web,proxy", "nginx:1.27,envoyproxy/envoy:v1.31", "<none>"
    ]  # fmt: skip


def test_endpoints_list_three_addresses_then_count_the_rest() -> None:
    endpoints = {
        "metadata": {"name": "web", "creationTimestamp": ago(seconds=30)},
        "subsets": [
            {
                "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                "ports": [{"port": 80}, {"port": 443}],
            }
        ],
    }
    assert cells(endpoints, "Endpoints") == [
        "web",
        "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...",
        "30s",
    ]
    assert cells({**endpoints, "subsets": []}, "Endpoints")[1] == "<none>"


def test_endpoint_slices() -> None:
    slice_ = {
        "metadata": {"name": "web-abc12", "creationTimestamp": ago(seconds=30)},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80}, {"name": "metrics"}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}],
    }
    assert cells(slice_, "EndpointSlice") == [
        "web-abc12",
        "IPv4",
        "80,metrics",
        "10.0.0.1,10.0.0.2",
        "30s",
    ]
    assert cells({**slice_, "ports": [], "endpoints": []}, "EndpointSlice")[2:4] == [
        "<unset>",
        "<unset>",
    ]


def test_events_say_what_happened_to_which_object() -> None:
    event = {
        "metadata": {"name": "web-1.17a", "namespace": "shop", "creationTimestamp": ago(minutes=9)},
        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container\n",
        "type": "Warning",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(minutes=9),
        "lastTimestamp": ago(seconds=20),
        "count": 7,
    }
    assert cells(event, "Event") == [
        "20s",
        "Warning",
        "BackOff",
        "pod/web-1",
        "spec.containers{web}",
        "kubelet, node-1",
        "Back-off restarting failed container",
        "9m",
        7,
        "web-1.17a",
    ]
    new_api = {
        "metadata": {"name": "web.18b"},
        "involvedObject": {"kind": "Deployment", "name": "web"},
        "reportingComponent": "deployment-controller",
        "eventTime": "2026-01-01T11:59:00.000000Z",
    }
    row = cells(new_api, "Event")
    assert (row[0], row[3], row[5], row[7], row[8]) == (
        "60s",
        "deployment/web",
        "deployment-controller",
        "60s",
        1,
    )


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [
        ("Namespace", {"status": {"phase": "Active"}}, ["shop", "Active", "2d"]),
        (
            "ConfigMap",
            {"data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}},
            ["shop", 3, "2d"],
        ),
        (
            "Secret",
            {"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
            ["shop", "kubernetes.io/tls", 2, "2d"],
        ),
        ("ServiceAccount", {"secrets": [{"name": "x"}]}, ["shop", "2d"]),
        ("CustomResourceDefinition", {}, ["shop", "2025-12-30T12:00:00Z"]),
        ("MutatingWebhookConfiguration", {"webhooks": [{}, {}]}, ["shop", 2, "2d"]),
    ],
)
def test_simple_kinds(kind: str, obj: dict, expected: list) -> None:
    meta = {"metadata": {"name": "shop", "creationTimestamp": ago(days=2)}}
    assert cells({**meta, **obj}, kind) == expected


def test_nodes_show_readiness_roles_and_addresses() -> None:
    node = {
        "metadata": {
            "name": "lab",
            "creationTimestamp": ago(hours=1),
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "lab"},
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.2"}],
            "nodeInfo": {"kubeletVersion": "v1.37.0", "osImage": "Debian GNU/Linux 12"},
        },
    }
    assert cells(node, "Node") == [
        "lab", "Ready,SchedulingDisabled", "control-plane,lab", "60m", "v1.37.0",
        "192.168.1.2", "<none>", "Debian GNU/Linux 12", "<unknown>", "<unknown>",
    ]  # fmt: skip


# Istio's VirtualService CRD declares these for every version.
ISTIO_VS_COLUMNS = [
    {
        "description": "The names of gateways and sidecars that should apply these routes",
        "jsonPath": ".spec.gateways",
        "name": "Gateways",
        "type": "string",
    },
    {
        "description": "The destination hosts to which traffic is being sent",
        "jsonPath": ".spec.hosts",
        "name": "Hosts",
        "type": "string",
    },
    {
        "description": "CreationTimestamp is a timestamp representing the server time when this "
        "object was created.",
        "jsonPath": ".metadata.creationTimestamp",
        "name": "Age",
        "type": "date",
    },
]


def test_istio_virtual_services_print_istios_columns() -> None:
    columns = columns_from_printer_columns(ISTIO_VS_COLUMNS)
    table = build_table(
        columns,
        [
            {
                "metadata": {"name": "reviews", "creationTimestamp": ago(hours=1)},
                "spec": {"hosts": ["reviews"]},
            },
            {
                "metadata": {"name": "bookinfo", "creationTimestamp": ago(days=3)},
                "spec": {"hosts": ["*"], "gateways": ["bookinfo-gateway", "mesh"]},
            },
        ],
        now=NOW,
    )
    assert [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", "name"),
        ("Gateways", "string", ""),
        ("Hosts", "string", ""),
        ("Age", "date", ""),
    ]
    assert [row["cells"] for row in table["rows"]] == [
        ["reviews", None, '["reviews"]', "60m"],
        ["bookinfo", '["bookinfo-gateway","mesh"]', '["*"]', "3d"],
    ]


def test_printer_columns_take_their_type_from_the_crd() -> None:
    columns = columns_from_printer_columns(
        [
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused", "priority": 1},
            {"name": "Weight", "type": "string", "jsonPath": ".spec.weight"},
            {
                "name": "Ready",
                "type": "string",
                "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
            },
            {"name": "First", "type": "string", "jsonPath": ".spec.hosts[0]"},
            {"name": "Since", "type": "date", "jsonPath": ".status.since"},
        ]
    )
    obj = {
        "metadata": {"name": "x"},
        "spec": {"replicas": "three", "paused": True, "weight": 2.0, "hosts": ["a.example", "b"]},
        "status": {
            "conditions": [
                {"type": "Synced", "status": "False"},
                {"type": "Ready", "status": "True"},
            ],
            "since": "yesterday",
        },
    }
    assert build_table(columns, [obj], now=NOW)["rows"][0]["cells"] == [
        "x", None, True, "2", "True", "a.example", "<invalid>"
    ]  # fmt: skip
    assert columns[2].priority == 1
    assert (
        columns[1].description
        == "Custom resource definition column (in JSONPath format): .spec.replicas"
    )


def test_a_crd_without_printer_columns_shows_name_and_age() -> None:
    columns = columns_from_printer_columns([])
    assert [(c.name, c.type) for c in columns] == [("Name", "string"), ("Age", "date")]


def test_table_rows_carry_what_include_object_asks_for() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop", "labels": {"app": "web"}},
        "data": {"k": "v"},
    }
    meta = {"resourceVersion": "42", "continue": "token", "remainingItemCount": 3}
    table = build_table(DEFAULT_COLUMNS, [obj], now=NOW, list_meta=meta)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == meta
    assert table["rows"][0] == {
        "cells": ["c", "<unknown>"],
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        },
    }
    assert build_table(DEFAULT_COLUMNS, [obj], "Object", now=NOW)["rows"][0]["object"] == obj
    assert build_table(DEFAULT_COLUMNS, [obj], "None", now=NOW)["rows"][0]["object"] is None
    with pytest.raises(ApiError) as err:
        build_table(DEFAULT_COLUMNS, [obj], "Everything")
    assert (err.value.code, err.value.message) == (
        400,
        'unrecognized includeObject value: "Everything"',
    )
