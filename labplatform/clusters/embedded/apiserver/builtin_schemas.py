"""Structural schemas of the built-in kinds: types for decoding, text for explain.

Hand-written and compact, from the Kubernetes API reference. Every type labs
touch lists all its fields, so a typo (``imagePullPolice``) is an unknown
field exactly as on a real cluster, and every object carries the OpenAPI name
of its Go type (``GO_TYPE``), so a wrongly typed value gets Go's decoding
error and ``kubectl explain`` shows ``<DeploymentStrategy>``. Lists merged by
key carry upstream's patch marks, which kubectl reads to compute the
strategic merge patch of ``kubectl apply``. Types labs rarely touch
(affinity, topology spread, exotic volume sources, statuses) are typed
objects kept open (``x-kubernetes-preserve-unknown-fields``), so a valid
manifest is never refused for a field this file does not describe. Range and
enum checks with upstream's wording live in :mod:`.validation`; the ``enum``
lists here are what ``kubectl explain`` prints.
"""

from __future__ import annotations

from typing import Any

from labplatform.clusters.embedded.apiserver.schema import GO_TYPE, INT_OR_STRING, QUANTITY

Schema = dict[str, Any]

CORE = "io.k8s.api.core.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
APPS = "io.k8s.api.apps.v1."
DISCOVERY = "io.k8s.api.discovery.v1."
AUTOSCALING = "io.k8s.api.autoscaling.v1."
APIEXTENSIONS = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
ADMISSION = "io.k8s.api.admissionregistration.v1."
AUTHENTICATION = "io.k8s.api.authentication.v1."
AUTHORIZATION = "io.k8s.api.authorization.v1."
RBAC = "io.k8s.api.rbac.v1."
NETWORKING = "io.k8s.api.networking.v1."

# -- building blocks ---------------------------------------------------------------------


def _described(schema: Schema, desc: str, go: str = "") -> Schema:
    if desc:
        schema["description"] = desc
    if go:
        schema[GO_TYPE] = go
    return schema


def obj(
    desc: str,
    props: dict[str, Schema] | None = None,
    required: tuple[str, ...] = (),
    open_: bool = False,
    *,
    go: str = "",
) -> Schema:
    """An object; ``open_`` (or no ``props``) keeps fields it does not declare."""
    schema = _described({"type": "object"}, desc, go)
    if props:
        schema["properties"] = props
    if required:
        schema["required"] = list(required)
    if open_ or not props:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    return schema


def arr(items: Schema, desc: str = "") -> Schema:
    return _described({"type": "array", "items": items}, desc)


def s(desc: str = "", enum: tuple[str, ...] = (), *, go: str = "", fmt: str = "") -> Schema:
    schema = _described({"type": "string"}, desc, go)
    if enum:
        schema["enum"] = list(enum)
    if fmt:
        schema["format"] = fmt
    return schema


def i(
    desc: str = "", minimum: int | None = None, maximum: int | None = None, *, bits: int = 32
) -> Schema:
    schema = _described({"type": "integer", "format": f"int{bits}"}, desc)
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def i64(desc: str = "") -> Schema:
    return i(desc, bits=64)


def b(desc: str = "") -> Schema:
    return _described({"type": "boolean"}, desc)


def time(desc: str = "") -> Schema:
    return s(desc, fmt="date-time")


def int_or_string(desc: str = "") -> Schema:
    return _described({"x-kubernetes-int-or-string": True}, desc, INT_OR_STRING)


def quantity(desc: str = "") -> Schema:
    return _described({"x-kubernetes-int-or-string": True}, desc, QUANTITY)


def string_map(desc: str = "") -> Schema:
    return _described({"type": "object", "additionalProperties": {"type": "string"}}, desc)


def bytes_map(desc: str) -> Schema:
    values = {"type": "string", "format": "byte"}
    return _described({"type": "object", "additionalProperties": values}, desc)


def field(schema: Schema, desc: str) -> Schema:
    """A shared type used by one field, with that field's description."""
    return {**schema, "description": desc}


def strings(desc: str = "") -> Schema:
    return arr(s(), desc)


def resource_list(desc: str) -> Schema:
    list_ = {"type": "object", "additionalProperties": quantity()}
    return _described(list_, desc, CORE + "ResourceList")


def keyed(list_: Schema, *keys: str, strategy: str = "merge") -> Schema:
    """A list merged by key, as upstream publishes it: kubectl computes its strategic merge
    patches from these marks (the first key is the patch merge key), server-side apply from
    the list-map keys. Without them kubectl replaces the whole list."""
    return {
        **list_,
        "x-kubernetes-list-map-keys": list(keys),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-patch-merge-key": keys[0],
        "x-kubernetes-patch-strategy": strategy,
    }


def _status(desc: str, go: str, props: dict[str, Schema]) -> Schema:
    """A status: written by the system, so kept open to what controllers record."""
    return obj(desc, props, open_=True, go=go)


# -- meta ---------------------------------------------------------------------------------

OWNER_REFERENCE = obj(
    "Identifies an owning object; the garbage collector deletes dependents of deleted owners.",
    {
        "apiVersion": s("API version of the referent."),
        "blockOwnerDeletion": b("If true, the owner cannot be deleted before this reference is."),
        "controller": b("If true, this reference points to the managing controller."),
        "kind": s("Kind of the referent."),
        "name": s("Name of the referent."),
        "uid": s("UID of the referent."),
    },
    ("apiVersion", "kind", "name", "uid"),
    go=META + "OwnerReference",
)
MANAGED_FIELDS_ENTRY = obj(
    "The fields a workflow (a field manager) has set, and how.",
    {
        "apiVersion": s("Version of the resource the field set applies to."),
        "fieldsType": s("Format of fieldsV1; only FieldsV1 exists."),
        "fieldsV1": obj("The field set, in FieldsV1 format.", go=META + "FieldsV1"),
        "manager": s("Identifier of the workflow managing these fields."),
        "operation": s("The operation that set these fields: Apply or Update."),
        "subresource": s("The subresource used to update the object, if any."),
        "time": time("When these fields were last changed."),
    },
    go=META + "ManagedFieldsEntry",
)
OBJECT_META = obj(
    "Metadata all persisted resources carry: name, namespace, labels, annotations and more.",
    {
        "annotations": string_map(
            "Unstructured key-value map stored with a resource that tools may set to store and "
            "retrieve arbitrary metadata. Not queryable."
        ),
        "creationTimestamp": time("When this object was created. Set by the server; read-only."),
        "deletionGracePeriodSeconds": i64(
            "Seconds allowed for graceful termination before the object is removed."
        ),
        "deletionTimestamp": time("When this object will be deleted. Set by the server."),
        "finalizers": {
            **strings("Must be empty before the object is deleted from the registry."),
            "x-kubernetes-list-type": "set",
            "x-kubernetes-patch-strategy": "merge",
        },
        "generateName": s(
            "Prefix the server uses to generate a unique name when name is not provided."
        ),
        "generation": i64("A sequence number of the desired state. Set by the system."),
        "labels": string_map(
            "Map of string keys and values that can be used to organize and categorize (scope "
            "and select) objects."
        ),
        "managedFields": arr(MANAGED_FIELDS_ENTRY, "Which field managers own which fields."),
        "name": s(
            "Name must be unique within a namespace. Required when creating resources, although "
            "some resources may allow a client to request a generated name. Cannot be updated."
        ),
        "namespace": s(
            "The space within which each name must be unique. An empty namespace is the "
            '"default" namespace for namespaced kinds. Cannot be updated.'
        ),
        "ownerReferences": keyed(arr(OWNER_REFERENCE, "Objects this object depends on."), "uid"),
        "resourceVersion": s(
            "An opaque value for the internal version of this object, used for optimistic "
            "concurrency, change detection and watches. Read-only."
        ),
        "selfLink": s("Deprecated; no longer set."),
        "uid": s("Unique in time and space for this object. Set by the server; read-only."),
    },
    go=META + "ObjectMeta",
)
METADATA = field(
    OBJECT_META,
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
)
LABEL_SELECTOR = obj(
    "A label query over a set of resources: the results of matchLabels and matchExpressions "
    "are ANDed. An empty selector matches all objects; a null one matches none.",
    {
        "matchExpressions": arr(
            obj(
                "A selector requirement: a key, an operator and values.",
                {
                    "key": s("The label key that the selector applies to."),
                    "operator": s(
                        "The key's relationship to a set of values.",
                        ("DoesNotExist", "Exists", "In", "NotIn"),
                    ),
                    "values": strings(
                        "Values for In and NotIn (non-empty); must be empty for Exists and "
                        "DoesNotExist."
                    ),
                },
                ("key", "operator"),
                go=META + "LabelSelectorRequirement",
            ),
            "A list of label selector requirements, ANDed.",
        ),
        "matchLabels": string_map(
            "A map of {key,value} pairs; each is equivalent to a matchExpressions element with "
            'operator "In" and that single value.'
        ),
    },
    go=META + "LabelSelector",
)
OBJECT_REFERENCE = obj(
    "A reference to an object, with enough information to inspect or modify it.",
    {
        "apiVersion": s("API version of the referent."),
        "fieldPath": s("A field within the object, such as spec.containers{name}."),
        "kind": s("Kind of the referent."),
        "name": s("Name of the referent."),
        "namespace": s("Namespace of the referent."),
        "resourceVersion": s("Specific resourceVersion this reference is made to."),
        "uid": s("UID of the referent."),
    },
    go=CORE + "ObjectReference",
)
LOCAL_OBJECT_REFERENCE = obj(
    "A reference to an object in the same namespace.",
    {"name": s("Name of the referent.")},
    go=CORE + "LocalObjectReference",
)

# -- containers ---------------------------------------------------------------------------

PROTOCOL = s(
    "Protocol for port. Must be UDP, TCP, or SCTP. Defaults to TCP.",
    ("SCTP", "TCP", "UDP"),
    go=CORE + "Protocol",
)


def _key_selector(what: str, go: str) -> Schema:
    return obj(
        f"Selects a key of a {what}.",
        {
            "key": s("The key to select."),
            "name": s(f"Name of the {what}."),
            "optional": b(f"Whether the {what} or its key must be defined."),
        },
        ("key",),
        go=go,
    )


def _env_source(what: str, go: str) -> Schema:
    return obj(
        f"Populates environment variables from a {what}.",
        {"name": s(f"Name of the {what}."), "optional": b(f"Whether the {what} must be defined.")},
        go=go,
    )


OBJECT_FIELD_SELECTOR = obj(
    "Selects a field of the pod.",
    {
        "apiVersion": s('Version of the schema the FieldPath is written in; defaults to "v1".'),
        "fieldPath": s("Path of the field to select, e.g. metadata.name or status.podIP."),
    },
    ("fieldPath",),
    go=CORE + "ObjectFieldSelector",
)
RESOURCE_FIELD_SELECTOR = obj(
    "Selects a resource of the container: limits.cpu, requests.memory and the like.",
    {
        "containerName": s("Container name: required for volumes, optional for env vars."),
        "divisor": quantity('Output format of the exposed resources; defaults to "1".'),
        "resource": s("Required: resource to select."),
    },
    ("resource",),
    go=CORE + "ResourceFieldSelector",
)
ENV_VAR = obj(
    "An environment variable present in a container.",
    {
        "name": s("Name of the environment variable."),
        "value": s(
            "Variable value. $(VAR_NAME) references to earlier variables are expanded. "
            'Defaults to "".'
        ),
        "valueFrom": obj(
            "Source for the value. Cannot be used if value is not empty.",
            {
                "configMapKeyRef": _key_selector("ConfigMap", CORE + "ConfigMapKeySelector"),
                "fieldRef": OBJECT_FIELD_SELECTOR,
                "fileKeyRef": obj("Selects a key of an env file.", go=CORE + "FileKeySelector"),
                "resourceFieldRef": RESOURCE_FIELD_SELECTOR,
                "secretKeyRef": _key_selector("Secret", CORE + "SecretKeySelector"),
            },
            go=CORE + "EnvVarSource",
        ),
    },
    ("name",),
    go=CORE + "EnvVar",
)
ENV_FROM_SOURCE = obj(
    "A source to populate environment variables in the container from.",
    {
        "configMapRef": _env_source("ConfigMap", CORE + "ConfigMapEnvSource"),
        "prefix": s("Optional text to prepend to the name of each variable."),
        "secretRef": _env_source("Secret", CORE + "SecretEnvSource"),
    },
    go=CORE + "EnvFromSource",
)
RESOURCE_REQUIREMENTS = obj(
    "Compute resource requirements.",
    {
        "claims": arr(
            obj("A resource claim this container uses.", go=CORE + "ResourceClaim"),
            "Names of resource claims (spec.resourceClaims) this container uses.",
        ),
        "limits": resource_list("The maximum amount of compute resources allowed."),
        "requests": resource_list(
            "The minimum amount of compute resources required; defaults to limits when omitted."
        ),
    },
    go=CORE + "ResourceRequirements",
)
VOLUME_MOUNT = obj(
    "A mounting of a volume within a container.",
    {
        "mountPath": s(
            "Path within the container at which to mount the volume. Must not contain ':'."
        ),
        "mountPropagation": s(
            "How mounts propagate between host and container.",
            ("Bidirectional", "HostToContainer", "None"),
            go=CORE + "MountPropagationMode",
        ),
        "name": s("This must match the name of a volume."),
        "readOnly": b("Mounted read-only if true, read-write otherwise. Defaults to false."),
        "recursiveReadOnly": s("Whether read-only mounts are made recursively read-only."),
        "subPath": s("Path within the volume from which to mount. Defaults to the volume root."),
        "subPathExpr": s("Like subPath, with $(VAR_NAME) expanded from the container's env."),
    },
    ("name", "mountPath"),
    go=CORE + "VolumeMount",
)
HTTP_GET = obj(
    "An HTTP GET request to perform.",
    {
        "host": s("Host name to connect to; defaults to the pod IP."),
        "httpHeaders": arr(
            obj(
                "A custom HTTP header.",
                {"name": s("The header field name."), "value": s("The header field value.")},
                ("name", "value"),
                go=CORE + "HTTPHeader",
            ),
            "Custom headers to set in the request.",
        ),
        "path": s("Path to access on the HTTP server."),
        "port": int_or_string("Name or number of the port to access on the container."),
        "scheme": s(
            "Scheme to use for connecting to the host. Defaults to HTTP.",
            ("HTTP", "HTTPS"),
            go=CORE + "URIScheme",
        ),
    },
    ("port",),
    go=CORE + "HTTPGetAction",
)
TCP_SOCKET = obj(
    "A TCP connection to open.",
    {
        "host": s("Host name to connect to; defaults to the pod IP."),
        "port": int_or_string("Number or name of the port to access on the container."),
    },
    ("port",),
    go=CORE + "TCPSocketAction",
)
EXEC = obj(
    "A command to run in the container.",
    {
        "command": strings(
            "The command line to run inside the container; not run in a shell. Exit status 0 "
            "is healthy."
        )
    },
    go=CORE + "ExecAction",
)
PROBE = obj(
    "A health check performed against a container to tell whether it is alive or ready.",
    {
        "exec": EXEC,
        "failureThreshold": i("Consecutive failures for the probe to count as failed. Default 3."),
        "grpc": obj(
            "A gRPC health check.",
            {
                "port": i("Port number of the gRPC service."),
                "service": s("Service name placed in the gRPC HealthCheckRequest."),
            },
            ("port",),
            go=CORE + "GRPCAction",
        ),
        "httpGet": HTTP_GET,
        "initialDelaySeconds": i("Seconds after the container started before probes begin."),
        "periodSeconds": i("How often (in seconds) to probe. Default 10."),
        "successThreshold": i(
            "Consecutive successes for the probe to count as successful after a failure. "
            "Default 1; must be 1 for liveness and startup."
        ),
        "tcpSocket": TCP_SOCKET,
        "terminationGracePeriodSeconds": i64(
            "Grace period for the pod when this probe fails; overrides the pod's value."
        ),
        "timeoutSeconds": i("Seconds after which the probe times out. Default 1."),
    },
    go=CORE + "Probe",
)
LIFECYCLE_HANDLER = obj(
    "An action to take in a container lifecycle hook.",
    {
        "exec": EXEC,
        "httpGet": HTTP_GET,
        "sleep": obj(
            "Sleeps for a duration.",
            {"seconds": i64("Seconds to sleep.")},
            ("seconds",),
            go=CORE + "SleepAction",
        ),
        "tcpSocket": TCP_SOCKET,
    },
    go=CORE + "LifecycleHandler",
)
LIFECYCLE = obj(
    "Actions the management system should take in response to container lifecycle events.",
    {
        "postStart": field(LIFECYCLE_HANDLER, "Called right after the container is created."),
        "preStop": field(LIFECYCLE_HANDLER, "Called before the container is terminated."),
        "stopSignal": s("The signal sent to stop the container."),
    },
    go=CORE + "Lifecycle",
)
SECCOMP_PROFILE = obj(
    "A seccomp profile.",
    {
        "localhostProfile": s("A profile in a file on the node; for type Localhost."),
        "type": s(
            "Which kind of seccomp profile applies.",
            ("Localhost", "RuntimeDefault", "Unconfined"),
            go=CORE + "SeccompProfileType",
        ),
    },
    ("type",),
    go=CORE + "SeccompProfile",
)
_SHARED_SECURITY = {
    "appArmorProfile": obj("AppArmor options.", go=CORE + "AppArmorProfile"),
    "runAsGroup": i64("GID to run the entrypoint of the container process as."),
    "runAsNonRoot": b("The container must run as a non-root user."),
    "runAsUser": i64("UID to run the entrypoint of the container process as."),
    "seLinuxOptions": obj("SELinux context to apply.", go=CORE + "SELinuxOptions"),
    "seccompProfile": SECCOMP_PROFILE,
    "windowsOptions": obj("Windows-specific settings.", go=CORE + "WindowsSecurityContextOptions"),
}
SECURITY_CONTEXT = obj(
    "Security options the container runs with; they override the pod's.",
    {
        "allowPrivilegeEscalation": b(
            "Whether a process can gain more privileges than its parent."
        ),
        "capabilities": obj(
            "POSIX capabilities to add or drop.",
            {"add": strings("Added capabilities."), "drop": strings("Removed capabilities.")},
            go=CORE + "Capabilities",
        ),
        "privileged": b("Run the container in privileged mode. Defaults to false."),
        "procMount": s("The type of proc mount to use."),
        "readOnlyRootFilesystem": b("Whether the container has a read-only root filesystem."),
        **_SHARED_SECURITY,
    },
    go=CORE + "SecurityContext",
)
POD_SECURITY_CONTEXT = obj(
    "Pod-level security attributes and common container settings.",
    {
        "fsGroup": i64("A supplemental group that owns the pod's volumes."),
        "fsGroupChangePolicy": s("How volume ownership is changed: OnRootMismatch or Always."),
        "seLinuxChangePolicy": s("How the SELinux label is applied to volumes."),
        "supplementalGroups": arr(i64(), "Groups added to each container's first process."),
        "supplementalGroupsPolicy": s("How supplemental groups of the first process are computed."),
        "sysctls": arr(
            obj(
                "A kernel parameter to set.",
                {"name": s("Name of the property."), "value": s("Value of the property.")},
                ("name", "value"),
                go=CORE + "Sysctl",
            ),
            "Namespaced sysctls used for the pod.",
        ),
        **_SHARED_SECURITY,
    },
    go=CORE + "PodSecurityContext",
)
CONTAINER = obj(
    "A single application container to run within a pod.",
    {
        "args": strings(
            "Arguments to the entrypoint; the image's CMD is used if not given. $(VAR_NAME) is "
            "expanded from the container's environment."
        ),
        "command": strings(
            "Entrypoint array, not run in a shell; the image's ENTRYPOINT is used if not given."
        ),
        "env": keyed(arr(ENV_VAR, "Environment variables to set in the container."), "name"),
        "envFrom": arr(
            ENV_FROM_SOURCE,
            "Sources of environment variables; keys become variable names. Values in env win.",
        ),
        "image": s(
            "Container image name. More info: https://kubernetes.io/docs/concepts/containers/images"
        ),
        "imagePullPolicy": s(
            "Image pull policy. Defaults to Always if the :latest tag is specified (or no tag), "
            "IfNotPresent otherwise.",
            ("Always", "IfNotPresent", "Never"),
            go=CORE + "PullPolicy",
        ),
        "lifecycle": LIFECYCLE,
        "livenessProbe": field(
            PROBE, "Periodic probe of container liveness; the container restarts when it fails."
        ),
        "name": s("Name of the container, a DNS_LABEL unique within the pod. Cannot be updated."),
        "ports": keyed(
            arr(
                obj(
                    "A network port in a single container.",
                    {
                        "containerPort": i(
                            "Port to expose on the pod's IP address; 0 < x < 65536."
                        ),
                        "hostIP": s("What host IP to bind the external port to."),
                        "hostPort": i(
                            "Port to expose on the host; most containers do not need this."
                        ),
                        "name": s(
                            "An IANA_SVC_NAME, unique within the pod, that services can refer to."
                        ),
                        "protocol": PROTOCOL,
                    },
                    ("containerPort",),
                    go=CORE + "ContainerPort",
                ),
                "Ports to expose from the container; informational, except for named ports.",
            ),
            "containerPort",
            "protocol",
        ),
        "readinessProbe": field(
            PROBE, "Periodic probe of container readiness; unready pods leave service endpoints."
        ),
        "resizePolicy": arr(
            obj(
                "Resize policy for one container resource.",
                {"resourceName": s("Name of the resource."), "restartPolicy": s("Restart policy.")},
                ("resourceName", "restartPolicy"),
                go=CORE + "ContainerResizePolicy",
            ),
            "Resources resize policy for the container.",
        ),
        "resources": field(RESOURCE_REQUIREMENTS, "Compute resources required by this container."),
        "restartPolicy": s(
            "Restart behaviour of this container; for init containers, Always makes a sidecar.",
            go=CORE + "ContainerRestartPolicy",
        ),
        "restartPolicyRules": arr(
            obj(
                "A rule deciding whether to restart the container on exit.",
                go=CORE + "ContainerRestartRule",
            ),
            "Rules deciding whether to restart the container on exit.",
        ),
        "securityContext": SECURITY_CONTEXT,
        "startupProbe": field(
            PROBE, "Probe that must succeed before liveness and readiness probes start."
        ),
        "stdin": b("Whether this container allocates a buffer for stdin. Default false."),
        "stdinOnce": b("Whether the runtime closes stdin after the first attach."),
        "terminationMessagePath": s(
            "File the container's termination message is written to. "
            "Defaults to /dev/termination-log."
        ),
        "terminationMessagePolicy": s(
            "How the termination message is populated. Defaults to File.",
            ("FallbackToLogsOnError", "File"),
            go=CORE + "TerminationMessagePolicy",
        ),
        "tty": b("Whether this container allocates a TTY for itself; also requires stdin."),
        "volumeDevices": keyed(
            arr(
                obj(
                    "A raw block device within a container.",
                    {
                        "devicePath": s("Path inside the container the device is mapped to."),
                        "name": s("Name of a persistentVolumeClaim in the pod."),
                    },
                    ("name", "devicePath"),
                    go=CORE + "VolumeDevice",
                ),
                "Block devices to be used by the container.",
            ),
            "devicePath",
        ),
        "volumeMounts": keyed(
            arr(VOLUME_MOUNT, "Pod volumes to mount into the container's filesystem."), "mountPath"
        ),
        "workingDir": s("Container's working directory; defaults to the image's."),
    },
    ("name",),
    go=CORE + "Container",
)

# -- volumes -------------------------------------------------------------------------------

KEY_TO_PATH = obj(
    "Maps a string key to a path within a volume.",
    {
        "key": s("The key to project."),
        "mode": i("Mode bits of this file, 0000 to 0777 (octal) or 0 to 511 (decimal)."),
        "path": s("Relative path of the file to map the key to; may not contain '..'."),
    },
    ("key", "path"),
    go=CORE + "KeyToPath",
)
DOWNWARD_API_FILE = obj(
    "A file holding pod field information.",
    {
        "fieldRef": OBJECT_FIELD_SELECTOR,
        "mode": i("Mode bits of this file."),
        "path": s("Relative path name of the file to be created."),
        "resourceFieldRef": RESOURCE_FIELD_SELECTOR,
    },
    ("path",),
    go=CORE + "DownwardAPIVolumeFile",
)
DEFAULT_MODE = i("Mode bits for created files by default, 0000 to 0777 (octal). Defaults to 0644.")


def _projection(what: str, go: str, name_key: str = "name") -> Schema:
    return obj(
        f"Projects a {what} into a volume: each key becomes a file.",
        {
            **({"defaultMode": DEFAULT_MODE} if go.endswith("VolumeSource") else {}),
            "items": arr(KEY_TO_PATH, "Which keys to project, and where; all keys if omitted."),
            name_key: s(f"Name of the {what}."),
            "optional": b(f"Whether the {what} or its keys must be defined."),
        },
        go=go,
    )


SERVICE_ACCOUNT_TOKEN_PROJECTION = obj(
    "Projects a service account token, which the kubelet requests and refreshes.",
    {
        "audience": s("Intended audience of the token; defaults to the API server's."),
        "expirationSeconds": i64("Requested validity of the token. Defaults to 1 hour."),
        "path": s("Path relative to the mount point of the file holding the token."),
    },
    ("path",),
    go=CORE + "ServiceAccountTokenProjection",
)
PROJECTED = obj(
    "Several volume sources projected into one directory.",
    {
        "defaultMode": DEFAULT_MODE,
        "sources": arr(
            obj(
                "One projection.",
                {
                    "clusterTrustBundle": obj(
                        "A ClusterTrustBundle's certificates.",
                        go=CORE + "ClusterTrustBundleProjection",
                    ),
                    "configMap": _projection("ConfigMap", CORE + "ConfigMapProjection"),
                    "downwardAPI": obj(
                        "Pod field information.",
                        {"items": arr(DOWNWARD_API_FILE, "Files of pod fields.")},
                        go=CORE + "DownwardAPIProjection",
                    ),
                    "podCertificate": obj(
                        "A pod certificate and key.", go=CORE + "PodCertificateProjection"
                    ),
                    "secret": _projection("Secret", CORE + "SecretProjection"),
                    "serviceAccountToken": SERVICE_ACCOUNT_TOKEN_PROJECTION,
                },
                go=CORE + "VolumeProjection",
            ),
            "The projections.",
        ),
    },
    go=CORE + "ProjectedVolumeSource",
)
# Volume sources labs never configure: typed, but kept open.
_RARE_VOLUME_SOURCES = {
    "awsElasticBlockStore": "AWSElasticBlockStoreVolumeSource",
    "azureDisk": "AzureDiskVolumeSource",
    "azureFile": "AzureFileVolumeSource",
    "cephfs": "CephFSVolumeSource",
    "cinder": "CinderVolumeSource",
    "csi": "CSIVolumeSource",
    "ephemeral": "EphemeralVolumeSource",
    "fc": "FCVolumeSource",
    "flexVolume": "FlexVolumeSource",
    "flocker": "FlockerVolumeSource",
    "gcePersistentDisk": "GCEPersistentDiskVolumeSource",
    "gitRepo": "GitRepoVolumeSource",
    "glusterfs": "GlusterfsVolumeSource",
    "iscsi": "ISCSIVolumeSource",
    "nfs": "NFSVolumeSource",
    "photonPersistentDisk": "PhotonPersistentDiskVolumeSource",
    "portworxVolume": "PortworxVolumeSource",
    "quobyte": "QuobyteVolumeSource",
    "rbd": "RBDVolumeSource",
    "scaleIO": "ScaleIOVolumeSource",
    "storageos": "StorageOSVolumeSource",
    "vsphereVolume": "VsphereVirtualDiskVolumeSource",
}
VOLUME = obj(
    "A named volume in a pod that any container in the pod may mount.",
    {
        "name": s("Name of the volume, a DNS_LABEL unique within the pod."),
        "configMap": _projection("ConfigMap", CORE + "ConfigMapVolumeSource"),
        "downwardAPI": obj(
            "Pod field information, as files.",
            {"defaultMode": DEFAULT_MODE, "items": arr(DOWNWARD_API_FILE, "Files of pod fields.")},
            go=CORE + "DownwardAPIVolumeSource",
        ),
        "emptyDir": obj(
            "A temporary directory that shares the pod's lifetime.",
            {
                "medium": s('Storage medium: "" (the node default) or Memory.'),
                "sizeLimit": quantity("Total amount of local storage the volume may use."),
            },
            go=CORE + "EmptyDirVolumeSource",
        ),
        "hostPath": obj(
            "A file or directory on the node, exposed to the pod.",
            {
                "path": s("Path of the directory on the host; a symlink is followed."),
                "type": s(
                    'Type of the host path; defaults to "" (no checks).', go=CORE + "HostPathType"
                ),
            },
            ("path",),
            go=CORE + "HostPathVolumeSource",
        ),
        "image": obj(
            "An OCI image or artifact, mounted read-only.",
            {"pullPolicy": s("Pull policy of the image."), "reference": s("Image reference.")},
            go=CORE + "ImageVolumeSource",
        ),
        "persistentVolumeClaim": obj(
            "A PersistentVolumeClaim in the same namespace.",
            {
                "claimName": s("Name of the PersistentVolumeClaim."),
                "readOnly": b("Mount read-only."),
            },
            ("claimName",),
            go=CORE + "PersistentVolumeClaimVolumeSource",
        ),
        "projected": PROJECTED,
        "secret": _projection("Secret", CORE + "SecretVolumeSource", "secretName"),
        **{
            name: obj(f"A {name} volume.", go=CORE + go)
            for name, go in sorted(_RARE_VOLUME_SOURCES.items())
        },
    },
    ("name",),
    go=CORE + "Volume",
)

# -- pods ----------------------------------------------------------------------------------


def _open_items(desc: str, go: str, item: str = "") -> Schema:
    return arr(obj(item or desc, go=go), desc)


POD_SPEC = obj(
    "The specification of a pod: its containers, volumes and scheduling.",
    {
        "activeDeadlineSeconds": i64(
            "Seconds the pod may be active on the node before the system tries to kill it."
        ),
        "affinity": obj("The pod's scheduling constraints.", go=CORE + "Affinity"),
        "automountServiceAccountToken": b(
            "Whether a service account token is mounted automatically."
        ),
        "containers": keyed(
            arr(CONTAINER, "Containers of the pod; at least one. Cannot be added or removed."),
            "name",
        ),
        "dnsConfig": obj(
            "DNS parameters of the pod, merged with those dnsPolicy generates.",
            {
                "nameservers": strings("DNS name server IP addresses."),
                "options": arr(
                    obj(
                        "A resolver option.",
                        {"name": s("Option name."), "value": s("Option value.")},
                        go=CORE + "PodDNSConfigOption",
                    ),
                    "DNS resolver options.",
                ),
                "searches": strings("DNS search domains for host-name lookup."),
            },
            go=CORE + "PodDNSConfig",
        ),
        "dnsPolicy": s(
            "DNS policy for the pod. Defaults to ClusterFirst.",
            ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"),
            go=CORE + "DNSPolicy",
        ),
        "enableServiceLinks": b(
            "Whether service environment variables are injected. Defaults to true."
        ),
        "ephemeralContainers": keyed(
            _open_items(
                "Ephemeral containers run in this pod for debugging.", CORE + "EphemeralContainer"
            ),
            "name",
        ),
        "hostAliases": keyed(
            arr(
                obj(
                    "An /etc/hosts entry.",
                    {"hostnames": strings("Hostnames for the IP address."), "ip": s("IP address.")},
                    ("ip",),
                    go=CORE + "HostAlias",
                ),
                "Entries added to the pod's /etc/hosts.",
            ),
            "ip",
        ),
        "hostIPC": b("Use the host's ipc namespace."),
        "hostNetwork": b("Use the host's network namespace."),
        "hostPID": b("Use the host's pid namespace."),
        "hostUsers": b("Use the host's user namespace. Defaults to true."),
        "hostname": s("Hostname of the pod; defaults to a system-defined value."),
        "hostnameOverride": s("Overrides the pod's hostname."),
        "imagePullSecrets": keyed(
            arr(LOCAL_OBJECT_REFERENCE, "Secrets in the same namespace used to pull images."),
            "name",
        ),
        "initContainers": keyed(
            arr(CONTAINER, "Containers run to completion, in order, before the others."), "name"
        ),
        "nodeName": s("Requests scheduling onto this node; usually set by the scheduler."),
        "nodeSelector": string_map("Labels a node must have for the pod to be scheduled onto it."),
        "os": obj(
            "The pod's operating system.",
            {"name": s("Name of the operating system: linux or windows.")},
            ("name",),
            go=CORE + "PodOS",
        ),
        "overhead": resource_list("Resource overhead of running the pod's sandbox."),
        "preemptionPolicy": s(
            "Policy for preempting lower-priority pods.",
            ("Never", "PreemptLowerPriority"),
            go=CORE + "PreemptionPolicy",
        ),
        "priority": i("Priority value; set by the admission controller from priorityClassName."),
        "priorityClassName": s("Name of the pod's PriorityClass."),
        "readinessGates": arr(
            obj(
                "A condition that must hold for the pod to be ready.",
                {"conditionType": s("Type of a condition in the pod's condition list.")},
                ("conditionType",),
                go=CORE + "PodReadinessGate",
            ),
            "Extra conditions evaluated for pod readiness.",
        ),
        "resourceClaims": keyed(
            _open_items("Resource claims the pod's containers may use.", CORE + "PodResourceClaim"),
            "name",
            strategy="merge,retainKeys",
        ),
        "resources": field(RESOURCE_REQUIREMENTS, "Total resources of the pod."),
        "restartPolicy": s(
            "Restart policy for all containers within the pod. Defaults to Always.",
            ("Always", "Never", "OnFailure"),
            go=CORE + "RestartPolicy",
        ),
        "runtimeClassName": s("RuntimeClass used to run this pod."),
        "schedulerName": s("The scheduler dispatching this pod; defaults to default-scheduler."),
        "schedulingGates": keyed(
            arr(
                obj(
                    "A gate that blocks scheduling.",
                    {"name": s("Name of the gate.")},
                    ("name",),
                    go=CORE + "PodSchedulingGate",
                ),
                "Gates that block scheduling until removed.",
            ),
            "name",
        ),
        "securityContext": POD_SECURITY_CONTEXT,
        "serviceAccount": s("Deprecated alias of serviceAccountName."),
        "serviceAccountName": s("Name of the ServiceAccount used to run this pod."),
        "setHostnameAsFQDN": b("Sets the pod's hostname to its fully qualified domain name."),
        "shareProcessNamespace": b("Share a single process namespace between all containers."),
        "subdomain": s('The pod\'s hostname becomes "<hostname>.<subdomain>.<namespace>.svc".'),
        "terminationGracePeriodSeconds": i64(
            "Seconds the pod needs to terminate gracefully. Defaults to 30."
        ),
        "tolerations": arr(
            obj(
                "Lets the pod tolerate a node taint.",
                {
                    "effect": s(
                        "Taint effect to match: NoSchedule, PreferNoSchedule or NoExecute."
                    ),
                    "key": s("Taint key the toleration applies to; empty matches all keys."),
                    "operator": s("Relationship to the value: Exists or Equal (default)."),
                    "tolerationSeconds": i64("How long a NoExecute taint is tolerated."),
                    "value": s("Taint value the toleration matches."),
                },
                go=CORE + "Toleration",
            ),
            "The pod's tolerations.",
        ),
        "topologySpreadConstraints": keyed(
            _open_items(
                "How pods spread across topology domains.", CORE + "TopologySpreadConstraint"
            ),
            "topologyKey",
            "whenUnsatisfiable",
        ),
        "volumes": keyed(
            arr(VOLUME, "Volumes the pod's containers can mount."),
            "name",
            strategy="merge,retainKeys",
        ),
    },
    ("containers",),
    go=CORE + "PodSpec",
)
POD_TEMPLATE = obj(
    "The pods this object creates.",
    {
        "metadata": METADATA,
        "spec": field(POD_SPEC, "Specification of the desired behavior of the pod."),
    },
    go=CORE + "PodTemplateSpec",
)
POD_STATUS = _status(
    "Most recently observed status of the pod. Populated by the system; read-only.",
    CORE + "PodStatus",
    {
        "conditions": keyed(
            _open_items("Current service state of the pod.", CORE + "PodCondition"), "type"
        ),
        "containerStatuses": _open_items(
            "One status per container in the manifest.", CORE + "ContainerStatus"
        ),
        "hostIP": s("IP address of the host the pod is assigned to."),
        "initContainerStatuses": _open_items(
            "One status per init container.", CORE + "ContainerStatus"
        ),
        "message": s("Why the pod is in this condition."),
        "phase": s(
            "Where the pod is in its lifecycle.",
            ("Failed", "Pending", "Running", "Succeeded", "Unknown"),
            go=CORE + "PodPhase",
        ),
        "podIP": s("IP address allocated to the pod."),
        "podIPs": keyed(_open_items("IP addresses allocated to the pod.", CORE + "PodIP"), "ip"),
        "qosClass": s("Quality of Service class: Guaranteed, Burstable or BestEffort."),
        "reason": s("A brief CamelCase reason for the pod's condition."),
        "startTime": time("When the kubelet acknowledged the pod."),
    },
)

# -- services and endpoints ----------------------------------------------------------------

SERVICE_SPEC = obj(
    "The behavior of a service: which pods it selects and which ports it exposes.",
    {
        "allocateLoadBalancerNodePorts": b("Whether NodePorts are allocated for a LoadBalancer."),
        "clusterIP": s(
            'IP address of the service, usually assigned randomly; "None" makes a headless '
            "service. Cannot be changed once set."
        ),
        "clusterIPs": strings("IP addresses of the service; the first is clusterIP."),
        "externalIPs": strings("IP addresses for which nodes also accept traffic."),
        "externalName": s("DNS name an ExternalName service points at, as a CNAME record."),
        "externalTrafficPolicy": s(
            "How traffic from external sources is routed.",
            ("Cluster", "Local"),
            go=CORE + "ServiceExternalTrafficPolicy",
        ),
        "healthCheckNodePort": i("Health check node port for LoadBalancer services."),
        "internalTrafficPolicy": s(
            "How traffic from within the cluster is routed.",
            ("Cluster", "Local"),
            go=CORE + "ServiceInternalTrafficPolicy",
        ),
        "ipFamilies": arr(
            s(enum=("IPv4", "IPv6"), go=CORE + "IPFamily"), "IP families assigned to the service."
        ),
        "ipFamilyPolicy": s(
            "Dual-stack-ness of the service.",
            ("PreferDualStack", "RequireDualStack", "SingleStack"),
            go=CORE + "IPFamilyPolicy",
        ),
        "loadBalancerClass": s("Class of the load balancer implementation."),
        "loadBalancerIP": s("Deprecated: requested load balancer IP."),
        "loadBalancerSourceRanges": strings("Client IP ranges a load balancer admits."),
        "ports": keyed(
            arr(
                obj(
                    "A port the service exposes.",
                    {
                        "appProtocol": s(
                            "Application protocol of this port, e.g. http or kubernetes.io/h2c."
                        ),
                        "name": s(
                            "Name of this port within the service; required when there are several."
                        ),
                        "nodePort": i("Port on each node for NodePort or LoadBalancer services."),
                        "port": i("The port that will be exposed by this service."),
                        "protocol": PROTOCOL,
                        "targetPort": int_or_string(
                            "Number or name of the port to access on the pods; defaults to port."
                        ),
                    },
                    ("port",),
                    go=CORE + "ServicePort",
                ),
                "The list of ports that are exposed by this service.",
            ),
            "port",
            "protocol",
        ),
        "publishNotReadyAddresses": b("Publish addresses of pods that are not ready."),
        "selector": string_map(
            "Route service traffic to pods with label keys and values matching this selector."
        ),
        "sessionAffinity": s(
            "Session affinity: ClientIP or None. Defaults to None.",
            ("ClientIP", "None"),
            go=CORE + "ServiceAffinity",
        ),
        "sessionAffinityConfig": obj(
            "Configuration of session affinity.", go=CORE + "SessionAffinityConfig"
        ),
        "trafficDistribution": s(
            "Preference for routing traffic to topologically close endpoints."
        ),
        "type": s(
            "How the service is exposed. Defaults to ClusterIP.",
            ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"),
            go=CORE + "ServiceType",
        ),
    },
    go=CORE + "ServiceSpec",
)
ENDPOINT_ADDRESS = obj(
    "A single IP address of an endpoint.",
    {
        "hostname": s("Hostname of this endpoint."),
        "ip": s("The IP of this endpoint."),
        "nodeName": s("Node hosting this endpoint."),
        "targetRef": field(OBJECT_REFERENCE, "Reference to the object providing the endpoint."),
    },
    ("ip",),
    go=CORE + "EndpointAddress",
)
ENDPOINT_SUBSET = obj(
    "A group of addresses with a common set of ports.",
    {
        "addresses": arr(ENDPOINT_ADDRESS, "Addresses of ready endpoints."),
        "notReadyAddresses": arr(ENDPOINT_ADDRESS, "Addresses of endpoints not ready yet."),
        "ports": arr(
            obj(
                "A port of the endpoints.",
                {
                    "appProtocol": s("Application protocol of this port."),
                    "name": s("Name of this port; must match the service port's name."),
                    "port": i("The port number of the endpoint."),
                    "protocol": PROTOCOL,
                },
                ("port",),
                go=CORE + "EndpointPort",
            ),
            "Port numbers available on the addresses.",
        ),
    },
    go=CORE + "EndpointSubset",
)
SLICE_ENDPOINT = obj(
    "A single logical backend implementing a service.",
    {
        "addresses": strings("Addresses of this endpoint, interpreted per addressType."),
        "conditions": obj(
            "The current condition of the endpoint.",
            {
                "ready": b("Whether the endpoint is ready to receive traffic."),
                "serving": b("Like ready, but also true while terminating."),
                "terminating": b("Whether the endpoint is terminating."),
            },
            go=DISCOVERY + "EndpointConditions",
        ),
        "deprecatedTopology": string_map("Deprecated topology information."),
        "hints": obj("Hints for consuming the endpoint.", go=DISCOVERY + "EndpointHints"),
        "hostname": s("Hostname of this endpoint."),
        "nodeName": s("Node hosting this endpoint."),
        "targetRef": field(OBJECT_REFERENCE, "Reference to the object this endpoint represents."),
        "zone": s("Zone this endpoint exists in."),
    },
    ("addresses",),
    go=DISCOVERY + "Endpoint",
)

# -- apps ----------------------------------------------------------------------------------

SELECTOR = field(
    LABEL_SELECTOR,
    "Label selector for pods; existing ones it matches are the ones affected. It must match "
    "the pod template's labels.",
)
DEPLOYMENT_SPEC = obj(
    "Specification of the desired behavior of the Deployment.",
    {
        "minReadySeconds": i("Seconds a new pod must be ready, without crashing, to be available."),
        "paused": b("Indicates that the deployment is paused."),
        "progressDeadlineSeconds": i(
            "Seconds for the deployment to make progress before it is reported failed. "
            "Defaults to 600."
        ),
        "replicas": i("Number of desired pods. Defaults to 1."),
        "revisionHistoryLimit": i(
            "Number of old ReplicaSets to retain for rollback. Defaults to 10."
        ),
        "selector": SELECTOR,
        "strategy": obj(
            "The deployment strategy to use to replace existing pods with new ones.",
            {
                "rollingUpdate": obj(
                    "Rolling update config params. Present only if type is RollingUpdate.",
                    {
                        "maxSurge": int_or_string(
                            "The maximum number of pods that can be scheduled above the desired "
                            "number of pods: a number or a percentage. Defaults to 25%."
                        ),
                        "maxUnavailable": int_or_string(
                            "The maximum number of pods that can be unavailable during the "
                            "update: a number or a percentage. Defaults to 25%."
                        ),
                    },
                    go=APPS + "RollingUpdateDeployment",
                ),
                "type": s(
                    'Type of deployment: "Recreate" or "RollingUpdate". Default is RollingUpdate.',
                    ("Recreate", "RollingUpdate"),
                    go=APPS + "DeploymentStrategyType",
                ),
            },
            go=APPS + "DeploymentStrategy",
        )
        | {"x-kubernetes-patch-strategy": "retainKeys"},
        "template": field(POD_TEMPLATE, "Template describes the pods that will be created."),
    },
    ("selector", "template"),
    go=APPS + "DeploymentSpec",
)
_REPLICA_COUNTS = {
    "availableReplicas": i("Pods targeted that have been ready for at least minReadySeconds."),
    "observedGeneration": i64("The most recent generation observed by the controller."),
    "readyReplicas": i("Pods targeted that have a Ready condition."),
    "replicas": i("Pods targeted (their labels match the selector)."),
    "terminatingReplicas": i("Pods targeted that are terminating."),
}
DEPLOYMENT_STATUS = _status(
    "Most recently observed status of the Deployment.",
    APPS + "DeploymentStatus",
    {
        **_REPLICA_COUNTS,
        "collisionCount": i("Count of hash collisions for the Deployment."),
        "conditions": keyed(
            _open_items(
                "The latest available observations of the deployment's state.",
                APPS + "DeploymentCondition",
            ),
            "type",
        ),
        "unavailableReplicas": i("Pods still needed for 100% available capacity."),
        "updatedReplicas": i("Pods targeted that have the desired template spec."),
    },
)
REPLICASET_SPEC = obj(
    "Specification of the desired behavior of the ReplicaSet.",
    {
        "minReadySeconds": i("Seconds a new pod must be ready, without crashing, to be available."),
        "replicas": i("Number of desired pods. Defaults to 1."),
        "selector": SELECTOR,
        "template": field(POD_TEMPLATE, "The pods created when too few are running."),
    },
    ("selector",),
    go=APPS + "ReplicaSetSpec",
)
REPLICASET_STATUS = _status(
    "Most recently observed status of the ReplicaSet.",
    APPS + "ReplicaSetStatus",
    {
        **_REPLICA_COUNTS,
        "conditions": keyed(
            _open_items(
                "The latest available observations of the replica set's state.",
                APPS + "ReplicaSetCondition",
            ),
            "type",
        ),
        "fullyLabeledReplicas": i("Pods whose labels match the template's labels."),
    },
)

# -- apiextensions ------------------------------------------------------------------------

CRD_SPEC = obj(
    "How a custom resource is served.",
    {
        "conversion": obj(
            "How different versions of the custom resource are converted.",
            go=APIEXTENSIONS + "CustomResourceConversion",
        ),
        "group": s("API group of the custom resource, served under /apis/<group>/..."),
        "names": obj(
            "Resource and kind names of the custom resource.",
            {
                "categories": strings("Grouped resources this resource belongs to, e.g. all."),
                "kind": s("The serialized kind, CamelCase and singular."),
                "listKind": s("The serialized kind of the list; defaults to <kind>List."),
                "plural": s("The plural name served under /apis/<group>/<version>/; lowercase."),
                "shortNames": strings("Short names for kubectl, e.g. vs."),
                "singular": s("The singular name; defaults to the lowercased kind."),
            },
            ("plural", "kind"),
            go=APIEXTENSIONS + "CustomResourceDefinitionNames",
        ),
        "preserveUnknownFields": b("Deprecated: keep fields not in the schema."),
        "scope": s("Whether the resource is Cluster or Namespaced scoped."),
        "versions": arr(
            obj(
                "A version of the custom resource.",
                {
                    "additionalPrinterColumns": arr(
                        obj(
                            "A column shown by kubectl get.",
                            {
                                "description": s("Human-readable description of the column."),
                                "format": s("Optional OpenAPI format of the column."),
                                "jsonPath": s("JSON path evaluated against each object."),
                                "name": s("Human-readable name of the column."),
                                "priority": i("0 for the standard view, more for -o wide."),
                                "type": s("OpenAPI type of the column, e.g. string or date."),
                            },
                            ("name", "type", "jsonPath"),
                            go=APIEXTENSIONS + "CustomResourceColumnDefinition",
                        ),
                        "Extra columns kubectl get shows.",
                    ),
                    "deprecated": b("Whether this version is deprecated."),
                    "deprecationWarning": s("Warning returned to clients of a deprecated version."),
                    "name": s("Version name, e.g. v1 or v1beta1."),
                    "schema": obj(
                        "Schema used for validation, pruning and defaulting.",
                        {
                            "openAPIV3Schema": obj(
                                "The OpenAPI v3 schema of the resource.",
                                go=APIEXTENSIONS + "JSONSchemaProps",
                            )
                        },
                        go=APIEXTENSIONS + "CustomResourceValidation",
                    ),
                    "selectableFields": _open_items(
                        "Fields usable as field selectors.", APIEXTENSIONS + "SelectableField"
                    ),
                    "served": b("Whether this version is served by the REST API."),
                    "storage": b("Whether this version is the one stored; exactly one is."),
                    "subresources": obj(
                        "Subresources of this version.",
                        {
                            "scale": obj(
                                "The scale subresource.",
                                go=APIEXTENSIONS + "CustomResourceSubresourceScale",
                            ),
                            "status": obj(
                                "The status subresource.",
                                go=APIEXTENSIONS + "CustomResourceSubresourceStatus",
                            ),
                        },
                        go=APIEXTENSIONS + "CustomResourceSubresources",
                    ),
                },
                ("name", "served", "storage"),
                go=APIEXTENSIONS + "CustomResourceDefinitionVersion",
            ),
            "All versions of the resource; exactly one is the storage version.",
        ),
    },
    ("group", "names", "scope", "versions"),
    go=APIEXTENSIONS + "CustomResourceDefinitionSpec",
)

# -- kinds ----------------------------------------------------------------------------------

API_VERSION = s(
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values."
)
KIND = s(
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. In CamelCase."
)


def kind_schema(desc: str, go: str, **fields: Schema) -> Schema:
    """The schema of a top-level kind: apiVersion, kind, metadata and ``fields``."""
    return obj(
        desc, {"apiVersion": API_VERSION, "kind": KIND, "metadata": METADATA, **fields}, go=go
    )


def custom_resource_schema(crd_schema: Schema) -> Schema:
    """A CRD's ``openAPIV3Schema`` completed as the server treats it.

    ``apiVersion``, ``kind`` and an ObjectMeta ``metadata`` are implied for
    every custom resource: with them the same pruning, decoding and explain
    apply to custom resources as to built-in kinds.
    """
    properties = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        **(crd_schema.get("properties") or {}),
        "metadata": METADATA,
    }
    return {**crd_schema, "type": "object", "properties": properties}


def _webhooks(kind: str, go: str) -> Schema:
    return kind_schema(
        f"Describes admission webhooks that {kind} objects.",
        ADMISSION + go + "Configuration",
        webhooks=keyed(
            _open_items("The webhooks, with their rules and client configuration.", ADMISSION + go),
            "name",
        ),
    )


POLICY_RULE = obj(
    "What a role allows: verbs on resources of API groups (or on non-resource URLs).",
    {
        "apiGroups": strings("The API groups of the resources; \"\" is the core group."),
        "nonResourceURLs": strings("Partial URLs a user may reach (\"*\" as a final segment)."),
        "resourceNames": strings("Names the rule is limited to; empty means all."),
        "resources": strings("Resources the rule covers; \"*\" for all, \"pods/log\" for one "
                             "subresource."),
        "verbs": strings("The verbs allowed, or \"*\"."),
    },
    ("verbs",),
    go=RBAC + "PolicyRule",
)  # fmt: skip
ROLE_REF = obj(
    "The role a binding grants.",
    {"apiGroup": s("The group of the role."), "kind": s("Role or ClusterRole."),
     "name": s("The name of the role.")},
    ("apiGroup", "kind", "name"),
    go=RBAC + "RoleRef",
)  # fmt: skip
SUBJECT = obj(
    "Who a binding grants its role to: a User, a Group or a ServiceAccount.",
    {"apiGroup": s("rbac.authorization.k8s.io for users and groups; empty for accounts."),
     "kind": s("User, Group or ServiceAccount."), "name": s("The subject's name."),
     "namespace": s("A ServiceAccount's namespace.")},
    ("kind", "name"),
    go=RBAC + "Subject",
)  # fmt: skip
_LIMIT_ITEM = obj(
    "Limits for one kind of object.",
    {
        "default": resource_list("Limits given to containers that state none."),
        "defaultRequest": resource_list("Requests given to containers that state none."),
        "max": resource_list("The most a container may ask for."),
        "min": resource_list("The least a container may ask for."),
        "type": s("The kind of object limited: Container, Pod or PersistentVolumeClaim."),
    },
    ("type",),
    go=CORE + "LimitRangeItem",
)


def _role(kind: str, desc: str) -> Schema:
    return kind_schema(desc, RBAC + kind, rules=arr(POLICY_RULE, "The role's rules."))


def _binding(kind: str, desc: str) -> Schema:
    return kind_schema(
        desc, RBAC + kind, roleRef=ROLE_REF, subjects=arr(SUBJECT, "Who the role is granted to.")
    )


BUILTIN_SCHEMAS: dict[str, Schema] = {
    "rbac.authorization.k8s.io/v1/Role": _role(
        "Role is a namespaced set of rules, granted by a RoleBinding.", "Role"
    ),
    "rbac.authorization.k8s.io/v1/ClusterRole": _role(
        "ClusterRole is a cluster-wide set of rules, granted by a binding of either kind.",
        "ClusterRole",
    ),
    "rbac.authorization.k8s.io/v1/RoleBinding": _binding(
        "RoleBinding grants a Role or ClusterRole within its namespace.", "RoleBinding"
    ),
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding": _binding(
        "ClusterRoleBinding grants a ClusterRole in every namespace.", "ClusterRoleBinding"
    ),
    "/v1/ResourceQuota": kind_schema(
        "ResourceQuota caps what a namespace holds.",
        CORE + "ResourceQuota",
        spec=obj(
            "The caps.",
            {
                "hard": resource_list("The most of each resource the namespace may hold."),
                "scopes": strings("Which objects the quota counts (all, when empty)."),
            },
            go=CORE + "ResourceQuotaSpec",
        ),
        status=_status("What the namespace uses.", CORE + "ResourceQuotaStatus", {}),
    ),
    "/v1/LimitRange": kind_schema(
        "LimitRange sets defaults and bounds for containers' resources in a namespace.",
        CORE + "LimitRange",
        spec=obj(
            "The limits.",
            {"limits": arr(_LIMIT_ITEM, "One item per kind of object.")},
            ("limits",),
            go=CORE + "LimitRangeSpec",
        ),
    ),
    "networking.k8s.io/v1/NetworkPolicy": kind_schema(
        "NetworkPolicy says which traffic may reach (and leave) the pods it selects.",
        NETWORKING + "NetworkPolicy",
        spec=obj(
            "The policy.",
            {
                "podSelector": LABEL_SELECTOR,
                "policyTypes": strings("Ingress, Egress or both."),
                "ingress": arr(obj("Traffic allowed in.", open_=True)),
                "egress": arr(obj("Traffic allowed out.", open_=True)),
            },
            go=NETWORKING + "NetworkPolicySpec",
        ),
    ),
    "/v1/Pod": kind_schema(
        "Pod is a collection of containers that can run on a host. Clients create it and "
        "the system schedules it onto a node.",
        CORE + "Pod",
        spec=field(POD_SPEC, "Specification of the desired behavior of the pod."),
        status=POD_STATUS,
    ),
    "/v1/Service": kind_schema(
        "Service is a named abstraction of software service (for example, mysql) consisting of "
        "local port (for example 3306) that the proxy listens on, and the selector that "
        "determines which pods will answer requests sent through the proxy.",
        CORE + "Service",
        spec=SERVICE_SPEC,
        status=_status(
            "Most recently observed status of the service.",
            CORE + "ServiceStatus",
            {
                "conditions": keyed(
                    _open_items("Current service state.", META + "Condition"), "type"
                ),
                "loadBalancer": obj("Status of the load balancer.", go=CORE + "LoadBalancerStatus"),
            },
        ),
    ),
    "/v1/Endpoints": kind_schema(
        "Endpoints is a collection of endpoints that implement the actual service.",
        CORE + "Endpoints",
        subsets=arr(ENDPOINT_SUBSET, "The sets of addresses and ports that comprise a service."),
    ),
    "/v1/ConfigMap": kind_schema(
        "ConfigMap holds configuration data for pods to consume.",
        CORE + "ConfigMap",
        binaryData=bytes_map("Binary data, base64 encoded; keys may not also be in data."),
        data=string_map("Configuration data; keys of alphanumerics, '-', '_' or '.'."),
        immutable=b("If true, data cannot be updated; only metadata can change."),
    ),
    "/v1/Secret": kind_schema(
        "Secret holds secret data of a certain type. The total bytes of the values in the Data "
        "field must be less than MaxSecretSize bytes.",
        CORE + "Secret",
        data=bytes_map("Secret data, base64 encoded."),
        immutable=b("If true, data cannot be updated; only metadata can change."),
        stringData=string_map(
            "Write-only, non-binary secret data in string form, merged into data on write."
        ),
        type=s("Used to facilitate programmatic handling of secret data.", go=CORE + "SecretType"),
    ),
    "/v1/ServiceAccount": kind_schema(
        "ServiceAccount binds together a name understood by users and systems, a principal that "
        "can be authenticated and authorized, and a set of secrets.",
        CORE + "ServiceAccount",
        automountServiceAccountToken=b("Whether pods running as this account mount a token."),
        imagePullSecrets=keyed(
            arr(LOCAL_OBJECT_REFERENCE, "Secrets used to pull images of its pods."), "name"
        ),
        secrets=keyed(
            arr(OBJECT_REFERENCE, "Deprecated: secrets pods of this account may use."), "name"
        ),
    ),
    "/v1/Event": kind_schema(
        "Event is a report of an event somewhere in the cluster.",
        CORE + "Event",
        action=s("What action was taken or failed regarding the object."),
        count=i("The number of times this event has occurred."),
        eventTime=time("When this event was first observed."),
        firstTimestamp=time("The time at which the event was first recorded."),
        involvedObject=field(OBJECT_REFERENCE, "The object that this event is about."),
        lastTimestamp=time("The time of the most recent occurrence of this event."),
        message=s("A human-readable description of the status of this operation."),
        reason=s("A short, machine understandable string for the transition into the status."),
        related=field(OBJECT_REFERENCE, "Optional secondary object for more complex actions."),
        reportingComponent=s("Name of the controller that emitted this event."),
        reportingInstance=s("ID of the controller instance."),
        series=obj(
            "Data about the series this event represents.",
            {
                "count": i("Number of occurrences in this series up to the last heartbeat."),
                "lastObservedTime": time("Time of the last occurrence observed."),
            },
            go=CORE + "EventSeries",
        ),
        source=obj(
            "The component reporting this event.",
            {
                "component": s("Component from which the event is generated."),
                "host": s("Node name."),
            },
            go=CORE + "EventSource",
        ),
        type=s("Type of this event (Normal, Warning)."),
    ),
    "/v1/Namespace": kind_schema(
        "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
        CORE + "Namespace",
        spec=obj(
            "Spec defines the behavior of the Namespace.",
            {"finalizers": strings("Must be empty before the namespace is removed from storage.")},
            go=CORE + "NamespaceSpec",
        ),
        status=_status(
            "Status describes the current status of a Namespace.",
            CORE + "NamespaceStatus",
            {
                "conditions": _open_items(
                    "The latest observations of the namespace's state.", CORE + "NamespaceCondition"
                ),
                "phase": s(
                    "Phase of the namespace.", ("Active", "Terminating"), go=CORE + "NamespacePhase"
                ),
            },
        ),
    ),
    "/v1/Node": kind_schema(
        "Node is a worker node in Kubernetes.",
        CORE + "Node",
        spec=obj("Spec defines the behavior of a node.", go=CORE + "NodeSpec"),
        status=_status("Most recently observed status of the node.", CORE + "NodeStatus", {}),
    ),
    "apps/v1/Deployment": kind_schema(
        "Deployment enables declarative updates for Pods and ReplicaSets.",
        APPS + "Deployment",
        spec=DEPLOYMENT_SPEC,
        status=DEPLOYMENT_STATUS,
    ),
    "apps/v1/ReplicaSet": kind_schema(
        "ReplicaSet ensures that a specified number of pod replicas are running at any given time.",
        APPS + "ReplicaSet",
        spec=REPLICASET_SPEC,
        status=REPLICASET_STATUS,
    ),
    "autoscaling/v1/Scale": kind_schema(
        "Scale represents a scaling request for a resource.",
        AUTOSCALING + "Scale",
        spec=obj(
            "The desired state of the scale.",
            {"replicas": i("Desired number of instances for the scaled object.")},
            go=AUTOSCALING + "ScaleSpec",
        ),
        status=_status(
            "The current status of the scale.",
            AUTOSCALING + "ScaleStatus",
            {
                "replicas": i("Actual number of observed instances of the scaled object."),
                "selector": s("Label query over pods that should match the replica count."),
            },
        ),
    ),
    "discovery.k8s.io/v1/EndpointSlice": kind_schema(
        "EndpointSlice represents a set of service endpoints. The EndpointSlice controller "
        "creates them for Services with a selector.",
        DISCOVERY + "EndpointSlice",
        addressType=s(
            "The type of address carried by this EndpointSlice; immutable.",
            ("FQDN", "IPv4", "IPv6"),
            go=DISCOVERY + "AddressType",
        ),
        endpoints=arr(SLICE_ENDPOINT, "A list of unique endpoints in this slice."),
        ports=arr(
            obj(
                "A port used by the endpoints.",
                {
                    "appProtocol": s("Application protocol of this port."),
                    "name": s("Name of this port; must match the service port's name."),
                    "port": i("The port number of the endpoint."),
                    "protocol": PROTOCOL,
                },
                go=DISCOVERY + "EndpointPort",
            ),
            "Network ports exposed by each endpoint in this slice.",
        ),
    ),
    "apiextensions.k8s.io/v1/CustomResourceDefinition": kind_schema(
        "CustomResourceDefinition represents a resource that should be exposed on the API "
        "server. Its name MUST be in the format <.spec.name>.<.spec.group>.",
        APIEXTENSIONS + "CustomResourceDefinition",
        spec=CRD_SPEC,
        status=_status(
            "Status indicates the actual state of the CustomResourceDefinition.",
            APIEXTENSIONS + "CustomResourceDefinitionStatus",
            {},
        ),
    ),
    "admissionregistration.k8s.io/v1/MutatingWebhookConfiguration": _webhooks(
        "accept or reject and may change", "MutatingWebhook"
    ),
    "admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": _webhooks(
        "accept or reject", "ValidatingWebhook"
    ),
    "authentication.k8s.io/v1/TokenReview": kind_schema(
        "TokenReview attempts to authenticate a token to a known user.",
        AUTHENTICATION + "TokenReview",
        spec=obj(
            "The token to authenticate.",
            {
                "audiences": strings("Identifiers the resource server presented with the token."),
                "token": s("The opaque bearer token."),
            },
            go=AUTHENTICATION + "TokenReviewSpec",
        ),
        status=_status(
            "Whether the token is authenticated, and as whom.",
            AUTHENTICATION + "TokenReviewStatus",
            {},
        ),
    ),
    "authorization.k8s.io/v1/SelfSubjectAccessReview": kind_schema(
        "SelfSubjectAccessReview checks whether the current user can perform an action.",
        AUTHORIZATION + "SelfSubjectAccessReview",
        spec=obj(
            "The action being checked.",
            {
                "nonResourceAttributes": obj(
                    "A non-resource request.", go=AUTHORIZATION + "NonResourceAttributes"
                ),
                "resourceAttributes": obj(
                    "A resource request.",
                    {
                        "fieldSelector": obj(
                            "A field selector.", go=AUTHORIZATION + "FieldSelectorAttributes"
                        ),
                        "group": s("API group of the resource."),
                        "labelSelector": obj(
                            "A label selector.", go=AUTHORIZATION + "LabelSelectorAttributes"
                        ),
                        "name": s("Name of the resource."),
                        "namespace": s("Namespace of the action."),
                        "resource": s("One of the existing resource types."),
                        "subresource": s("One of the existing resource types' subresources."),
                        "verb": s("A kubernetes resource API verb, like get, list or create."),
                        "version": s("API version of the resource."),
                    },
                    go=AUTHORIZATION + "ResourceAttributes",
                ),
            },
            go=AUTHORIZATION + "SelfSubjectAccessReviewSpec",
        ),
        status=_status(
            "Whether the action is allowed.", AUTHORIZATION + "SubjectAccessReviewStatus", {}
        ),
    ),
}
