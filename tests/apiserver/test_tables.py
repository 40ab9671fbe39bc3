from datetime import UTC, datetime, timedelta

import pytest

from labplatform.clusters.embedded.apiserver.crds import istio_crds
from labplatform.clusters.embedded.apiserver.tables import (
    BUILTIN_COLUMNS,
    build_table,
    columns_from_printer_columns,
    human_duration,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (123, "2m3s"),
        (600, "10m"),
        (11040, "3h4m"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (800 * 86400, "2y70d"),
    ],
)
def test_ages_read_like_kubectls(seconds: int, text: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == text


def pod(**status: object) -> dict:
    return {
        "metadata": {"name": "web-1", "creationTimestamp": "2026-01-01T11:55:00Z"},
        "spec": {"containers": [{"name": "web"}]},
        "status": status,
    }


def cells(obj: dict, kind: str = "Pod") -> list:
    return build_table(BUILTIN_COLUMNS[kind], [obj], now=NOW)["rows"][0]["cells"]


def test_pod_rows_say_what_kubectl_says() -> None:
    crashing = pod(
        phase="Running",
        containerStatuses=[
            {
                "name": "web",
                "ready": False,
                "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"finishedAt": "2026-01-01T11:59:00Z"}},
            }
        ],
    )
    assert cells(crashing)[:5] == ["web-1", "0/1", "CrashLoopBackOff", "4 (60s ago)", "5m"]
    terminating = pod(phase="Running")
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T12:00:30Z"
    assert cells(terminating)[2] == "Terminating"
    init = pod(phase="Pending", initContainerStatuses=[{"name": "init", "state": {"running": {}}}])
    init["spec"]["initContainers"] = [{"name": "init"}]
    assert cells(init)[2] == "Init:0/1"


def test_service_ports_and_external_ip() -> None:
    svc = {
        "metadata": {"name": "web", "creationTimestamp": "2026-01-01T12:00:00Z"},
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.96.0.10",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
        },
    }
    assert cells(svc, "Service") == [
        "web",
        "NodePort",
        "10.96.0.10",
        "<none>",
        "80:30080/TCP",
        "0s",
        "app=web",
    ]


def test_istio_printer_columns() -> None:
    vs_crd = next(c for c in istio_crds() if c["spec"]["names"]["kind"] == "VirtualService")
    columns = columns_from_printer_columns(
        vs_crd["spec"]["versions"][0]["additionalPrinterColumns"]
    )
    assert [c.name for c in columns] == ["Name", "Gateways", "Hosts", "Age"]
    vs = {
        "metadata": {"name": "reviews", "creationTimestamp": "2026-01-01T11:00:00Z"},
        "spec": {"hosts": ["reviews"]},
    }
    table = build_table(columns, [vs], now=NOW)
    assert table["rows"][0]["cells"] == ["reviews", None, '["reviews"]', "60m"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
