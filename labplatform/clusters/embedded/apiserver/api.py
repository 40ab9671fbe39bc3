"""Kubernetes object semantics on top of the store.

Both the HTTP handlers and the in-process controllers write through
:class:`Api`, so every write, whoever makes it, gets the same treatment:
defaults, validation, admission, uid and generation, optimistic
concurrency, finalizers and graceful deletion. The order follows the real
API server's: decode, default, prepare (kind-specific), mutating admission,
validate, validating admission, store.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from labplatform.clusters.embedded.apiserver import errors, patch, quota, schema, validation
from labplatform.clusters.embedded.apiserver.admission import AdmissionRequest, WebhookAdmission
from labplatform.clusters.embedded.apiserver.allocators import (
    ClusterIPAllocator,
    NodePortAllocator,
    allocation_cause,
)
from labplatform.clusters.embedded.apiserver.builtin_schemas import (
    BUILTIN_SCHEMAS,
    custom_resource_schema,
)
from labplatform.clusters.embedded.apiserver.defaults import apply_defaults
from labplatform.clusters.embedded.apiserver.errors import ApiError, Cause
from labplatform.clusters.embedded.apiserver.registry import (
    Registry,
    ResourceType,
    resource_from_crd,
)
from labplatform.clusters.embedded.apiserver.store import Obj, Store, StoreConflictError

log = logging.getLogger(__name__)

CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"
NAMESPACE_KEY = "/namespaces"
SERVICE_KEY = "/services"
POD_KEY = "/pods"
EVENT_KEY = "/events"
SA_KEY = "/serviceaccounts"
WEBHOOK_KEYS = (
    "admissionregistration.k8s.io/mutatingwebhookconfigurations",
    "admissionregistration.k8s.io/validatingwebhookconfigurations",
)
# Metadata the server owns: what a client sends here is ignored, as upstream.
SERVER_METADATA = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
)
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
MAX_RECENT_EVENTS = 10_000
TOKEN_VOLUME_PREFIX = "kube-api-access-"
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


def now_rfc3339(delta: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=delta)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class WriteOptions:
    """What a client may say about one write."""

    dry_run: bool = False
    field_manager: str = ""
    force: bool = False
    user: str = "admin"
    field_validation: str = "Warn"


DEFAULT_WRITE = WriteOptions()


class Api:
    """Create, read, update, patch and delete objects the way the API server does."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        *,
        service_cidr: str | None = None,
        service_url: Callable[[str, str, int, str], str] | None = None,
        root_ca: str = "",
    ) -> None:
        self.store = store
        self.registry = registry
        # Published into every namespace as the kube-root-ca.crt ConfigMap.
        self.root_ca = root_ca
        # (involved uid, reason, message) -> Event name, so a repeat finds its Event at once.
        self._recent_events: dict[tuple[str, str, str], str] = {}
        services = list(store.objects(SERVICE_KEY))
        self.cluster_ips = ClusterIPAllocator(
            **({"cidr": service_cidr} if service_cidr else {}),
            used=(s["spec"].get("clusterIP", "") for s in services),
        )
        self.node_ports = NodePortAllocator(
            p.get("nodePort", 0) for s in services for p in s["spec"].get("ports", [])
        )
        self.webhooks = WebhookAdmission(
            self._webhook_configurations,
            self._namespace_labels,
            **({"service_url": service_url} if service_url else {}),
        )
        for crd in store.objects(CRD_KEY):
            registry.add(resource_from_crd(crd))

    # -- reads -------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt.plural, name, rt.group)
        return obj

    def objects(self, rt: ResourceType, namespace: str | None) -> Iterator[Obj]:
        return self.store.objects(rt.key, namespace if rt.namespaced else None)

    # -- create ------------------------------------------------------------

    async def create(
        self,
        rt: ResourceType,
        namespace: str,
        body: Any,
        opts: WriteOptions = DEFAULT_WRITE,
        operation: str = "Update",
    ) -> Obj:
        obj = self._decode(rt, namespace, body, opts)
        meta = obj["metadata"]
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise errors.invalid(
                    rt.kind,
                    "",
                    [
                        Cause(
                            "FieldValueRequired",
                            "name or generateName is required",
                            "metadata.name",
                        )
                    ],
                    rt.group,
                )
            suffix = "".join(secrets.choice(NAME_SUFFIX_ALPHABET) for _ in range(5))
            meta["name"] = meta["generateName"] + suffix
        if meta.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        if rt.namespaced:
            self._check_namespace_open(namespace, meta["name"], rt)
        for field in SERVER_METADATA:
            meta.pop(field, None)
        self._prepare_create(rt, obj)
        if not rt.custom:
            apply_defaults(rt.kind, obj)
        if rt.key == POD_KEY:
            self._admit_service_account(obj)
            quota.apply_limit_defaults(obj, self.store.objects(quota.LIMITS_KEY, namespace))
        obj = await self._admit_mutating(rt, "CREATE", obj, None, opts)
        self._validate(rt, obj, None)
        if rt.key == SERVICE_KEY:
            self._allocate_service(obj, None)
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if "spec" in obj or rt.custom:
            meta["generation"] = 1
        self._record_manager(None, obj, opts, operation)
        await self._admit_validating(rt, "CREATE", obj, None, opts)
        if rt.namespaced and (quotas := list(self.store.objects(quota.QUOTA_KEY, namespace))):
            # The last step, with no await before the store: nothing slips in between.
            quota.check(rt.key, obj, quotas, lambda key: self.store.objects(key, namespace))
        if opts.dry_run:
            return obj
        try:
            created = self.store.create(rt.key, obj)
        except StoreConflictError:
            self._release_service(obj)
            raise errors.already_exists(rt.plural, meta["name"], rt.group) from None
        if rt.key == CRD_KEY:
            self.registry.add(resource_from_crd(created))
        return created

    def _prepare_create(self, rt: ResourceType, obj: Obj) -> None:
        """Kind-specific resets, like upstream's ``PrepareForCreate`` strategies."""
        if "status" in rt.subresources:
            obj.pop("status", None)
        if rt.kind == "Pod" and not rt.group:
            obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj)}
        elif rt.kind == "Namespace" and not rt.group:
            obj["status"] = {"phase": "Active"}
        elif rt.key == CRD_KEY:
            obj["status"] = _crd_status(obj)
        elif rt.kind == "Secret" and not rt.group:
            _fold_string_data(obj)

    def _admit_service_account(self, pod: Obj) -> None:
        """Upstream's ServiceAccount admission: the account must exist, its token is projected.

        The node runtime fills the projected volume: a bound token from the
        ``serviceaccounts/token`` subresource, the cluster CA, the namespace.
        """
        spec, meta = pod["spec"], pod["metadata"]
        namespace, account_name = meta["namespace"], spec.get("serviceAccountName") or "default"
        account = self.store.get(SA_KEY, namespace, account_name)
        if account is None:
            raise errors.forbidden(
                f'pods "{meta["name"]}" is forbidden: error looking up service account '
                f'{namespace}/{account_name}: serviceaccount "{account_name}" not found'
            )
        automount = spec.get("automountServiceAccountToken")
        if automount is None:
            automount = account.get("automountServiceAccountToken", True)
        volumes = spec.setdefault("volumes", [])
        if automount is False or any(
            v.get("name", "").startswith(TOKEN_VOLUME_PREFIX) for v in volumes
        ):
            return
        volume = TOKEN_VOLUME_PREFIX + "".join(
            secrets.choice(NAME_SUFFIX_ALPHABET) for _ in range(5)
        )
        sources = [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {
                "configMap": {
                    "name": ROOT_CA_CONFIGMAP,
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }
            },
            {
                "downwardAPI": {
                    "items": [
                        {
                            "path": "namespace",
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        }
                    ]
                }
            },
        ]
        volumes.append({"name": volume, "projected": {"defaultMode": 420, "sources": sources}})
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            mounts = container.setdefault("volumeMounts", [])
            if not any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in mounts):
                mounts.append({"name": volume, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH})

    # -- update ------------------------------------------------------------

    async def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        subresource: str = "",
        opts: WriteOptions = DEFAULT_WRITE,
        operation: str = "Update",
    ) -> Obj:
        old = self.get(rt, namespace, name)
        new = self._decode_named(rt, namespace, name, body, opts)
        return await self._update(rt, old, new, subresource, opts, operation)

    def _decode_named(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        opts: WriteOptions = DEFAULT_WRITE,
    ) -> Obj:
        """A request body for the object the URL names; a different name is refused."""
        obj = self._decode(rt, namespace, body, opts)
        if obj["metadata"].get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({obj['metadata']['name']}) does not match the name "
                f"on the URL ({name})"
            )
        obj["metadata"]["name"] = name
        return obj

    async def _update(
        self,
        rt: ResourceType,
        old: Obj,
        new: Obj,
        subresource: str,
        opts: WriteOptions,
        operation: str = "Update",
    ) -> Obj:
        name = old["metadata"]["name"]
        expected_rv = new["metadata"].get("resourceVersion") or None
        if expected_rv and expected_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.qualified, name)
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif "status" in rt.subresources:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if rt.key == NAMESPACE_KEY:
            # Only the finalize subresource changes a namespace's finalizers, as upstream.
            finalizers = (
                (new if subresource == "finalize" else old).get("spec", {}).get("finalizers", [])
            )
            if subresource == "finalize":
                new = copy.deepcopy(old)
            new.setdefault("spec", {})["finalizers"] = finalizers
        meta, old_meta = new["metadata"], old["metadata"]
        for field in (*SERVER_METADATA, "namespace"):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if rt.kind == "Secret" and not rt.group:
            _fold_string_data(new)
        if not rt.custom:
            apply_defaults(rt.kind, new, creating=False)
        new = await self._admit_mutating(rt, "UPDATE", new, old, opts)
        if _spec_changed(old, new):
            meta["generation"] = int(old_meta.get("generation", 0)) + 1
        self._validate(rt, new, old)
        if rt.key == SERVICE_KEY:
            self._allocate_service(new, old)
        if _unchanged(old, new):
            return old
        self._record_manager(old, new, opts, operation)
        await self._admit_validating(rt, "UPDATE", new, old, opts)
        if opts.dry_run:
            return new
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not _graceful(rt, new):
            return self._remove(rt, new)
        try:
            updated = self.store.update(rt.key, new, old_meta["resourceVersion"])
        except StoreConflictError:
            raise errors.conflict(rt.qualified, name) from None
        if rt.key == CRD_KEY:
            self.registry.add(resource_from_crd(updated))
        return updated

    # -- patch ---------------------------------------------------------------

    async def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        patch_type: str,
        body: Any,
        subresource: str = "",
        opts: WriteOptions = DEFAULT_WRITE,
    ) -> Obj:
        if patch_type == "apply":
            return await self._apply(rt, namespace, name, body, subresource, opts)
        old = self.get(rt, namespace, name)
        if patch_type == "json":
            patched = patch.json_patch(copy.deepcopy(old), body)
        elif patch_type == "merge":
            patched = patch.json_merge_patch(copy.deepcopy(old), body)
        elif patch_type == "strategic":
            if rt.custom:
                raise errors.unsupported_media_type("application/strategic-merge-patch+json")
            patched = patch.strategic_merge_patch(copy.deepcopy(old), body, rt.kind)
        else:
            raise errors.unsupported_media_type(patch_type)
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce an object")
        # A patch that names no resourceVersion applies to whatever is current.
        if not _patch_sets_resource_version(body):
            patched.setdefault("metadata", {})["resourceVersion"] = ""
        new = self._decode(rt, namespace, patched, opts)
        return await self._update(rt, old, new, subresource, opts)

    async def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        subresource: str,
        opts: WriteOptions,
    ) -> Obj:
        if not opts.field_manager:
            raise errors.bad_request(
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                "is required for apply patch"
            )
        applied = self._decode_named(rt, namespace, name, body, opts)
        live = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        merged = patch.server_side_apply(live, applied, opts.field_manager, opts.force)
        if live is None:
            merged["metadata"].pop("resourceVersion", None)
            return await self.create(rt, namespace, merged, opts, operation="Apply")
        if not _patch_sets_resource_version(body):
            merged["metadata"]["resourceVersion"] = ""
        return await self._update(rt, live, merged, subresource, opts, operation="Apply")

    # -- scale subresource -----------------------------------------------------

    def get_scale(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        return _scale_of(self.get(rt, namespace, name))

    async def update_scale(
        self, rt: ResourceType, namespace: str, name: str, scale: Any, opts: WriteOptions
    ) -> Obj:
        if not isinstance(scale, dict) or not isinstance(scale.get("spec"), dict):
            raise errors.bad_request("the body of the request must be an autoscaling/v1 Scale")
        replicas = scale["spec"].get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(
                "Scale",
                name,
                [
                    Cause(
                        "FieldValueInvalid",
                        f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                        "spec.replicas",
                    )
                ],
                "autoscaling",
            )
        old = self.get(rt, namespace, name)
        new = copy.deepcopy(old)
        new["spec"]["replicas"] = replicas
        rv = scale.get("metadata", {}).get("resourceVersion")
        new["metadata"]["resourceVersion"] = rv or ""
        return _scale_of(await self._update(rt, old, new, "", opts))

    async def patch_scale(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        patch_type: str,
        body: Any,
        opts: WriteOptions,
    ) -> Obj:
        current = self.get_scale(rt, namespace, name)
        if patch_type == "json":
            patched = patch.json_patch(current, body)
        elif patch_type in ("merge", "strategic"):
            patched = patch.json_merge_patch(current, body)
        else:
            raise errors.unsupported_media_type(patch_type)
        if not _patch_sets_resource_version(body) and isinstance(patched, dict):
            patched.setdefault("metadata", {})["resourceVersion"] = ""
        return await self.update_scale(rt, namespace, name, patched, opts)

    # -- delete ------------------------------------------------------------

    async def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        grace_period: int | None = None,
        propagation: str | None = None,
        preconditions: dict[str, str] | None = None,
        opts: WriteOptions = DEFAULT_WRITE,
    ) -> Obj:
        obj = self.get(rt, namespace, name)
        meta = obj["metadata"]
        for field, value in (preconditions or {}).items():
            if value and meta.get(field) != value:
                raise errors.conflict(
                    rt.qualified,
                    name,
                    why=f"Precondition failed: {field.upper() if field == 'uid' else field} in "
                    f"precondition: {value}, {field} in object meta: {meta.get(field)}",
                )
        await self._admit_validating(rt, "DELETE", None, obj, opts)
        finalizers = list(meta.get("finalizers", []))
        if propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        elif propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        grace = self._grace_period(rt, obj, grace_period)
        terminating = rt.kind == "Namespace" and not rt.group
        if meta.get("deletionTimestamp"):
            # Already terminating: only a shorter grace (e.g. the kubelet's 0) moves it on.
            if grace == 0 and not finalizers and not opts.dry_run:
                return self._remove(rt, obj)
            return obj
        if not finalizers and grace == 0 and not terminating:
            return obj if opts.dry_run else self._remove(rt, obj)
        new = copy.deepcopy(obj)
        new["metadata"]["deletionTimestamp"] = now_rfc3339(grace or 0)
        new["metadata"]["deletionGracePeriodSeconds"] = grace or 0
        if finalizers:
            new["metadata"]["finalizers"] = finalizers
        if terminating:
            new.setdefault("status", {})["phase"] = "Terminating"
        if opts.dry_run:
            return new
        return self.store.update(rt.key, new, meta["resourceVersion"])

    def _grace_period(self, rt: ResourceType, obj: Obj, requested: int | None) -> int:
        """Only pods bound to a node wait: the node runtime finishes their deletion."""
        if rt.kind != "Pod" or rt.group or not obj.get("spec", {}).get("nodeName"):
            return 0
        if obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(requested, 0)
        return int(obj["spec"].get("terminationGracePeriodSeconds", 30))

    def _remove(self, rt: ResourceType, obj: Obj) -> Obj:
        meta = obj["metadata"]
        try:
            removed = self.store.delete(rt.key, meta.get("namespace", ""), meta["name"])
        except StoreConflictError:
            raise errors.not_found(rt.plural, meta["name"], rt.group) from None
        if rt.key == SERVICE_KEY:
            self._release_service(removed)
        elif rt.key == CRD_KEY:
            self._remove_custom_resources(removed)
        return removed

    def _remove_custom_resources(self, crd: Obj) -> None:
        resource = resource_from_crd(crd)
        for obj in list(self.store.objects(resource.key)):
            meta = obj["metadata"]
            self.store.delete(resource.key, meta.get("namespace", ""), meta["name"])
        self.registry.remove(resource.group, resource.plural)

    # -- events --------------------------------------------------------------

    async def record_event(
        self, involved: Obj, event_type: str, reason: str, message: str, component: str
    ) -> None:
        """An Event about ``involved``; repeats of the same one raise its count."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        rt = self.registry.by_key(EVENT_KEY)
        key = (meta.get("uid", ""), reason, message)
        event = self.store.get(EVENT_KEY, namespace, self._recent_events.get(key, ""))
        if event is not None:
            updated = copy.deepcopy(event)
            updated["count"] = int(event.get("count", 1)) + 1
            updated["lastTimestamp"] = now_rfc3339()
            await self._update(rt, event, updated, "", DEFAULT_WRITE)
            return
        stamp = now_rfc3339()
        kind = involved.get("kind", "")
        created = await self.create(
            rt,
            namespace,
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{meta['name']}.{secrets.token_hex(8)}",
                    "namespace": namespace,
                },
                "involvedObject": {
                    "apiVersion": involved.get("apiVersion", ""),
                    "kind": kind,
                    "name": meta["name"],
                    "namespace": meta.get("namespace", ""),
                    "uid": meta.get("uid", ""),
                    "resourceVersion": meta.get("resourceVersion", ""),
                },
                "reason": reason,
                "message": message,
                "type": event_type,
                "source": {"component": component},
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
                "reportingComponent": component,
            },
        )
        if len(self._recent_events) > MAX_RECENT_EVENTS:
            self._recent_events.clear()
        self._recent_events[key] = created["metadata"]["name"]

    # -- helpers -------------------------------------------------------------

    def _decode(
        self, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions = DEFAULT_WRITE
    ) -> Obj:
        """Check the envelope of a request body the way upstream's decoder does."""
        if not isinstance(body, dict):
            raise errors.bad_request(
                f"the body of the request must be a JSON object, not {type(body).__name__}"
            )
        obj = copy.deepcopy(body)
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind is not None and kind != rt.kind:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version()})"
                if api_version != rt.api_version()
                else f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        if api_version is not None and api_version not in (rt.api_version(v) for v in rt.versions):
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version()})"
            )
        obj["kind"] = rt.kind
        obj["apiVersion"] = rt.api_version()
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata: must be an object")
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        kind_schema = self._kind_schema(rt)
        if kind_schema is not None:
            obj, _warnings = schema.decode(
                obj,
                kind_schema,
                kind=rt.kind,
                version=rt.storage_version,
                typed=not rt.custom,
                field_validation=opts.field_validation,  # type: ignore[arg-type]
            )
        return obj

    def _kind_schema(self, rt: ResourceType) -> Obj | None:
        if rt.custom:
            crd_schema = (
                rt.crd_versions[rt.storage_version].get("schema", {}).get("openAPIV3Schema")
            )
            return custom_resource_schema(crd_schema) if crd_schema else None
        return BUILTIN_SCHEMAS.get(f"{rt.group}/{rt.storage_version}/{rt.kind}")

    def _check_namespace_open(self, namespace: str, name: str, rt: ResourceType) -> None:
        ns = self.store.get(NAMESPACE_KEY, "", namespace)
        if ns is None:
            raise errors.not_found("namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                f'{rt.qualified} "{name}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated"
            )

    def _validate(self, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        meta = obj["metadata"]
        causes: list[Cause] = []
        kind_schema = self._kind_schema(rt)
        if rt.custom and kind_schema is not None:
            causes += schema.validate_schema(obj, kind_schema)
        causes += (
            validation.validate_create(rt.kind, obj)
            if old is None
            else validation.validate_update(rt.kind, old, obj)
        )
        if causes:
            raise errors.invalid(rt.kind, meta["name"], _dedupe(causes), rt.group)

    def _record_manager(
        self, old: Obj | None, new: Obj, opts: WriteOptions, operation: str
    ) -> None:
        if operation == "Apply":
            return  # server_side_apply has recorded the applier already
        manager = opts.field_manager or "unknown"
        new["metadata"]["managedFields"] = patch.record_update(old, new, manager)["metadata"].get(
            "managedFields", []
        )

    async def _admit_mutating(
        self, rt: ResourceType, operation: str, obj: Obj, old: Obj | None, opts: WriteOptions
    ) -> Obj:
        if rt.key in WEBHOOK_KEYS:
            return obj
        request = self._admission_request(rt, operation, obj, old, opts)
        mutated = await self.webhooks.mutate(request)
        if mutated is not obj and mutated != obj and not rt.custom:
            # As upstream decodes a patched object again: what a webhook added (a sidecar
            # container, say) gets its defaults like everything else.
            apply_defaults(rt.kind, mutated, creating=operation == "CREATE")
        return mutated

    async def _admit_validating(
        self, rt: ResourceType, operation: str, obj: Obj | None, old: Obj | None, opts: WriteOptions
    ) -> None:
        if rt.key in WEBHOOK_KEYS:
            return
        await self.webhooks.validate(self._admission_request(rt, operation, obj, old, opts))

    def _admission_request(
        self, rt: ResourceType, operation: str, obj: Obj | None, old: Obj | None, opts: WriteOptions
    ) -> AdmissionRequest:
        meta = (obj or old or {}).get("metadata", {})
        version = rt.storage_version
        return AdmissionRequest(
            uid=str(uuid.uuid4()),
            kind={"group": rt.group, "version": version, "kind": rt.kind},
            resource={"group": rt.group, "version": version, "resource": rt.plural},
            sub_resource="",
            name=meta.get("name", ""),
            namespace=meta.get("namespace", ""),
            operation=operation,
            user_info={"username": opts.user, "groups": ["system:masters", "system:authenticated"]},
            object=obj,
            old_object=old,
            dry_run=opts.dry_run,
            options=None,
        )

    def _webhook_configurations(self) -> list[Obj]:
        return [obj for key in WEBHOOK_KEYS for obj in self.store.objects(key)]

    def _namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = self.store.get(NAMESPACE_KEY, "", namespace)
        return dict(ns["metadata"].get("labels", {})) if ns else {}

    def _allocate_service(self, svc: Obj, old: Obj | None) -> None:
        spec = svc["spec"]
        if old is not None:
            spec["clusterIP"] = old["spec"].get("clusterIP", spec.get("clusterIP"))
            spec["clusterIPs"] = old["spec"].get("clusterIPs", spec.get("clusterIPs"))
        elif spec.get("type") != "ExternalName":
            requested = spec.get("clusterIP") or None
            if requested != "None":
                try:
                    ip = self.cluster_ips.allocate(requested)
                except ValueError as exc:
                    raise errors.invalid(
                        "Service",
                        svc["metadata"]["name"],
                        [allocation_cause("spec.clusterIPs", requested, exc)],
                    ) from None
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
            else:
                spec["clusterIPs"] = ["None"]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = {p.get("port"): p.get("nodePort") for p in (old or svc)["spec"]["ports"]}
            for port in spec.get("ports", []):
                if not port.get("nodePort"):
                    port["nodePort"] = old_ports.get(port.get("port")) or self.node_ports.allocate()
                elif old is None:
                    try:
                        self.node_ports.allocate(port["nodePort"])
                    except ValueError as exc:
                        raise errors.invalid(
                            "Service",
                            svc["metadata"]["name"],
                            [allocation_cause("spec.ports[0].nodePort", port["nodePort"], exc)],
                        ) from None

    def _release_service(self, svc: Obj) -> None:
        self.cluster_ips.release(svc.get("spec", {}).get("clusterIP"))
        for port in svc.get("spec", {}).get("ports", []):
            self.node_ports.release(port.get("nodePort"))


def _scale_of(obj: Obj) -> Obj:
    from labplatform.clusters.embedded.apiserver.selectors import label_selector_from_spec

    meta = obj["metadata"]
    selector = obj["spec"].get("selector") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": obj["spec"].get("replicas", 0)},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", 0),
            "selector": label_selector_from_spec(selector).to_query() if selector else "",
        },
    }


def _qos_class(pod: Obj) -> str:
    containers = pod.get("spec", {}).get("containers", []) or []
    resources = [c.get("resources", {}) or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        r.get("limits", {}).get(k)
        and r.get("requests", {}).get(k, r["limits"][k]) == r["limits"][k]
        for r in resources
        for k in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _crd_status(crd: Obj) -> Obj:
    stamp = now_rfc3339()
    names = crd.get("spec", {}).get("names", {})
    conditions = [
        {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": stamp}
        for t, r, m in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    stored = [v["name"] for v in crd.get("spec", {}).get("versions", []) if v.get("storage")]
    return {"acceptedNames": names, "conditions": conditions, "storedVersions": stored}


def _fold_string_data(secret: Obj) -> None:
    """``stringData`` is write-only: the server folds it into base64 ``data``."""
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict):
        data = secret.setdefault("data", {}) or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        secret["data"] = data


def _spec_changed(old: Obj, new: Obj) -> bool:
    """Generation counts changes to anything but metadata and status."""
    ignored = ("metadata", "status", "apiVersion", "kind")
    return {k: v for k, v in old.items() if k not in ignored} != {
        k: v for k, v in new.items() if k not in ignored
    }


def _unchanged(old: Obj, new: Obj) -> bool:
    """An update that changes nothing is not written (no new resourceVersion)."""

    def strip(obj: Obj) -> str:
        meta = {
            k: v
            for k, v in obj["metadata"].items()
            if k not in ("resourceVersion", "managedFields")
        }
        return json.dumps({**obj, "metadata": meta}, sort_keys=True)

    return strip(old) == strip(new)


def _graceful(rt: ResourceType, obj: Obj) -> bool:
    return rt.kind == "Namespace" and not rt.group and bool(obj.get("spec", {}).get("finalizers"))


def _patch_sets_resource_version(body: Any) -> bool:
    if isinstance(body, dict):
        return (
            bool(body.get("metadata", {}).get("resourceVersion"))
            if isinstance(body.get("metadata"), dict)
            else False
        )
    if isinstance(body, list):
        return any(
            isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion" for op in body
        )
    return False


def _without_meta(crd_schema: Obj) -> Obj:
    """A CRD schema minus ``apiVersion``/``kind``/``metadata``, which the server checks itself."""
    props = {
        k: v
        for k, v in crd_schema.get("properties", {}).items()
        if k not in ("apiVersion", "kind", "metadata")
    }
    return {**crd_schema, "properties": props}


def _dedupe(causes: list[Cause]) -> list[Cause]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for cause in causes:
        if (cause.field, cause.reason) not in seen:
            seen.add((cause.field, cause.reason))
            unique.append(cause)
    return unique


__all__ = ["DEFAULT_WRITE", "Api", "ApiError", "WriteOptions", "now_rfc3339"]
