"""pilot's eyes: list and watch the kinds it translates, through the Kubernetes API.

One thread per kind runs the official client's list-then-watch loop and
resumes from the last resourceVersion it saw; when the server says that
version is gone (410), it lists again, replacing what it knew of that kind
(objects deleted meanwhile go with the stale ones). Every change is handed
to the event loop that owns the model, which pushes after a short quiet
period so a burst of changes (a Deployment's pods) becomes one push, and
no later than a second after the first change while the burst goes on.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from mesh_runtime.pilot.model import MeshModel

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DEBOUNCE_SECONDS = 0.1
DEBOUNCE_MAX_SECONDS = 1.0  # a steady stream of changes still pushes at least this often
RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class Kind:
    name: str
    group: str
    version: str
    plural: str
    singular: str
    optional: bool = False  # a kind the mesh's own manifest adds (its CRD may be absent)

    def lister(self, api_client: k8s.ApiClient) -> Callable[..., Any]:
        """The client's list-across-namespaces call for this kind (which also watches)."""
        if not self.group:
            core = k8s.CoreV1Api(api_client)
            listing: Callable[..., Any] = getattr(core, f"list_{self.singular}_for_all_namespaces")
            return listing
        custom = k8s.CustomObjectsApi(api_client)
        return functools.partial(
            custom.list_cluster_custom_object, self.group, self.version, self.plural
        )


KINDS = (
    Kind("Service", "", "v1", "services", "service"),
    Kind("Endpoints", "", "v1", "endpoints", "endpoints"),
    Kind("Pod", "", "v1", "pods", "pod"),
    Kind("Secret", "", "v1", "secrets", "secret"),  # gateways' TLS credentials
    Kind("VirtualService", "networking.istio.io", "v1", "virtualservices", "virtualservice"),
    Kind("DestinationRule", "networking.istio.io", "v1", "destinationrules", "destinationrule"),
    Kind("Gateway", "networking.istio.io", "v1", "gateways", "gateway"),
    Kind("ServiceEntry", "networking.istio.io", "v1", "serviceentries", "serviceentry"),
    Kind("Sidecar", "networking.istio.io", "v1", "sidecars", "sidecar"),
    Kind(
        "PeerAuthentication", "security.istio.io", "v1", "peerauthentications", "peerauthentication"
    ),
    Kind(
        "RequestAuthentication",
        "security.istio.io",
        "v1",
        "requestauthentications",
        "requestauthentication",
    ),
    Kind(
        "AuthorizationPolicy",
        "security.istio.io",
        "v1",
        "authorizationpolicies",
        "authorizationpolicy",
    ),
    Kind("PolicyRule", "mixer.labplatform.io", "v1", "policyrules", "policyrule", optional=True),
)


def apply(model: MeshModel, kind: str, event: str, obj: Obj) -> None:
    """One watch event into the model."""
    meta = obj["metadata"]
    namespace, name = meta.get("namespace", "default"), meta["name"]
    deleted = event == "DELETED"
    if kind == "Service":
        model.delete_service(namespace, name) if deleted else model.set_service(obj)
    elif kind == "Endpoints":
        model.delete_endpoints(namespace, name) if deleted else model.set_endpoints(obj)
    elif kind == "Pod":
        model.delete_pod(obj) if deleted else model.set_pod(obj)
    elif kind == "Secret":
        model.delete_secret(namespace, name) if deleted else model.set_secret(obj)
    elif deleted:
        model.delete_rule(kind, namespace, name)
    else:
        model.set_rule({**obj, "kind": kind})


class Watcher:
    """Keeps ``model`` in step with the cluster; calls ``changed`` (debounced) on the loop."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        model: MeshModel,
        loop: asyncio.AbstractEventLoop,
        changed: Callable[[], None],
    ) -> None:
        self.api_client = api_client
        self.model = model
        self.loop = loop
        self.changed = changed
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._pending: asyncio.TimerHandle | None = None
        self._pending_since = 0.0
        self._listed: set[str] = set()

    def start(self) -> None:
        for kind in KINDS:
            threading.Thread(target=self._run, args=(kind,), name=f"watch-{kind.plural}",
                             daemon=True).start()  # fmt: skip

    def stop(self) -> None:
        self._stop.set()

    def _run(self, kind: Kind) -> None:
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    version = self._list(kind)
                version = self._watch(kind, version)
            except ApiException as error:
                if error.status == 410:
                    version = ""  # too old: list afresh
                    continue
                if error.status == 404 and kind.optional:
                    self._mark_listed(kind)  # not installed: none of it, until it is
                log.warning("watch failed", extra={"kind": kind.name, "error": str(error)})
                time.sleep(RETRY_SECONDS)
            except Exception as error:  # the API server restarting, a dropped connection
                log.warning("watch failed", extra={"kind": kind.name, "error": str(error)})
                time.sleep(RETRY_SECONDS)

    def _list(self, kind: Kind) -> str:
        response = kind.lister(self.api_client)(_preload_content=False)
        body = json.loads(response.data)
        items = [{**item, "kind": kind.name} for item in body.get("items") or []]
        self._on_loop(lambda: self._replace(kind, items))
        self._mark_listed(kind)
        return str(body["metadata"]["resourceVersion"])

    def _mark_listed(self, kind: Kind) -> None:
        self._listed.add(kind.name)
        if len(self._listed) == len(KINDS):
            self.synced.set()

    def _replace(self, kind: Kind, items: list[Obj]) -> None:
        self.model.clear(kind.name)
        for item in items:
            apply(self.model, kind.name, "ADDED", item)

    def _watch(self, kind: Kind, version: str) -> str:
        stream = k8s_watch.Watch()
        for event in stream.stream(
            kind.lister(self.api_client),
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=300,
        ):
            if self._stop.is_set():
                stream.stop()
                break
            obj = event["raw_object"]
            if event["type"] == "ERROR":
                raise ApiException(status=obj.get("code", 500), reason=obj.get("message"))
            version = obj["metadata"].get("resourceVersion", version)
            if event["type"] != "BOOKMARK":
                self._on_loop(functools.partial(apply, self.model, kind.name, event["type"], obj))
        return version

    def _on_loop(self, change: Callable[[], None]) -> None:
        def run() -> None:
            change()
            now = self.loop.time()
            if self._pending is None:
                self._pending_since = now
            else:
                self._pending.cancel()
            wait = min(DEBOUNCE_SECONDS, self._pending_since + DEBOUNCE_MAX_SECONDS - now)
            self._pending = self.loop.call_later(max(0.0, wait), self._push)

        self.loop.call_soon_threadsafe(run)

    def _push(self) -> None:
        self._pending = None
        self.changed()
