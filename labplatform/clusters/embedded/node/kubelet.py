"""The kubelet: runs each pod bound to this node and keeps its status true.

The node is the cluster's only one, so the kubelet also schedules: a pod
without ``spec.nodeName`` is bound here at once. Each pod then gets a
:class:`PodWorker` task that walks it through Kubernetes' lifecycle: image
check (ErrImagePull, ImagePullBackOff), volumes (FailedMount), the pod's
namespaces, init containers one by one to completion, then the containers
with their probes and restart policy (CrashLoopBackOff with upstream's
10 s doubling back-off, capped at five minutes), and on deletion SIGTERM,
the grace period, SIGKILL, and the final removal of the object. Status and
Events are written the way ``kubectl describe`` expects them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from labplatform.clusters.embedded.apiserver.api import Api
from labplatform.clusters.embedded.apiserver.controllers.base import (
    NsName,
    Reconciler,
    controller,
    ns_name,
    record_event,
    write_status,
)
from labplatform.clusters.embedded.apiserver.errors import ApiError
from labplatform.clusters.embedded.apiserver.server import Controller
from labplatform.clusters.embedded.apiserver.store import Change, Obj
from labplatform.clusters.embedded.apiserver.tokens import API_AUDIENCE, TokenIssuer
from labplatform.clusters.embedded.node import images, network, probes
from labplatform.clusters.embedded.node.containers import (
    Command,
    ContainerProcess,
    Identity,
    Mount,
    exec_argv,
    launch_argv,
    now_rfc3339,
)
from labplatform.clusters.embedded.node.environment import (
    ContainerConfigError,
    Lookup,
    container_environment,
    expand,
)
from labplatform.clusters.embedded.node.volumes import VolumeError, prepare_volumes

log = logging.getLogger(__name__)

POD_KEY = "/pods"
COMPONENT = "kubelet"
BACKOFF_START = 10.0
BACKOFF_MAX = 300.0
BACKOFF_RESET_AFTER = 600.0  # a container that ran this long starts its back-off afresh


@dataclass
class NodeContext:
    """What every pod worker shares: the API, the node's identity, its addresses."""

    api: Api
    tokens: TokenIssuer
    node_name: str
    pods_dir: Path
    addresses: network.AddressPool = field(default_factory=network.AddressPool)
    workers: dict[str, PodWorker] = field(default_factory=dict)  # by pod uid
    # Set once Services work (kube-proxy's rules and the DNS are in place): a pod started
    # before would find no cluster DNS, as a kubelet waits for its network to be ready.
    network_ready: asyncio.Event = field(default_factory=asyncio.Event)

    def lookup(self) -> Lookup:
        return Lookup(self.api.store.get)

    def linked_services(self, namespace: str) -> list[Obj]:
        """The Services whose variables a pod gets: its namespace's, and always the API's."""
        services = list(self.api.store.objects("/services", namespace))
        master = self.api.store.get("/services", "default", "kubernetes")
        if namespace != "default" and master is not None:
            services.append(master)
        return services

    def mint_token(self, pod: Obj, source: Obj) -> str:
        namespace = pod["metadata"]["namespace"]
        account_name = pod["spec"].get("serviceAccountName") or "default"
        account = self.api.store.get("/serviceaccounts", namespace, account_name)
        if account is None:
            raise VolumeError(f'serviceaccount "{account_name}" not found')
        audiences = [source["audience"]] if source.get("audience") else [API_AUDIENCE]
        expiry = int(source.get("expirationSeconds", 3607))
        token, _ = self.tokens.issue(namespace, account, audiences, expiry, pod)
        return token


@dataclass
class ContainerState:
    """The kubelet's memory of one container, from which its status is written."""

    spec: Obj
    image: images.Image | None = None
    running: ContainerProcess | None = None
    restarts: int = 0
    crashes: int = 0  # in a row: the back-off's exponent
    ready: bool = False
    started: bool = False
    waiting: tuple[str, str] | None = ("ContainerCreating", "")
    terminated: Obj | None = None
    last_terminated: Obj | None = None
    generation: int = 0  # instances started, which names their log files

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def status(self, init: bool) -> Obj:
        state: Obj
        if self.running is not None and self.running.proc.returncode is None:
            state = {"running": {"startedAt": self.running.started_at}}
        elif self.terminated is not None:
            state = {"terminated": self.terminated}
        else:
            reason, message = self.waiting or ("ContainerCreating", "")
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        status: Obj = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": self.image.image_id if self.image else "",
            "ready": self.ready,
            "restartCount": self.restarts,
            "started": self.started if not init else None,
            "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        if self.running is not None:
            status["containerID"] = f"labplatform://{self.running.proc.pid}"
        return {k: v for k, v in status.items() if v is not None}


class PodWorker:
    """One pod's life on this node."""

    def __init__(self, node: NodeContext, pod: Obj) -> None:
        self.node = node
        self.pod = pod
        self.uid = pod["metadata"]["uid"]
        self.dir = node.pods_dir / self.uid
        self.changed = asyncio.Event()  # the spec changed, or deletion began
        self.sandbox: network.PodSandbox | None = None
        spec = pod["spec"]
        self.init = [ContainerState(c) for c in spec.get("initContainers") or []]
        self.containers = [ContainerState(c) for c in spec.get("containers") or []]
        self.phase = "Pending"
        self.initialized = not self.init
        self.started_at = now_rfc3339()
        self.volumes: dict[str, Path] = {}
        self.task = asyncio.create_task(self._run(), name=f"pod {self.describe}")
        self._status_written: Obj | None = None

    @property
    def describe(self) -> str:
        return "/".join(ns_name(self.pod))

    def update(self, pod: Obj) -> None:
        """The latest object; a new spec or a deletion wakes whatever the worker waits on."""
        old, self.pod = self.pod, pod
        if old["spec"] == pod["spec"] and not self._deleting():
            return
        for state in (*self.init, *self.containers):
            for container in (*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]):
                if container["name"] == state.name:
                    state.spec = container
        self.changed.set()

    def state(self, name: str) -> ContainerState | None:
        return next((c for c in (*self.containers, *self.init) if c.name == name), None)

    # -- lifecycle -------------------------------------------------------------

    async def _run(self) -> None:
        lifecycle = asyncio.create_task(self._lifecycle())
        try:
            while not self._deleting():
                woken = asyncio.ensure_future(self.changed.wait())
                await asyncio.wait([lifecycle, woken], return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                if lifecycle.done():
                    await self.changed.wait()
                self.changed.clear()
            lifecycle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lifecycle
            await self._terminate()
        except asyncio.CancelledError:
            lifecycle.cancel()
            await self._terminate(grace=2.0, delete=False)
            raise
        finally:
            self.node.workers.pop(self.uid, None)

    def _deleting(self) -> bool:
        return bool(self.pod["metadata"].get("deletionTimestamp"))

    async def _lifecycle(self) -> None:
        """The pod's life, begun again (after a back-off) if making its sandbox fails."""
        await self._event(
            "Normal",
            "Scheduled",
            f"Successfully assigned {self.describe} to {self.node.node_name}",
            component="default-scheduler",
        )
        delay = 1.0
        while True:
            try:
                await self._live()
                return
            except Exception as error:
                log.exception("pod worker failed", extra={"pod": self.describe})
                await self._event("Warning", "FailedCreatePodSandBox", f"Failed: {error}")
                await self._stop_everything(grace=0)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    async def _live(self) -> None:
        await self._write_status()
        await self._images()
        await self._prepare_volumes()
        await self.node.network_ready.wait()
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.pod["metadata"]
        hostname = self.pod["spec"].get("hostname") or meta["name"]
        self.sandbox = await network.create_pod_sandbox(
            self.uid, hostname, self.dir, meta["namespace"], self.node.addresses
        )
        await self._write_status()
        for state in self.init:
            while await self._run_once(state) != 0:
                if self._restart_policy() == "Never":
                    self.phase = "Failed"
                    await self._write_status()
                    return
                state.crashes += 1
                state.restarts += 1
                await self._back_off(state)
        self.initialized = True
        self.phase = "Running"
        await asyncio.gather(*(self._supervise(state) for state in self.containers))
        failed = any((c.terminated or {}).get("exitCode", 0) != 0 for c in self.containers)
        self.phase = "Failed" if failed else "Succeeded"
        await self._write_status()

    def _restart_policy(self) -> str:
        return str(self.pod["spec"].get("restartPolicy", "Always"))

    async def _images(self) -> None:
        """Every container's image from the catalog; missing ones back off as a failed pull."""
        delay = BACKOFF_START
        while True:
            missing = []
            for state in (*self.init, *self.containers):
                try:
                    state.image = images.resolve(state.spec.get("image", ""))
                except images.ImageNotFoundError as error:
                    missing.append((state, str(error)))
            if not missing:
                for state in (*self.init, *self.containers):
                    await self._event(
                        "Normal", "Pulled",
                        f'Container image "{state.spec["image"]}" already present on machine',
                    )  # fmt: skip
                return
            for state, message in missing:
                state.waiting = ("ErrImagePull", message)
                await self._event("Warning", "Failed", f"Failed to pull image: {message}")
            await self._write_status()
            await self._sleep_or_change(1.0)
            for state, _ in missing:
                state.waiting = (
                    "ImagePullBackOff",
                    f'Back-off pulling image "{state.spec["image"]}"',
                )
                await self._event("Normal", "BackOff", state.waiting[1])
            await self._write_status()
            await self._sleep_or_change(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _prepare_volumes(self) -> None:
        while True:
            try:
                self.volumes = prepare_volumes(
                    self.pod, self.dir, self.node.lookup(), self.node.mint_token
                )
                return
            except VolumeError as error:
                await self._event("Warning", "FailedMount", f"MountVolume.SetUp failed: {error}")
                await self._sleep_or_change(5.0)

    async def _sleep_or_change(self, seconds: float) -> None:
        """Back off, but retry at once when the spec changes (a corrected image, say)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.changed.wait()

    async def _back_off(self, state: ContainerState) -> None:
        if state.crashes <= 1:  # as upstream: the first restart is immediate
            state.last_terminated, state.terminated = state.terminated, None
            return
        delay = min(BACKOFF_START * 2 ** (state.crashes - 2), BACKOFF_MAX)
        meta = self.pod["metadata"]
        where = f"container={state.name} pod={meta['name']}_{meta['namespace']}({self.uid})"
        state.waiting = ("CrashLoopBackOff", f"back-off {delay:g}s restarting failed {where}")
        state.last_terminated, state.terminated = state.terminated, None
        await self._event("Warning", "BackOff", "Back-off restarting failed container "
                          f"{state.name} in pod {self.pod['metadata']['name']}")  # fmt: skip
        await self._write_status()
        await asyncio.sleep(delay)

    async def _supervise(self, state: ContainerState) -> None:
        while True:
            began = time.monotonic()
            code = await self._run_once(state, probes_on=True)
            policy = self._restart_policy()
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                return
            state.crashes = (
                1 if time.monotonic() - began > BACKOFF_RESET_AFTER else state.crashes + 1
            )
            state.restarts += 1
            await self._back_off(state)

    async def _run_once(self, state: ContainerState, probes_on: bool = False) -> int:
        assert self.sandbox is not None and state.image is not None
        try:
            argv = self._launch(state)
        except (ContainerConfigError, ValueError) as error:
            state.waiting = ("CreateContainerConfigError", str(error))
            await self._event("Warning", "Failed", f"Error: {error}")
            await self._write_status()
            await self._sleep_or_change(10.0)
            return 1
        log_path = self.dir / "logs" / state.name / f"{state.generation}.log"
        state.generation += 1
        state.running = await ContainerProcess.start(
            state.name,
            argv,
            log_path,
            tty=bool(state.spec.get("tty")),
            stdin=bool(state.spec.get("stdin")),
        )
        state.waiting, state.terminated, state.ready = None, None, False
        state.started = not state.spec.get("startupProbe")
        await self._event("Normal", "Created", f"Created container {state.name}")
        await self._event("Normal", "Started", f"Started container {state.name}")
        await self._write_status()
        checks = asyncio.create_task(self._probe(state)) if probes_on else None
        code = await state.running.wait()
        if checks is not None:
            checks.cancel()
        state.ready = False
        state.terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": state.running.started_at,
            "finishedAt": now_rfc3339(),
            "containerID": f"labplatform://{state.running.proc.pid}",
        }
        await self._write_status()
        return code

    def _launch(self, state: ContainerState) -> list[str]:
        assert self.sandbox is not None and state.image is not None
        spec = state.spec
        env = container_environment(
            self.pod,
            spec,
            state.image.env,
            self.node.linked_services(self.pod["metadata"]["namespace"]),
            self.node.lookup(),
        )
        entrypoint = list(spec.get("command") or state.image.entrypoint)
        args = (
            spec.get("args")
            if spec.get("args") is not None
            else (state.image.command if not spec.get("command") else ())
        )
        argv = [expand(part, env) for part in (*entrypoint, *(args or ()))]
        if not argv:
            raise ContainerConfigError("no command specified")
        mounts = []
        for mount in spec.get("volumeMounts") or []:
            source = self.volumes.get(mount["name"])
            if source is None:
                raise ContainerConfigError(f'volume "{mount["name"]}" is not defined')
            if mount.get("subPath"):
                source = source / mount["subPath"]
            mounts.append(Mount(source, mount["mountPath"], bool(mount.get("readOnly"))))
        process = Command(
            Identity.of(self.pod, spec), spec.get("workingDir", ""), env, argv,
            tty=bool(spec.get("tty")),
        )  # fmt: skip
        return launch_argv(self.sandbox.pid, mounts, process)

    async def run_in(self, name: str, command: list[str], timeout: float) -> int:
        """Run ``command`` in a running container (exec probes)."""
        state = self.state(name)
        if state is None or state.running is None or (init := state.running.init_pid()) is None:
            return 1
        identity = Identity.of(self.pod, state.spec)
        argv = exec_argv(init, Command(identity, state.spec.get("workingDir", ""), {}, command))
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            async with asyncio.timeout(timeout):
                return await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return 1

    async def _probe(self, state: ContainerState) -> None:
        """Startup first, then liveness and readiness, each on its own period."""
        spec = state.spec
        assert self.sandbox is not None and state.running is not None
        running = state.running

        async def run(command: list[str], timeout: float) -> int:
            return await self.run_in(state.name, command, timeout)

        async def loop(kind: str, probe: Obj) -> None:
            await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
            successes = failures = 0
            while running.proc.returncode is None:
                assert self.sandbox is not None
                passed, why = await probes.attempt(probe, self.sandbox.ip, spec, run)
                successes, failures = (successes + 1, 0) if passed else (0, failures + 1)
                if not passed:
                    await self._event("Warning", "Unhealthy", f"{kind} probe failed: {why}")
                if kind == "Startup" and successes >= 1:
                    state.started = True
                    await self._write_status()
                    return
                if kind == "Readiness":
                    ready = successes >= int(probe.get("successThreshold", 1)) or (
                        state.ready and passed
                    )
                    if failures >= int(probe.get("failureThreshold", 3)):
                        ready = False
                    if ready != state.ready:
                        state.ready = ready
                        await self._write_status()
                elif failures >= int(probe.get("failureThreshold", 3)):
                    await self._event("Normal", "Killing", f"Container {state.name} failed "
                                      f"{kind.lower()} probe, will be restarted")  # fmt: skip
                    await running.stop(
                        float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))
                    )
                    return
                await asyncio.sleep(float(probe.get("periodSeconds", 10)))

        startup = spec.get("startupProbe")
        if startup:
            await loop("Startup", startup)
        tasks = []
        if spec.get("livenessProbe"):
            tasks.append(loop("Liveness", spec["livenessProbe"]))
        if spec.get("readinessProbe"):
            tasks.append(loop("Readiness", spec["readinessProbe"]))
        else:
            state.ready = True
            await self._write_status()
        await asyncio.gather(*tasks)

    async def _terminate(self, grace: float | None = None, delete: bool = True) -> None:
        """Stop the containers (SIGTERM, grace, SIGKILL), free the namespaces, finish deletion."""
        if grace is None:
            grace = float(self.pod["metadata"].get("deletionGracePeriodSeconds", 30))
        await self._stop_everything(grace)
        shutil.rmtree(self.dir, ignore_errors=True)
        if delete:
            namespace, name = ns_name(self.pod)
            with contextlib.suppress(ApiError):
                await self.node.api.delete(
                    self.node.api.registry.by_key(POD_KEY), namespace, name, grace_period=0,
                    preconditions={"uid": self.uid},
                )  # fmt: skip

    async def _stop_everything(self, grace: float) -> None:
        running = [c for c in self.containers if c.running and c.running.proc.returncode is None]
        for state in running:
            await self._event("Normal", "Killing", f"Stopping container {state.name}")
        await asyncio.gather(*(c.running.stop(grace) for c in running if c.running))
        for state in self.init:
            if state.running is not None:
                await state.running.stop(0)
        if self.sandbox is not None:
            await network.remove_pod_sandbox(self.sandbox, self.node.addresses)
            self.sandbox = None

    # -- status ----------------------------------------------------------------

    def status(self) -> Obj:
        containers = [c.status(init=False) for c in self.containers]
        ready = all(c.ready for c in self.containers) and self.phase == "Running"
        now = now_rfc3339()
        conditions: list[Obj] = [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": str(self.initialized)},
            {"type": "ContainersReady", "status": str(ready)},
            {"type": "Ready", "status": str(ready)},
        ]
        previous = {c["type"]: c for c in (self.pod.get("status") or {}).get("conditions", [])}
        for condition in conditions:
            old = previous.get(condition["type"])
            same = old is not None and old.get("status") == condition["status"]
            condition["lastTransitionTime"] = (
                old.get("lastTransitionTime", now) if same and old else now
            )
            condition["lastProbeTime"] = None
        status: Obj = {
            "phase": self.phase,
            "conditions": conditions,
            "hostIP": network.GATEWAY,
            "hostIPs": [{"ip": network.GATEWAY}],
            "startTime": self.started_at,
            "containerStatuses": containers,
            "qosClass": "BestEffort",
        }
        if self.init:
            status["initContainerStatuses"] = [c.status(init=True) for c in self.init]
        if self.sandbox is not None:
            status["podIP"] = self.sandbox.ip
            status["podIPs"] = [{"ip": self.sandbox.ip}]
        return status

    async def _write_status(self) -> None:
        status = self.status()
        if status == self._status_written:
            return
        namespace, name = ns_name(self.pod)
        for _ in range(5):
            live = self.node.api.store.get(POD_KEY, namespace, name)
            if live is None or live["metadata"]["uid"] != self.uid:
                return
            try:
                await write_status(self.node.api, POD_KEY, live, status)
                self._status_written = status
                return
            except ApiError as error:
                if error.code != 409:
                    log.warning(
                        "pod status not written", extra={"pod": self.describe, "error": str(error)}
                    )
                    return

    async def _event(
        self, kind: str, reason: str, message: str, component: str = COMPONENT
    ) -> None:
        await record_event(
            self.node.api,
            {"kind": "Pod", "apiVersion": "v1", **self.pod},
            kind,
            reason,
            message,
            component,
        )


def kubelet(context: NodeContext) -> Controller:
    """The kubelet as one of the API server's in-process controllers, for this node."""

    class BoundKubelet(Kubelet):
        node = context

    return controller(BoundKubelet)


class Kubelet(Reconciler[NsName]):
    """Binds new pods to the node and keeps one worker per pod."""

    name = "kubelet"
    watches: ClassVar[frozenset[str] | None] = frozenset({POD_KEY})
    node: ClassVar[NodeContext]

    def items_for(self, change: Change) -> Iterable[NsName]:
        return [ns_name(change.obj)]

    def all_items(self) -> Iterable[NsName]:
        return [ns_name(pod) for pod in self.api.store.objects(POD_KEY)]

    async def reconcile(self, item: NsName) -> float | None:
        node = self.node
        pod = self.api.store.get(POD_KEY, *item)
        stale = [
            w
            for w in node.workers.values()
            if ns_name(w.pod) == item and (pod is None or w.uid != pod["metadata"]["uid"])
        ]
        for gone in stale:  # the object went away without a graceful deletion
            gone.task.cancel()
        if pod is None:
            return None
        if not pod["spec"].get("nodeName"):
            # What the pods/binding subresource does: the one write that may set nodeName.
            bound = {**pod, "spec": {**pod["spec"], "nodeName": node.node_name}}
            self.api.store.update(POD_KEY, bound, pod["metadata"]["resourceVersion"])
            return None
        if pod["spec"]["nodeName"] != node.node_name:
            return None
        worker = node.workers.get(pod["metadata"]["uid"])
        if worker is not None:
            worker.update(pod)
        elif pod.get("status", {}).get("phase") not in ("Succeeded", "Failed") or pod[
            "metadata"
        ].get("deletionTimestamp"):
            node.workers[pod["metadata"]["uid"]] = PodWorker(node, pod)
        return None
