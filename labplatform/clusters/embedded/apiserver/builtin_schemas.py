"""Structural schemas of the built-in kinds: types for validation, text for explain.

Hand-written and compact: they cover the fields labs use, with the
descriptions ``kubectl explain`` prints. Parts not modelled are marked
``x-kubernetes-preserve-unknown-fields`` so a valid manifest is never
refused for a field this file does not describe.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def obj(
    desc: str,
    props: dict[str, Schema] | None = None,
    required: tuple[str, ...] = (),
    open_: bool = False,
) -> Schema:
    schema: Schema = {"type": "object", "description": desc}
    if props:
        schema["properties"] = props
    if required:
        schema["required"] = list(required)
    if open_ or not props:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    return schema


def arr(items: Schema, desc: str = "") -> Schema:
    return {"type": "array", "items": items, "description": desc}


def s(desc: str = "", enum: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {"type": "string", "description": desc}
    if enum:
        schema["enum"] = list(enum)
    return schema


def i(desc: str = "", minimum: int | None = None, maximum: int | None = None) -> Schema:
    schema: Schema = {"type": "integer", "format": "int32", "description": desc}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def b(desc: str = "") -> Schema:
    return {"type": "boolean", "description": desc}


def int_or_string(desc: str = "") -> Schema:
    return {"x-kubernetes-int-or-string": True, "description": desc}


def string_map(desc: str) -> Schema:
    return {"type": "object", "additionalProperties": {"type": "string"}, "description": desc}


OBJECT_META = obj(
    "Standard object's metadata.",
    {
        "name": s("Name must be unique within a namespace."),
        "generateName": s("Prefix the server uses to generate a unique name."),
        "namespace": s("Namespace defines the space within which each name must be unique."),
        "labels": string_map("Map of string keys and values used to organize and select objects."),
        "annotations": string_map("Unstructured key value map stored with a resource."),
        "uid": s("UID is the unique in time and space value for this object."),
        "resourceVersion": s(
            "An opaque value that represents the internal version of this object."
        ),
        "generation": {
            "type": "integer",
            "description": "A sequence number representing a "
            "specific generation of the desired state.",
        },
        "creationTimestamp": s("Server time when this object was created."),
        "deletionTimestamp": s("Time after which this resource will be deleted."),
        "finalizers": arr(s(), "Must be empty before the object is deleted from the registry."),
        "ownerReferences": arr(obj("OwnerReference", open_=True), "Objects this one depends on."),
    },
    open_=True,
)
LABEL_SELECTOR = obj(
    "A label query over a set of resources.",
    {
        "matchLabels": string_map("A map of {key,value} pairs."),
        "matchExpressions": arr(
            obj(
                "A label selector requirement.",
                {
                    "key": s("The label key that the selector applies to."),
                    "operator": s(
                        "Represents a key's relationship to a set of values.",
                        ("In", "NotIn", "Exists", "DoesNotExist"),
                    ),
                    "values": arr(s()),
                },
                required=("key", "operator"),
            )
        ),
    },
)
PROBE = obj(
    "Describes a health check to be performed against a container.",
    {
        "httpGet": obj(
            "HTTPGet specifies the http request to perform.",
            {
                "path": s("Path to access on the HTTP server."),
                "port": int_or_string("Name or number of the port to access on the container."),
                "scheme": s("Scheme to use for connecting to the host.", ("HTTP", "HTTPS")),
            },
            open_=True,
        ),
        "tcpSocket": obj(
            "TCPSocket specifies a connection to a TCP port.",
            {"port": int_or_string("Number or name of the port.")},
            open_=True,
        ),
        "exec": obj(
            "Exec specifies a command to execute in the container.",
            {"command": arr(s(), "Command line to execute inside the container.")},
        ),
        "initialDelaySeconds": i("Seconds after the container has started before probes start."),
        "periodSeconds": i("How often (in seconds) to perform the probe."),
        "timeoutSeconds": i("Number of seconds after which the probe times out."),
        "successThreshold": i("Minimum consecutive successes to be considered successful."),
        "failureThreshold": i("Minimum consecutive failures to be considered failed."),
    },
    open_=True,
)
CONTAINER = obj(
    "A single application container that you want to run within a pod.",
    {
        "name": s("Name of the container specified as a DNS_LABEL."),
        "image": s("Container image name."),
        "imagePullPolicy": s("Image pull policy.", ("Always", "Never", "IfNotPresent")),
        "command": arr(s(), "Entrypoint array. Not executed within a shell."),
        "args": arr(s(), "Arguments to the entrypoint."),
        "workingDir": s("Container's working directory."),
        "ports": arr(
            obj(
                "ContainerPort represents a network port in a single container.",
                {
                    "name": s("An IANA_SVC_NAME naming this port."),
                    "containerPort": i(
                        "Number of port to expose on the pod's IP address.", 1, 65535
                    ),
                    "protocol": s("Protocol for port.", ("TCP", "UDP", "SCTP")),
                },
                required=("containerPort",),
                open_=True,
            )
        ),
        "env": arr(
            obj(
                "EnvVar represents an environment variable present in a Container.",
                {
                    "name": s("Name of the environment variable."),
                    "value": s("Variable value."),
                    "valueFrom": obj("Source for the environment variable's value.", open_=True),
                },
                required=("name",),
            )
        ),
        "envFrom": arr(obj("EnvFromSource", open_=True)),
        "resources": obj("Compute Resources required by this container.", open_=True),
        "volumeMounts": arr(
            obj(
                "VolumeMount describes a mounting of a Volume within a container.",
                {
                    "name": s("This must match the Name of a Volume."),
                    "mountPath": s(
                        "Path within the container at which the volume should be mounted."
                    ),
                    "readOnly": b("Mounted read-only if true."),
                    "subPath": s(
                        "Path within the volume from which the container's volume is mounted."
                    ),
                },
                required=("name", "mountPath"),
            )
        ),
        "readinessProbe": PROBE,
        "livenessProbe": PROBE,
        "startupProbe": PROBE,
        "securityContext": obj(
            "SecurityContext defines the security options the container should be run with.",
            open_=True,
        ),
        "lifecycle": obj(
            "Actions the management system should take in response to container lifecycle events.",
            open_=True,
        ),
        "stdin": b("Whether this container should allocate a buffer for stdin."),
        "tty": b("Whether this container should allocate a TTY for itself."),
    },
    required=("name",),
    open_=True,
)
POD_SPEC = obj(
    "PodSpec is a description of a pod.",
    {
        "containers": arr(CONTAINER, "List of containers belonging to the pod."),
        "initContainers": arr(CONTAINER, "List of initialization containers."),
        "volumes": arr(
            obj(
                "Volume represents a named volume in a pod.",
                {"name": s("Volume's name.")},
                required=("name",),
                open_=True,
            )
        ),
        "restartPolicy": s(
            "Restart policy for all containers within the pod.", ("Always", "OnFailure", "Never")
        ),
        "serviceAccountName": s("Name of the ServiceAccount to use to run this pod."),
        "automountServiceAccountToken": b("Whether a service account token should be mounted."),
        "nodeName": s("A request to schedule this pod onto a specific node."),
        "hostname": s("Specifies the hostname of the Pod."),
        "subdomain": s("Specifies the subdomain of the Pod."),
        "dnsPolicy": s(
            "Set DNS policy for the pod.",
            ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"),
        ),
        "terminationGracePeriodSeconds": {
            "type": "integer",
            "description": "Duration in seconds the pod needs to terminate gracefully.",
        },
        "securityContext": obj("Pod-level security attributes.", open_=True),
    },
    open_=True,
)
POD_TEMPLATE = obj(
    "Describes the pods that will be created.", {"metadata": OBJECT_META, "spec": POD_SPEC}
)
ANY_STATUS = obj("Most recently observed status. Populated by the system.", open_=True)


def kind_schema(desc: str, **top: Schema) -> Schema:
    return obj(
        desc,
        {
            "apiVersion": s("APIVersion defines the versioned schema of this representation."),
            "kind": s("Kind is a string value representing the REST resource."),
            "metadata": OBJECT_META,
            **top,
        },
        open_=True,
    )


SERVICE_PORT = obj(
    "ServicePort contains information on service's port.",
    {
        "name": s("The name of this port within the service."),
        "protocol": s("The IP protocol for this port.", ("TCP", "UDP", "SCTP")),
        "port": i("The port that will be exposed by this service.", 1, 65535),
        "targetPort": int_or_string("Number or name of the port to access on the pods."),
        "nodePort": i("The port on each node on which this service is exposed."),
        "appProtocol": s("The application protocol for this port."),
    },
    required=("port",),
)
DEPLOYMENT_SPEC = obj(
    "Specification of the desired behavior of the Deployment.",
    {
        "replicas": i("Number of desired pods.", 0),
        "selector": LABEL_SELECTOR,
        "template": POD_TEMPLATE,
        "strategy": obj(
            "The deployment strategy to use to replace existing pods with new ones.",
            {
                "type": s("Type of deployment.", ("Recreate", "RollingUpdate")),
                "rollingUpdate": obj(
                    "Rolling update config params.",
                    {
                        "maxSurge": int_or_string(
                            "The maximum number of pods that can be scheduled "
                            "above the desired number of pods."
                        ),
                        "maxUnavailable": int_or_string(
                            "The maximum number of pods that can be unavailable during the update."
                        ),
                    },
                ),
            },
        ),
        "minReadySeconds": i("Minimum seconds a new pod should be ready to count as available."),
        "revisionHistoryLimit": i("The number of old ReplicaSets to retain for rollback."),
        "progressDeadlineSeconds": i("Maximum time in seconds for a deployment to make progress."),
        "paused": b("Indicates that the deployment is paused."),
    },
    required=("selector", "template"),
    open_=True,
)
REPLICASET_SPEC = obj(
    "Spec defines the specification of the desired behavior of the ReplicaSet.",
    {
        "replicas": i("Number of desired pods.", 0),
        "selector": LABEL_SELECTOR,
        "template": POD_TEMPLATE,
        "minReadySeconds": i("Minimum seconds a new pod should be ready to count as available."),
    },
    required=("selector",),
    open_=True,
)

BUILTIN_SCHEMAS: dict[str, Schema] = {
    "/v1/Pod": kind_schema(
        "Pod is a collection of containers that can run on a host.",
        spec=POD_SPEC,
        status=ANY_STATUS,
    ),
    "/v1/Service": kind_schema(
        "Service is a named abstraction of software service.",
        spec=obj(
            "Spec defines the behavior of a service.",
            {
                "type": s(
                    "Determines how the Service is exposed.",
                    ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"),
                ),
                "selector": string_map(
                    "Route service traffic to pods with label keys and values "
                    "matching this selector."
                ),
                "ports": arr(SERVICE_PORT, "The list of ports that are exposed by this service."),
                "clusterIP": s("The IP address of the service."),
                "sessionAffinity": s("Supports ClientIP and None.", ("ClientIP", "None")),
            },
            open_=True,
        ),
        status=ANY_STATUS,
    ),
    "/v1/ConfigMap": kind_schema(
        "ConfigMap holds configuration data for pods to consume.",
        data=string_map("Data contains the configuration data."),
        binaryData=string_map("BinaryData contains the binary data."),
        immutable=b("If set to true, ensures that data stored cannot be updated."),
    ),
    "/v1/Secret": kind_schema(
        "Secret holds secret data of a certain type.",
        data=string_map("Data contains the secret data, base64 encoded."),
        stringData=string_map(
            "stringData allows specifying non-binary secret data in string form. It is write-only."
        ),
        type=s("Used to facilitate programmatic handling of secret data."),
        immutable=b("If set to true, ensures that data stored cannot be updated."),
    ),
    "/v1/Namespace": kind_schema(
        "Namespace provides a scope for Names.",
        spec=obj("Spec defines the behavior of the Namespace.", {"finalizers": arr(s())}),
        status=ANY_STATUS,
    ),
    "/v1/ServiceAccount": kind_schema(
        "ServiceAccount binds together a name, a principal and a set of secrets.",
        automountServiceAccountToken=b("Whether pods running as this account mount a token."),
        secrets=arr(obj("ObjectReference", open_=True)),
    ),
    "/v1/Endpoints": kind_schema(
        "Endpoints is a collection of endpoints that implement the actual service.",
        subsets=arr(obj("EndpointSubset", open_=True)),
    ),
    "/v1/Event": kind_schema(
        "Event is a report of an event somewhere in the cluster.",
        involvedObject=obj("The object that this event is about.", open_=True),
        reason=s("A short, machine understandable string."),
        message=s("A human-readable description of the status."),
        type=s("Type of this event (Normal, Warning)."),
    ),
    "/v1/Node": kind_schema(
        "Node is a worker node in Kubernetes.", spec=obj("NodeSpec", open_=True), status=ANY_STATUS
    ),
    "apps/v1/Deployment": kind_schema(
        "Deployment enables declarative updates for Pods and ReplicaSets.",
        spec=DEPLOYMENT_SPEC,
        status=ANY_STATUS,
    ),
    "apps/v1/ReplicaSet": kind_schema(
        "ReplicaSet ensures that a specified number of pod replicas are running at any given time.",
        spec=REPLICASET_SPEC,
        status=ANY_STATUS,
    ),
    "discovery.k8s.io/v1/EndpointSlice": kind_schema(
        "EndpointSlice represents a subset of the endpoints that implement a service.",
        addressType=s(
            "The type of address carried by this EndpointSlice.", ("IPv4", "IPv6", "FQDN")
        ),
        endpoints=arr(obj("Endpoint", open_=True)),
        ports=arr(obj("EndpointPort", open_=True)),
    ),
    "apiextensions.k8s.io/v1/CustomResourceDefinition": kind_schema(
        "CustomResourceDefinition represents a resource that should be exposed on the API server.",
        spec=obj(
            "The resource that should be exposed.",
            {
                "group": s("The API group of the defined custom resource."),
                "names": obj(
                    "The resource and kind names for the custom resource.",
                    {
                        "plural": s(),
                        "singular": s(),
                        "kind": s(),
                        "listKind": s(),
                        "shortNames": arr(s()),
                        "categories": arr(s()),
                    },
                    required=("plural", "kind"),
                ),
                "scope": s(
                    "Whether the resource is cluster-scoped or namespace-scoped.",
                    ("Cluster", "Namespaced"),
                ),
                "versions": arr(
                    obj(
                        "A version of the custom resource.",
                        {
                            "name": s(),
                            "served": b(),
                            "storage": b(),
                        },
                        required=("name", "served", "storage"),
                        open_=True,
                    )
                ),
            },
            required=("group", "names", "scope", "versions"),
            open_=True,
        ),
        status=ANY_STATUS,
    ),
    "admissionregistration.k8s.io/v1/MutatingWebhookConfiguration": kind_schema(
        "Describes the configuration of an admission webhook that may change the object.",
        webhooks=arr(obj("A webhook with its rules and client configuration.", open_=True)),
    ),
    "admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": kind_schema(
        "Describes the configuration of an admission webhook that accepts or rejects objects.",
        webhooks=arr(obj("A webhook with its rules and client configuration.", open_=True)),
    ),
    "autoscaling/v1/Scale": kind_schema(
        "Scale represents a scaling request for a resource.",
        spec=obj("ScaleSpec", {"replicas": i("Desired number of instances.", 0)}),
        status=ANY_STATUS,
    ),
}
