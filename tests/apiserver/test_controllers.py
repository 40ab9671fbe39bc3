"""The in-process controllers, run as the API server runs them, against a real Store and Api.

Pods never run here: :class:`StandInKubelet` plays the node runtime (part
2 of the embedded cluster) by writing pod status through the ``status``
subresource, one pod at a time when a test wants to watch a rollout step
by step. Every wait is a poll with a deadline.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest

from labplatform.clusters.embedded.apiserver.api import Api, now_rfc3339
from labplatform.clusters.embedded.apiserver.bootstrap import bootstrap
from labplatform.clusters.embedded.apiserver.controllers import ALL_CONTROLLERS
from labplatform.clusters.embedded.apiserver.controllers.deployments import Deployments
from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.registry import Registry
from labplatform.clusters.embedded.apiserver.store import Store

Obj = dict[str, Any]
T = TypeVar("T")

NS = "lab"
DEPLOY = "apps/deployments"
RS = "apps/replicasets"
POD = "/pods"
SVC = "/services"
EP = "/endpoints"
SLICE = "discovery.k8s.io/endpointslices"
CM = "/configmaps"
SA = "/serviceaccounts"
NAMESPACES = "/namespaces"
EVENTS = "/events"


async def eventually(check: Callable[[], T | Literal[False] | None], timeout: float = 10.0) -> T:
    """Poll ``check`` until it returns something truthy (an AssertionError means "not yet")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        else:
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"still {result!r} after {timeout}s")
        await asyncio.sleep(0.01)


class Cluster:
    """An Api on a SQLite store with every controller running, as the server runs them."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.tasks: list[asyncio.Future[None]] = []

    def start(self) -> None:
        """Run every controller as the API server does: one task each."""
        self.tasks = [asyncio.ensure_future(run(self.api)) for run in ALL_CONTROLLERS]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def get(self, key: str, name: str, ns: str = NS) -> Obj | None:
        return self.api.store.get(key, ns, name)

    def must(self, key: str, name: str, ns: str = NS) -> Obj:
        obj = self.get(key, name, ns)
        assert obj is not None, f"{key} {ns}/{name} is missing"
        return obj

    def objects(self, key: str, ns: str | None = NS) -> list[Obj]:
        return copy.deepcopy(list(self.api.store.objects(key, ns)))

    async def create(self, key: str, body: Obj, ns: str = NS) -> Obj:
        return await self.api.create(self.api.registry.by_key(key), ns, body)

    async def patch(self, key: str, name: str, body: Obj, ns: str = NS) -> Obj:
        return await self.api.patch(self.api.registry.by_key(key), ns, name, "merge", body)

    async def delete(
        self, key: str, name: str, ns: str = NS, propagation: str | None = None
    ) -> Obj:
        rt = self.api.registry.by_key(key)
        return await self.api.delete(rt, ns, name, propagation=propagation)

    def replicasets(self, deploy: str = "web") -> list[Obj]:
        """A Deployment's ReplicaSets, oldest revision first."""
        return sorted(
            (rs for rs in self.objects(RS) if rs["metadata"]["name"].startswith(f"{deploy}-")),
            key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
        )

    def pods(self, owner: Obj | None = None) -> list[Obj]:
        """Live (not terminating) pods in the namespace, or those ``owner`` controls."""
        return [
            p
            for p in self.objects(POD)
            if not p["metadata"].get("deletionTimestamp")
            and (owner is None or _controller_uid(p) == owner["metadata"]["uid"])
        ]

    def events(self, involved: Obj) -> list[tuple[str, str]]:
        uid = involved["metadata"]["uid"]
        return [
            (e["reason"], e["message"])
            for e in self.objects(EVENTS, involved["metadata"].get("namespace") or "default")
            if e["involvedObject"]["uid"] == uid
        ]


class StandInKubelet:
    """Stands in for the node runtime (embedded cluster part 2), which is not part of this test.

    It writes a pod's status as a kubelet does once the containers have
    started: Running, a pod IP, and the Ready condition, through the
    ``status`` subresource.
    """

    def __init__(self, api: Api) -> None:
        self.api = api
        self.next_ip = 10

    async def run(self, name: str, ready: bool = True, ns: str = NS) -> None:
        pod = self.api.store.get(POD, ns, name)
        if pod is None:
            return  # deleted meanwhile
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            self.next_ip += 1
            ip = f"10.244.0.{self.next_ip}"
        stamp = now_rfc3339()
        pod["status"] = {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "hostIP": "10.0.0.1",
            "startTime": stamp,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
                {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
                {"type": "ContainersReady", "status": str(ready), "lastTransitionTime": stamp},
                {"type": "Ready", "status": str(ready), "lastTransitionTime": stamp},
            ],
        }
        try:
            await self.api.update(
                self.api.registry.by_key(POD), ns, name, pod, subresource="status"
            )
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise

    async def finish(self, name: str, ns: str = NS) -> None:
        """A terminating pod's containers have stopped: the node deletes it for good."""
        await self.api.delete(self.api.registry.by_key(POD), ns, name, grace_period=0)


class PodLedger:
    """Every committed pod write, replayed in order: what a ``kubectl get pods -w`` saw."""

    def __init__(self, api: Api, ns: str = NS) -> None:
        self.pods = {p["metadata"]["name"]: p for p in api.store.objects(POD, ns)}
        self.watcher = api.store.watch(lambda c: c.key == POD and c.namespace == ns)
        self.states: list[list[Obj]] = []

    def replay(self) -> list[list[Obj]]:
        """The live pods after each write since the ledger opened."""
        while not self.watcher.queue.empty():
            change = self.watcher.queue.get_nowait()
            assert change is not None
            name = change.obj["metadata"]["name"]
            if change.type == "DELETED":
                self.pods.pop(name, None)
            else:
                self.pods[name] = change.obj
            self.states.append(
                [p for p in self.pods.values() if not p["metadata"].get("deletionTimestamp")]
            )
        return self.states


def _controller_uid(obj: Obj) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref["uid"])
    return None


def _ready(pod: Obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _condition(obj: Obj, kind: str) -> Obj:
    conditions: list[Obj] = (obj.get("status") or {}).get("conditions") or []
    found = [c for c in conditions if c["type"] == kind]
    assert found, f"no {kind} condition in {obj.get('status')}"
    return found[0]


def _image(pod: Obj) -> str:
    return str(pod["spec"]["containers"][0]["image"])


def rollout_complete(deploy: Obj) -> bool:
    """What `kubectl rollout status` waits for."""
    status, want = deploy.get("status") or {}, deploy["spec"]["replicas"]
    return bool(
        status.get("observedGeneration", 0) >= deploy["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == want
        and status.get("replicas", 0) == want
        and status.get("availableReplicas", 0) == want
    )


def deployment(name: str = "web", replicas: int = 3, image: str = "nginx:1.25", **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 8080}],
                        }
                    ]
                },
            },
            **spec,
        },
    }


def pod(name: str, labels: dict[str, str], http_port: int = 8080) -> Obj:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.25",
                    "ports": [{"name": "http", "containerPort": http_port}],
                }
            ]
        },
    }


def new_image(image: str = "nginx:1.26") -> Obj:
    """The patch `kubectl set image deploy/web web=IMAGE` amounts to."""
    return {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}


async def drive_rollout(
    cluster: Cluster,
    kubelet: StandInKubelet,
    name: str = "web",
    observe: Callable[[Obj], None] | None = None,
    timeout: float = 20.0,
) -> Obj:
    """Start pending pods one at a time, as a node would, until the rollout is complete."""
    deadline = time.monotonic() + timeout
    while True:
        deploy = cluster.must(DEPLOY, name)
        if observe is not None:
            observe(deploy)
        selector = deploy["spec"]["selector"]["matchLabels"]
        pods = [p for p in cluster.pods() if selector.items() <= p["metadata"]["labels"].items()]
        if rollout_complete(deploy) and all(_ready(p) for p in pods):
            return deploy
        pending = sorted(p["metadata"]["name"] for p in pods if not _ready(p))
        if pending:
            await kubelet.run(pending[0])
        else:
            await asyncio.sleep(0.01)
        assert time.monotonic() < deadline, f"rollout incomplete: {deploy.get('status')}"


async def gc_caught_up(cluster: Cluster) -> None:
    """Wait until the garbage collector has handled everything before now (it works in order)."""
    owner = await cluster.create(CM, {"metadata": {"generateName": "sentinel-"}})
    dependent = await cluster.create(
        CM,
        {
            "metadata": {
                "generateName": "sentinel-dependent-",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": owner["metadata"]["name"],
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            }
        },
    )
    await cluster.delete(CM, owner["metadata"]["name"])
    await eventually(lambda: cluster.get(CM, dependent["metadata"]["name"]) is None)


@pytest.fixture
async def idle(tmp_path: Path) -> AsyncIterator[Cluster]:
    """A bootstrapped cluster with namespace `lab` and its ServiceAccount; controllers stopped."""
    store = Store(tmp_path / "store.db")
    api = Api(store, Registry(), root_ca="-----BEGIN CERTIFICATE-----\n")
    await bootstrap(api)
    cluster = Cluster(api)
    await cluster.create(NAMESPACES, {"metadata": {"name": NS}}, ns="")
    await cluster.create(SA, {"metadata": {"name": "default"}})
    try:
        yield cluster
    finally:
        await cluster.stop()
        store.close()


@pytest.fixture
async def cluster(idle: Cluster) -> Cluster:
    idle.start()
    return idle


@pytest.fixture
def kubelet(idle: Cluster) -> StandInKubelet:
    return StandInKubelet(idle.api)


# -- Deployments and ReplicaSets ---------------------------------------------------


async def test_deployment_of_three_becomes_three_available_pods(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    await cluster.create(DEPLOY, deployment(replicas=3))
    pods = await eventually(lambda: len(cluster.pods()) == 3 and cluster.pods())
    [rs] = cluster.replicasets()
    hash_ = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{hash_}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": hash_}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == hash_
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    for p in pods:
        assert p["metadata"]["name"].startswith(f"web-{hash_}-")
        assert p["metadata"]["labels"] == {"app": "web", "pod-template-hash": hash_}
        assert p["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": rs["metadata"]["name"],
                "uid": rs["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    unready = await eventually(
        lambda: cluster.must(DEPLOY, "web").get("status", {}).get("replicas")
    )
    assert unready == 3
    deploy = cluster.must(DEPLOY, "web")
    assert _condition(deploy, "Available")["reason"] == "MinimumReplicasUnavailable"
    assert not rollout_complete(deploy)

    for p in pods:
        await kubelet.run(p["metadata"]["name"])
    deploy = await eventually(lambda: rollout_complete(d := cluster.must(DEPLOY, "web")) and d)

    status = deploy["status"]
    assert {k: status.get(k) for k in ("replicas", "updatedReplicas", "readyReplicas")} == {
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
    }
    assert status["availableReplicas"] == 3 and "unavailableReplicas" not in status
    available, progressing = _condition(deploy, "Available"), _condition(deploy, "Progressing")
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
    assert progressing["message"] == f'ReplicaSet "web-{hash_}" has successfully progressed.'
    assert progressing["lastUpdateTime"] and progressing["lastTransitionTime"]
    assert deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert ("ScalingReplicaSet", f"Scaled up replica set web-{hash_} to 3") in cluster.events(
        deploy
    )
    created = {m for r, m in cluster.events(rs) if r == "SuccessfulCreate"}
    assert created == {f"Created pod: {p['metadata']['name']}" for p in pods}
    rs = cluster.must(RS, rs["metadata"]["name"])
    assert rs["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "observedGeneration": 1,
    }


async def test_rolling_update_keeps_three_available_and_surges_by_one(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    await cluster.create(DEPLOY, deployment(replicas=3, strategy=strategy))
    await drive_rollout(cluster, kubelet)
    [old] = cluster.replicasets()
    ledger = PodLedger(cluster.api)

    await cluster.patch(DEPLOY, "web", new_image())

    def at_most_one_surplus_never_unavailable(deploy: Obj) -> None:
        status = deploy.get("status") or {}
        assert status.get("availableReplicas", 0) >= 3, status
        assert status.get("replicas", 0) <= 4, status

    deploy = await drive_rollout(cluster, kubelet, observe=at_most_one_surplus_never_unavailable)

    states = ledger.replay()
    assert states, "the rollout wrote no pods"
    assert min(sum(1 for p in pods if _ready(p)) for pods in states) >= 3
    assert max(len(pods) for pods in states) <= 4
    old_rs, new_rs = cluster.replicasets()
    assert old_rs["metadata"]["name"] == old["metadata"]["name"]
    assert old_rs["spec"]["replicas"] == 0  # kept for `kubectl rollout undo`
    assert new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert [_image(p) for p in cluster.pods()] == ["nginx:1.26"] * 3
    assert all(_controller_uid(p) == new_rs["metadata"]["uid"] for p in cluster.pods())
    events = cluster.events(deploy)
    old_name, new_name = old_rs["metadata"]["name"], new_rs["metadata"]["name"]
    assert ("ScalingReplicaSet", f"Scaled up replica set {new_name} to 1") in events
    assert ("ScalingReplicaSet", f"Scaled down replica set {old_name} to 2 from 3") in events
    assert ("ScalingReplicaSet", f"Scaled down replica set {old_name} to 0 from 1") in events
    assert _condition(deploy, "Progressing")["reason"] == "NewReplicaSetAvailable"


async def test_a_stale_replicaset_status_cannot_cut_availability(idle: Cluster) -> None:
    """The ReplicaSet controller is stopped, so statuses lag specs as they can in a busy server."""
    deployments = Deployments(idle.api)
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    await idle.create(DEPLOY, deployment(replicas=3, strategy=strategy))

    async def step() -> None:
        await deployments.reconcile((NS, "web"))

    async def report(rs: Obj, replicas: int, available: int) -> None:
        current = idle.must(RS, rs["metadata"]["name"])
        current["status"] = {"replicas": replicas, "availableReplicas": available}
        rt = idle.api.registry.by_key(RS)
        await idle.api.update(rt, NS, rs["metadata"]["name"], current, subresource="status")

    await step()
    [old] = idle.replicasets()
    await report(old, 3, 3)
    await idle.patch(DEPLOY, "web", new_image())
    await step()  # the new ReplicaSet, at the one surplus pod
    _, new = idle.replicasets()
    assert new["spec"]["replicas"] == 1
    await report(new, 1, 1)
    await step()  # one old pod may go: 3 old + 1 new available
    assert idle.must(RS, old["metadata"]["name"])["spec"]["replicas"] == 2
    await step()  # the surplus is free again
    assert idle.must(RS, new["metadata"]["name"])["spec"]["replicas"] == 2
    await report(new, 2, 2)
    # The old ReplicaSet still reports 3 available though it was asked for 2: 4 really are.
    await step()
    assert idle.must(RS, old["metadata"]["name"])["spec"]["replicas"] == 1


async def test_undo_by_restoring_the_old_template_reuses_its_replicaset(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    await cluster.create(DEPLOY, deployment(replicas=2))
    await drive_rollout(cluster, kubelet)
    await cluster.patch(DEPLOY, "web", new_image())
    await drive_rollout(cluster, kubelet)
    first, second = cluster.replicasets()

    # What client-side `kubectl rollout undo` does: the old ReplicaSet's template, minus its hash.
    template = copy.deepcopy(first["spec"]["template"])
    del template["metadata"]["labels"]["pod-template-hash"]
    deploy = cluster.must(DEPLOY, "web")
    deploy["spec"]["template"] = template
    await cluster.api.update(cluster.api.registry.by_key(DEPLOY), NS, "web", deploy)
    deploy = await drive_rollout(cluster, kubelet)

    assert [rs["metadata"]["name"] for rs in cluster.replicasets()] == [
        second["metadata"]["name"],
        first["metadata"]["name"],  # no third ReplicaSet: the first is the newest revision again
    ]
    reused = cluster.must(RS, first["metadata"]["name"])
    annotations = reused["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/revision"] == "3"
    assert annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert [_image(p) for p in cluster.pods()] == ["nginx:1.25"] * 2


async def test_recreate_waits_for_every_old_pod_to_be_gone(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    bound = deployment(replicas=3, strategy={"type": "Recreate"})
    bound["spec"]["template"]["spec"]["nodeName"] = (
        "node-1"  # deletion is graceful: the node ends it
    )
    await cluster.create(DEPLOY, bound)
    await drive_rollout(cluster, kubelet)
    [old] = cluster.replicasets()
    await cluster.patch(DEPLOY, "web", new_image())

    def old_pods_stopping() -> Obj | None:
        deploy = cluster.must(DEPLOY, "web")
        seen = deploy["status"]["observedGeneration"] == deploy["metadata"]["generation"]
        return deploy if seen and "replicas" not in deploy["status"] else None

    await eventually(old_pods_stopping)
    terminating = [p for p in cluster.objects(POD) if p["metadata"].get("deletionTimestamp")]
    assert len(terminating) == 3
    assert cluster.must(RS, old["metadata"]["name"])["spec"]["replicas"] == 0
    assert [rs["metadata"]["name"] for rs in cluster.replicasets()] == [old["metadata"]["name"]]

    for p in terminating:
        await kubelet.finish(p["metadata"]["name"])
    await drive_rollout(cluster, kubelet)
    assert [_image(p) for p in cluster.objects(POD)] == ["nginx:1.26"] * 3


async def test_scale_to_zero_and_back(cluster: Cluster, kubelet: StandInKubelet) -> None:
    await cluster.create(DEPLOY, deployment(replicas=3))
    await drive_rollout(cluster, kubelet)
    [rs] = cluster.replicasets()
    name = rs["metadata"]["name"]

    await cluster.patch(DEPLOY, "web", {"spec": {"replicas": 0}})
    deploy = await eventually(
        lambda: not cluster.pods() and rollout_complete(d := cluster.must(DEPLOY, "web")) and d
    )
    assert "replicas" not in deploy["status"] and "availableReplicas" not in deploy["status"]
    assert _condition(deploy, "Available")["status"] == "True"
    assert ("ScalingReplicaSet", f"Scaled down replica set {name} to 0 from 3") in cluster.events(
        deploy
    )

    await cluster.patch(DEPLOY, "web", {"spec": {"replicas": 2}})
    deploy = await drive_rollout(cluster, kubelet)
    assert deploy["status"]["availableReplicas"] == 2
    assert [r["metadata"]["name"] for r in cluster.replicasets()] == [name]  # no rollout
    assert ("ScalingReplicaSet", f"Scaled up replica set {name} to 2 from 0") in cluster.events(
        deploy
    )


async def test_a_deleted_pod_is_replaced(cluster: Cluster, kubelet: StandInKubelet) -> None:
    await cluster.create(DEPLOY, deployment(replicas=3))
    await drive_rollout(cluster, kubelet)
    [rs] = cluster.replicasets()
    victim = cluster.pods()[0]["metadata"]["name"]

    await cluster.delete(POD, victim)
    pods = await eventually(lambda: len(cluster.pods()) == 3 and cluster.pods())
    names = {p["metadata"]["name"] for p in pods}
    assert victim not in names
    [replacement] = [p for p in pods if not _ready(p)]
    assert _controller_uid(replacement) == rs["metadata"]["uid"]
    assert (
        "SuccessfulCreate",
        f"Created pod: {replacement['metadata']['name']}",
    ) in cluster.events(rs)
    deploy = await drive_rollout(cluster, kubelet)
    assert deploy["status"]["availableReplicas"] == 3


async def test_replicaset_adopts_a_matching_pod_and_lets_a_relabelled_one_go(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    await cluster.create(DEPLOY, deployment(replicas=3))
    await drive_rollout(cluster, kubelet)
    [rs] = cluster.replicasets()
    labels = rs["spec"]["selector"]["matchLabels"]

    # One too many: adopted, then removed as the least useful (pending, newest).
    await cluster.create(POD, pod("stray", labels))
    await eventually(lambda: cluster.get(POD, "stray") is None)
    assert ("SuccessfulDelete", "Deleted pod: stray") in cluster.events(rs)
    assert len(cluster.pods(rs)) == 3

    # Taken out of rotation by relabelling: released, and replaced.
    quarantined = cluster.pods(rs)[0]["metadata"]["name"]
    await cluster.patch(POD, quarantined, {"metadata": {"labels": {"app": "debug"}}})
    await eventually(
        lambda: (
            len(cluster.pods(rs)) == 3 and _controller_uid(cluster.must(POD, quarantined)) is None
        )
    )
    assert quarantined not in {p["metadata"]["name"] for p in cluster.pods(rs)}
    assert len(cluster.pods()) == 4


async def test_min_ready_seconds_delays_availability(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    await cluster.create(DEPLOY, deployment(replicas=2, minReadySeconds=2))
    pods = await eventually(lambda: len(cluster.pods()) == 2 and cluster.pods())
    for p in pods:
        await kubelet.run(p["metadata"]["name"])
    ready = await eventually(
        lambda: (d := cluster.must(DEPLOY, "web"))["status"].get("readyReplicas") == 2 and d
    )
    assert ready["status"].get("availableReplicas", 0) == 0
    # Nothing changes after the pods turn ready: only the controller's own timer can do this.
    done = await eventually(lambda: rollout_complete(d := cluster.must(DEPLOY, "web")) and d, 8)
    assert done["status"]["availableReplicas"] == 2


async def test_progress_deadline_exceeded_then_recovered(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    await cluster.create(DEPLOY, deployment(replicas=1, progressDeadlineSeconds=1))
    stuck = await eventually(
        lambda: (
            _condition(d := cluster.must(DEPLOY, "web"), "Progressing")["reason"]
            == "ProgressDeadlineExceeded"
            and d
        ),
        8,
    )
    condition = _condition(stuck, "Progressing")
    [rs] = cluster.replicasets()
    assert condition["status"] == "False"
    assert (
        condition["message"] == f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.'
    )
    deploy = await drive_rollout(cluster, kubelet)
    await eventually(
        lambda: (
            _condition(cluster.must(DEPLOY, "web"), "Progressing")["reason"]
            == "NewReplicaSetAvailable"
        )
    )
    assert rollout_complete(deploy)


async def test_paused_deployment_scales_but_does_not_roll_until_resumed(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    await cluster.create(DEPLOY, deployment(replicas=2))
    await drive_rollout(cluster, kubelet)
    await cluster.patch(DEPLOY, "web", {"spec": {"paused": True}})
    await cluster.patch(DEPLOY, "web", new_image())
    await cluster.patch(DEPLOY, "web", {"spec": {"replicas": 3}})

    def paused_and_seen() -> Obj | None:
        deploy = cluster.must(DEPLOY, "web")
        seen = deploy["status"]["observedGeneration"] == deploy["metadata"]["generation"]
        return deploy if seen and len(cluster.pods()) == 3 else None

    deploy = await eventually(paused_and_seen)
    progressing = _condition(deploy, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    assert len(cluster.replicasets()) == 1
    assert {_image(p) for p in cluster.pods()} == {"nginx:1.25"}

    await cluster.patch(DEPLOY, "web", {"spec": {"paused": False}})
    await drive_rollout(cluster, kubelet)
    assert len(cluster.replicasets()) == 2
    assert [_image(p) for p in cluster.pods()] == ["nginx:1.26"] * 3


async def test_revision_history_limit_prunes_idle_replicasets(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    await cluster.create(DEPLOY, deployment(replicas=1, revisionHistoryLimit=1))
    for image in ("nginx:1.26", "nginx:1.27"):
        await drive_rollout(cluster, kubelet)
        await cluster.patch(DEPLOY, "web", new_image(image))
    await drive_rollout(cluster, kubelet)
    revisions = await eventually(
        lambda: (
            len(sets := cluster.replicasets()) == 2
            and sorted(
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for rs in sets
            )
        )
    )
    assert revisions == ["2", "3"]


# -- Endpoints ---------------------------------------------------------------------


async def test_endpoints_list_ready_pod_ips_with_resolved_named_ports(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    web = {"app": "web"}
    for name in ("a", "b", "c", "pending"):
        await cluster.create(POD, pod(name, web))
    await cluster.create(POD, pod("other", {"app": "other"}))
    await kubelet.run("a")  # 10.244.0.11
    await kubelet.run("b")  # .12
    await kubelet.run("c", ready=False)  # .13
    await kubelet.run("other")  # .14
    service = {
        "metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {
            "selector": web,
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http"},
                {"name": "metrics", "port": 9090, "targetPort": 9100},
            ],
        },
    }
    await cluster.create(SVC, service)
    ports = [
        {"name": "http", "port": 8080, "protocol": "TCP"},
        {"name": "metrics", "port": 9100, "protocol": "TCP"},
    ]

    def subsets() -> list[Obj]:
        endpoints = cluster.get(EP, "web")
        assert endpoints is not None
        return list(endpoints.get("subsets") or [])

    def ips(subset: Obj, field: str) -> list[str]:
        return [a["ip"] for a in subset.get(field, [])]

    [subset] = await eventually(subsets)
    assert ips(subset, "addresses") == ["10.244.0.11", "10.244.0.12"]
    assert ips(subset, "notReadyAddresses") == ["10.244.0.13"]
    assert subset["ports"] == ports
    a = cluster.must(POD, "a")
    assert subset["addresses"][0]["targetRef"] == {
        "kind": "Pod",
        "namespace": NS,
        "name": "a",
        "uid": a["metadata"]["uid"],
    }
    assert cluster.must(EP, "web")["metadata"]["labels"] == {"tier": "front"}

    # The slice says the same, with conditions, and belongs to the Service.
    [endpoint_slice] = [
        s
        for s in cluster.objects(SLICE)
        if s["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
    ]
    svc = cluster.must(SVC, "web")
    assert endpoint_slice["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]
    assert endpoint_slice["addressType"] == "IPv4"
    assert endpoint_slice["ports"] == ports
    assert [(e["addresses"], e["conditions"]) for e in endpoint_slice["endpoints"]] == [
        (["10.244.0.11"], {"ready": True, "serving": True, "terminating": False}),
        (["10.244.0.12"], {"ready": True, "serving": True, "terminating": False}),
        (["10.244.0.13"], {"ready": False, "serving": False, "terminating": False}),
    ]

    # Readiness moves addresses; a pod that numbers its named port differently gets its own subset;
    # a terminating pod (bound to a node, so it takes its grace period) leaves the Endpoints.
    await kubelet.run("a", ready=False)
    await cluster.create(POD, pod("d", web, http_port=8081))
    await kubelet.run("d")  # .15
    await cluster.delete(POD, "b")
    bound = pod("e", web)
    bound["spec"]["nodeName"] = "node-1"
    await cluster.create(POD, bound)
    await kubelet.run("e")  # .16
    await eventually(lambda: "10.244.0.16" in ips(subsets()[0], "addresses"))
    await cluster.delete(POD, "e")
    assert cluster.must(POD, "e")["metadata"]["deletionTimestamp"]

    def settled() -> bool:
        first, second = subsets()
        assert (ips(first, "addresses"), ips(first, "notReadyAddresses")) == (
            [],
            ["10.244.0.11", "10.244.0.13"],
        )
        assert (ips(second, "addresses"), second["ports"][0]["port"]) == (["10.244.0.15"], 8081)
        return True

    await eventually(settled)
    slices = {
        s["ports"][0]["port"]: s
        for s in cluster.objects(SLICE)
        if s["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
    }
    assert sorted(slices) == [8080, 8081]
    [terminating] = [e for e in slices[8080]["endpoints"] if e["addresses"] == ["10.244.0.16"]]
    assert terminating["nodeName"] == "node-1"
    assert terminating["conditions"] == {"ready": False, "serving": True, "terminating": True}

    await cluster.delete(SVC, "web")
    await eventually(
        lambda: (
            cluster.get(EP, "web") is None
            and not [s for s in cluster.objects(SLICE) if s["metadata"]["name"].startswith("web-")]
        )
    )


async def test_service_without_selector_keeps_the_users_endpoints(cluster: Cluster) -> None:
    await cluster.create(
        SVC, {"metadata": {"name": "external"}, "spec": {"ports": [{"port": 5432}]}}
    )
    mine = {
        "metadata": {"name": "external"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}],
    }
    created = await cluster.create(EP, mine)
    await cluster.create(
        SVC,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    await eventually(lambda: cluster.get(EP, "web"))  # the controller has been through both
    endpoints = cluster.must(EP, "external")
    assert endpoints["subsets"][0]["addresses"] == [{"ip": "192.0.2.10"}]
    assert endpoints["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert not [
        s
        for s in cluster.objects(SLICE)
        if s["metadata"]["labels"].get("kubernetes.io/service-name") == "external"
    ]


# -- Garbage collection -------------------------------------------------------------


async def test_deleting_a_deployment_removes_its_replicasets_and_pods(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    await cluster.create(DEPLOY, deployment(replicas=3))
    await drive_rollout(cluster, kubelet)
    await cluster.patch(DEPLOY, "web", new_image())
    await drive_rollout(cluster, kubelet)
    assert len(cluster.replicasets()) == 2

    await cluster.delete(DEPLOY, "web", propagation="Background")
    await eventually(lambda: not cluster.objects(RS) and not cluster.objects(POD))


async def test_orphan_deletion_leaves_the_replicaset_and_its_pods(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    await cluster.create(DEPLOY, deployment(replicas=2))
    await drive_rollout(cluster, kubelet)
    [rs] = cluster.replicasets()

    await cluster.delete(DEPLOY, "web", propagation="Orphan")
    await eventually(lambda: cluster.get(DEPLOY, "web") is None)
    await gc_caught_up(cluster)

    kept = cluster.must(RS, rs["metadata"]["name"])
    assert "ownerReferences" not in kept["metadata"]
    assert len(cluster.pods(kept)) == 2


async def test_foreground_deletion_removes_dependents_before_the_owner(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    await cluster.create(DEPLOY, deployment(replicas=2))
    await drive_rollout(cluster, kubelet)
    watcher = cluster.api.store.watch(lambda c: c.type == "DELETED" and c.key in (DEPLOY, RS, POD))

    await cluster.delete(DEPLOY, "web", propagation="Foreground")
    terminating = cluster.must(DEPLOY, "web")
    assert "foregroundDeletion" in terminating["metadata"]["finalizers"]
    await eventually(lambda: cluster.get(DEPLOY, "web") is None)

    order = []
    while not watcher.queue.empty():
        change = watcher.queue.get_nowait()
        assert change is not None
        order.append(change.key)
    watcher.close()
    assert order == [POD, POD, RS, DEPLOY]


async def test_dependents_of_owners_lost_while_down_are_collected_at_start(
    idle: Cluster,
) -> None:
    # Left behind by a crash: a ReplicaSet whose Deployment is gone, and its pod.
    ghost = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "gone",
        "uid": "00000000-0000-0000-0000-000000000000",
        "controller": True,
    }
    template = pod("", {"app": "gone"})
    del template["metadata"]["name"]
    rs = {
        "metadata": {"name": "gone-abc", "ownerReferences": [ghost]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "gone"}}, "template": template},
    }
    orphan_rs = await idle.create(RS, rs)
    orphan_pod = pod("gone-abc-xyz", {"app": "gone"})
    orphan_pod["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "gone-abc",
            "uid": orphan_rs["metadata"]["uid"],
            "controller": True,
        }
    ]
    await idle.create(POD, orphan_pod)
    # And a Deployment created while no controller ran.
    await idle.create(DEPLOY, deployment("late", replicas=2))

    idle.start()
    await eventually(
        lambda: idle.get(RS, "gone-abc") is None and idle.get(POD, "gone-abc-xyz") is None
    )
    await eventually(lambda: len(idle.replicasets("late")) == 1 and len(idle.pods()) == 2)


# -- Namespaces ---------------------------------------------------------------------


async def test_default_service_account_appears_and_comes_back(cluster: Cluster) -> None:
    await cluster.create(NAMESPACES, {"metadata": {"name": "team"}}, ns="")
    first = await eventually(lambda: cluster.get(SA, "default", ns="team"))
    assert await eventually(lambda: cluster.get(CM, "kube-root-ca.crt", ns="team"))
    await cluster.delete(SA, "default", ns="team")
    again = await eventually(lambda: cluster.get(SA, "default", ns="team"))
    assert again["metadata"]["uid"] != first["metadata"]["uid"]


async def test_namespace_deletion_empties_the_namespace_then_removes_it(
    cluster: Cluster, kubelet: StandInKubelet
) -> None:
    ns = "doomed"
    await cluster.create(NAMESPACES, {"metadata": {"name": ns}}, ns="")
    await eventually(lambda: cluster.get(SA, "default", ns=ns))
    await cluster.create(DEPLOY, deployment(replicas=2), ns=ns)
    await cluster.create(
        SVC,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
        ns=ns,
    )
    virtual_service = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "web"},
        "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web"}}]}]},
    }
    vs_rt = cluster.api.registry.by_kind("networking.istio.io", "VirtualService")
    assert vs_rt is not None
    await cluster.api.create(vs_rt, ns, virtual_service)
    held = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    await cluster.create(CM, held, ns=ns)
    await eventually(
        lambda: len([p for p in cluster.objects(POD, ns)]) == 2 and cluster.get(EP, "web", ns=ns)
    )

    await cluster.delete(NAMESPACES, ns, ns="")
    assert cluster.must(NAMESPACES, ns, ns="")["status"]["phase"] == "Terminating"

    def held_by_the_finalizer() -> Obj:
        namespace = cluster.must(NAMESPACES, ns, ns="")
        condition = _condition(namespace, "NamespaceFinalizersRemaining")
        assert condition["status"] == "True", condition
        return condition

    condition = await eventually(held_by_the_finalizer)
    assert condition["message"] == (
        "Some content in the namespace has finalizers remaining: "
        "example.com/hold in 1 resource instances"
    )
    remaining = [
        (rt.plural, obj["metadata"]["name"])
        for rt in cluster.api.registry
        if rt.namespaced
        for obj in cluster.api.store.objects(rt.key, ns)
    ]
    assert remaining == [("configmaps", "held")]

    await cluster.patch(CM, "held", {"metadata": {"finalizers": None}}, ns=ns)
    await eventually(lambda: cluster.get(NAMESPACES, ns, ns="") is None)
    assert cluster.get(NAMESPACES, NS, ns="") is not None
