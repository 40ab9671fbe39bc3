import pytest

from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.routing import RequestInfo, parse_resource_path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/pods", RequestInfo("", "v1", "pods")),
        ("/api/v1/namespaces", RequestInfo("", "v1", "namespaces")),
        ("/api/v1/namespaces/lab", RequestInfo("", "v1", "namespaces", name="lab")),
        (
            "/api/v1/namespaces/lab/status",
            RequestInfo("", "v1", "namespaces", name="lab", subresource="status"),
        ),
        ("/api/v1/namespaces/lab/pods", RequestInfo("", "v1", "pods", "lab")),
        (
            "/api/v1/namespaces/lab/pods/web-1/log",
            RequestInfo("", "v1", "pods", "lab", "web-1", "log"),
        ),
        (
            "/apis/apps/v1/namespaces/lab/deployments/web/scale",
            RequestInfo("apps", "v1", "deployments", "lab", "web", "scale"),
        ),
        (
            "/apis/networking.istio.io/v1alpha3/virtualservices",
            RequestInfo("networking.istio.io", "v1alpha3", "virtualservices"),
        ),
        (
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/vs.networking.istio.io",
            RequestInfo(
                "apiextensions.k8s.io",
                "v1",
                "customresourcedefinitions",
                name="vs.networking.istio.io",
            ),
        ),
    ],
)
def test_resource_paths(path: str, expected: RequestInfo) -> None:
    assert parse_resource_path(path) == expected


@pytest.mark.parametrize(
    "path", ["/", "/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/healthz"]
)
def test_discovery_and_other_paths_are_not_resources(path: str) -> None:
    assert parse_resource_path(path) is None


def test_paths_too_deep_are_not_found() -> None:
    with pytest.raises(ApiError) as err:
        parse_resource_path("/api/v1/namespaces/lab/pods/web/log/extra")
    assert err.value.code == 404
