"""``meshctl``: the mesh's istioctl."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import yaml

from labkit.envoy import EnvoyNotFoundError, envoy_version

DEFAULT_PILOT = "istiod.istio-system.svc:15010"
PILOT_DEBUG = "/api/v1/namespaces/istio-system/services/istiod:15014/proxy/debug"
SYNCZ = f"{PILOT_DEBUG}/syncz"
CONFIG_DUMP = f"{PILOT_DEBUG}/config_dump"
TYPES = ("CDS", "LDS", "EDS", "RDS")
ISTIO_KINDS = {
    "VirtualService": "virtualservices",
    "DestinationRule": "destinationrules",
    "Gateway": "gateways",
    "ServiceEntry": "serviceentries",
    "Sidecar": "sidecars",
}
SECURITY_KINDS = {
    "PeerAuthentication": "peerauthentications",
    "RequestAuthentication": "requestauthentications",
    "AuthorizationPolicy": "authorizationpolicies",
}
ANALYZE_FAILED = 79  # istioctl's exit status when analysis finds issues at the threshold


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Inspect and operate the service mesh of a lab cluster."""


kubeconfig_option = click.option(
    "--kubeconfig", envvar="KUBECONFIG", help="the cluster's kubeconfig (default: $KUBECONFIG)"
)


@main.command()
def version() -> None:
    """Print meshctl's version and the version of the Envoy it runs as the proxy."""
    from importlib.metadata import version as dist_version

    click.echo(f"meshctl {dist_version('labplatform')}")
    try:
        click.echo(f"envoy {envoy_version()}")
    except EnvoyNotFoundError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@kubeconfig_option
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="wait until istiod and the ingress gateway are available")  # fmt: skip
def install(kubeconfig: str | None, wait: bool) -> None:
    """Install the control plane (istio-system: istiod, the ingress gateway) into the cluster."""
    from mesh_runtime import kube
    from mesh_runtime.install import install as install_mesh

    with kube.api_client(kubeconfig) as client:
        try:
            install_mesh(client, click.echo, wait=wait)
        except TimeoutError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo("the control plane is installed; `meshctl proxy-status` lists connected proxies")


def _documents(filenames: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """(source, document) from files, directories (their .yaml, .yml and .json) or ``-``."""
    for filename in filenames:
        path = Path(filename)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
        else:
            files = [path]
        for file in files:
            name = "<stdin>" if filename == "-" else str(file)
            try:
                text = sys.stdin.read() if filename == "-" else file.read_text()
                documents = [d for d in yaml.safe_load_all(text) if d is not None]
            except OSError as exc:
                raise click.ClickException(f"{name}: {exc.strerror}") from None
            except yaml.YAMLError as exc:
                raise click.ClickException(f"{name}: not valid YAML: {exc}") from None
            for document in documents:
                yield name, document


files_option = click.option(
    "-f", "--filename", multiple=True, help="file, directory or - for stdin (repeatable)"
)


@main.command("kube-inject")
@files_option
@click.option("--pilot", default=DEFAULT_PILOT, show_default=True, help="where proxies find pilot")
def kube_inject(filename: tuple[str, ...], pilot: str) -> None:
    """Add the sidecar to every pod in a manifest and print it (like istioctl kube-inject)."""
    from mesh_runtime.inject import inject

    if not filename:
        raise click.UsageError("give the manifest with -f FILE (or -f - for stdin)")
    documents = [inject(document, pilot) for _, document in _documents(filename)]
    yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)


@main.command()
@files_option
def validate(filename: tuple[str, ...]) -> None:
    """Check Istio config in files against Istio's rules, before applying it."""
    from mesh_runtime.validation import GROUP, SECURITY_GROUP, describe
    from mesh_runtime.validation import validate as check

    if not filename:
        raise click.UsageError("give the config with -f FILE (or -f - for stdin)")
    failed: set[str] = set()
    sources: list[str] = []
    for source, document in _documents(filename):
        sources += [] if source in sources else [source]
        if not isinstance(document, dict):
            messages = ["not a Kubernetes object (expected a mapping with apiVersion and kind)"]
        elif (group := str(document.get("apiVersion", "")).split("/")[0]) in (
            GROUP,
            SECURITY_GROUP,
        ) and document.get("kind") not in (ISTIO_KINDS if group == GROUP else SECURITY_KINDS):
            messages = [f"unknown kind {document.get('kind')!r} in {group}"]
        elif not (document.get("metadata") or {}).get("name"):
            messages = ["metadata.name is required"]
        else:
            messages = check(document)
        if messages:
            failed.add(source)
            what = (
                f"{document.get('kind')} {document['metadata']['name']}"
                if isinstance(document, dict) and (document.get("metadata") or {}).get("name")
                else "document"
            )
            click.echo(f"Error: {source}: {what}: {describe(messages)}", err=True)
    for source in sources:
        if source not in failed:
            click.echo(f'"{source}" is valid')
    if failed:
        sys.exit(1)


def _cluster_objects(kubeconfig: str | None) -> list[Any]:
    """What analysis reads from the cluster: namespaces, services, endpoints, pods, Istio config."""
    from kubernetes.client.exceptions import ApiException

    from mesh_runtime import kube

    paths = {"Namespace": "/api/v1/namespaces", "Service": "/api/v1/services",
             "Endpoints": "/api/v1/endpoints", "Pod": "/api/v1/pods"}  # fmt: skip
    for group, kinds in (("networking", ISTIO_KINDS), ("security", SECURITY_KINDS)):
        paths |= {kind: f"/apis/{group}.istio.io/v1/{plural}" for kind, plural in kinds.items()}
    objects = []
    with kube.api_client(kubeconfig) as client:
        for kind, path in paths.items():
            try:
                items = kube.get_raw(client, path).get("items") or []
            except ApiException as exc:
                raise click.ClickException(f"listing {path}: {exc.status} {exc.reason}") from None
            objects += [{**item, "kind": kind} for item in items]
    return objects


@main.command()
@files_option
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("-A", "--all-namespaces", is_flag=True, help="analyze every namespace")
@click.option(
    "--use-kube/--no-use-kube",
    default=True,
    show_default=True,
    help="read the cluster's config (with -f files over it), or only the files",
)
@click.option(
    "--failure-threshold",
    type=click.Choice(["Info", "Warning", "Error"]),
    default="Error",
    show_default=True,
    help="exit 79 on findings at this level or above",
)
@kubeconfig_option
def analyze(filename: tuple[str, ...], namespace: str, all_namespaces: bool, use_kube: bool,
            failure_threshold: str, kubeconfig: str | None) -> None:  # fmt: skip
    """Warn about config that is valid but will not work: unknown hosts, subsets, gateways."""
    from mesh_runtime.analyze import LEVELS
    from mesh_runtime.analyze import analyze as run_analysis

    objects = _cluster_objects(kubeconfig) if use_kube else []
    objects += [document for _, document in _documents(filename)]
    messages = run_analysis(objects, None if all_namespaces else {namespace})
    where = "all namespaces" if all_namespaces else f"namespace: {namespace}"
    if not messages:
        click.echo(f"\u2714 No validation issues found when analyzing {where}.")
        return
    for message in messages:
        click.echo(str(message))
    threshold = LEVELS.index(failure_threshold)
    if any(LEVELS.index(message.level) >= threshold for message in messages):
        sys.exit(ANALYZE_FAILED)


@main.command("proxy-status")
@kubeconfig_option
def proxy_status(kubeconfig: str | None) -> None:
    """Each proxy's sync state per xDS type: SYNCED, STALE, or NACK with Envoy's reason."""
    from kubernetes.client.exceptions import ApiException

    from mesh_runtime import kube

    with kube.api_client(kubeconfig) as client:
        try:
            statuses = kube.get_raw(client, SYNCZ)
        except ApiException as exc:
            raise click.ClickException(
                f"pilot did not answer ({exc.status} {exc.reason}): is the mesh installed? "
                "(`meshctl install`)"
            ) from None
    click.echo(f"{'NAME':<50} " + " ".join(f"{t:<8}" for t in TYPES))
    for status in sorted(statuses, key=lambda s: s["proxy"]):
        name = status["proxy"].split("~")[2] if status["proxy"].count("~") == 3 else status["proxy"]
        click.echo(f"{name:<50} " + " ".join(f"{status.get(t, '-'):<8}" for t in TYPES))


CONFIG_TYPES = {
    "cluster": ("type.googleapis.com/envoy.config.cluster.v3.Cluster", "name"),
    "listener": ("type.googleapis.com/envoy.config.listener.v3.Listener", "name"),
    "route": ("type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "name"),
    "endpoint": ("type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                 "cluster_name"),
}  # fmt: skip


PROXY_CONFIG_KINDS = [*CONFIG_TYPES, "bootstrap", "secret"]


@main.command("proxy-config")
@click.argument(
    "kind",
    # istioctl's plural names (routes, clusters, ...) and the singular both work.
    type=click.Choice(sorted([*PROXY_CONFIG_KINDS, *(f"{k}s" for k in CONFIG_TYPES)])),
)
@click.argument("pod")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("-o", "--output", type=click.Choice(["short", "json"]), default="short")
@kubeconfig_option
def proxy_config(kind: str, pod: str, namespace: str, output: str, kubeconfig: str | None) -> None:
    """What pilot serves POD's proxy, by type, or the bootstrap it started with (like istioctl
    proxy-config). POD may be a pod's name, NAME.NAMESPACE, or deploy/NAME for one of its pods."""
    import json

    from kubernetes.client.exceptions import ApiException

    from mesh_runtime import kube

    kind = kind if kind in PROXY_CONFIG_KINDS else kind.removesuffix("s")
    with kube.api_client(kubeconfig) as client:
        try:
            pod, namespace = _pod_of(client, pod, namespace)
            agent = f"/api/v1/namespaces/{namespace}/pods/{pod}:15020/proxy/debug"
            if kind == "bootstrap":  # the agent relays these from Envoy on its status port
                dump = kube.get_raw(client, f"{agent}/bootstrap")
                click.echo(json.dumps(dump["configs"][0]["bootstrap"], indent=2))
                return
            if kind == "secret":
                _print_secrets(kube.get_raw(client, f"{agent}/certs"), output)
                return
            found = kube.get_raw(client, f"/api/v1/namespaces/{namespace}/pods/{pod}")
            ip = found.get("status", {}).get("podIP", "")
            gateway = found["metadata"].get("labels", {}).get("istio") == "ingressgateway"
            role = "router" if gateway else "sidecar"
            proxy = f"{role}~{ip}~{pod}.{namespace}~{namespace}.svc.cluster.local"
            dump = kube.get_raw(client, f"{CONFIG_DUMP}?proxy={proxy}")
        except ApiException as exc:
            raise click.ClickException(f"{exc.status} {exc.reason}: {exc.body}") from None
    type_url, name_field = CONFIG_TYPES[kind]
    resources = dump.get(type_url, [])
    if output == "json":
        click.echo(json.dumps(resources, indent=2))
        return
    for resource in resources:
        click.echo(resource[name_field])


def _pod_of(client: Any, ref: str, namespace: str) -> tuple[str, str]:
    """The pod ``ref`` names, as istioctl reads it: NAME, NAME.NAMESPACE or deploy/NAME."""
    from mesh_runtime import kube

    kind, _, name = ref.rpartition("/")
    if not kind:
        name, _, where = ref.partition(".")
        return name, where or namespace
    if kind not in ("deploy", "deployment", "deployments"):
        raise click.ClickException(f"{ref}: name a pod, NAME.NAMESPACE or deploy/NAME")
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    labels = kube.get_raw(client, path)["spec"]["selector"].get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    pods = kube.get_raw(client, f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")
    running = [
        p
        for p in pods["items"]
        if p.get("status", {}).get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")  # not one a rollout is replacing
    ]
    if not running:
        raise click.ClickException(f"deployment {name} has no running pod in {namespace}")
    return running[0]["metadata"]["name"], namespace


@main.command("tls-check")
@click.argument("pod")
@click.argument("host", required=False)
@click.option("-n", "--namespace", default="default", show_default=True)
@kubeconfig_option
def tls_check(pod: str, host: str | None, namespace: str, kubeconfig: str | None) -> None:
    """Which mTLS mode POD's calls use, and what the servers behind each service accept."""
    from mesh_runtime.tlscheck import model_of
    from mesh_runtime.tlscheck import tls_check as check

    objects = _cluster_objects(kubeconfig)
    found = [o for o in objects if o["kind"] == "Pod" and o["metadata"]["name"] == pod
             and o["metadata"].get("namespace") == namespace]  # fmt: skip
    if not found:
        raise click.ClickException(f'pod "{pod}" not found in namespace "{namespace}"')
    model = model_of(objects)
    rows = check(model, model.workload(namespace, found[0].get("status", {}).get("podIP", "")),
                 host)  # fmt: skip
    if host and not rows:
        raise click.ClickException(f"{host}: no such service in {pod}'s view of the mesh")
    _table(["HOST:PORT", "STATUS", "SERVER", "CLIENT", "AUTHN POLICY", "DESTINATION RULE"],
           [[f"{r.host}:{r.port}", r.status, r.server, r.client, r.policies, r.rule]
            for r in rows])  # fmt: skip


def _table(headers: list[str], rows: list[list[str]]) -> None:
    """Columns as wide as their widest cell, two spaces apart, as kubectl prints them."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for line in [headers, *rows]:
        click.echo("  ".join(f"{cell:<{width}}" for cell, width in zip(line, widths, strict=True))
                   .rstrip())  # fmt: skip


MIXER = "/api/v1/namespaces/istio-system/services/istio-mixer"
DASHBOARDS = {
    "metrics": (42422, "/metrics", "Istio's metrics in Prometheus's format (scrape it)"),
    "graph": (42422, "/graph", "the live service graph, as JSON"),
    "traces": (9411, "/api/v2/traces", "Zipkin's v2 API (point a Zipkin or Jaeger UI at it)"),
}


@main.command()
@click.argument("kind", type=click.Choice(sorted(DASHBOARDS)))
def dashboard(kind: str) -> None:
    """Where to look at the mesh's metrics, service graph or traces."""
    port, path, what = DASHBOARDS[kind]
    click.echo(f"{kind}: {what}")
    click.echo(f"  kubectl port-forward -n istio-system svc/istio-mixer {port}:{port}")
    click.echo(f"  then http://127.0.0.1:{port}{path}")
    click.echo(f"  or at once: kubectl get --raw {MIXER}:{port}/proxy{path}")


@main.command()
@click.option("-n", "--namespace", default="", help="only this namespace's workloads")
@kubeconfig_option
def top(namespace: str, kubeconfig: str | None) -> None:
    """Each workload's request rate, success rate and latency over the last minute."""
    from kubernetes.client.exceptions import ApiException

    from mesh_runtime import kube

    with kube.api_client(kubeconfig) as client:
        try:
            graph = kube.get_raw(client, f"{MIXER}:42422/proxy/graph")
        except ApiException as exc:
            raise click.ClickException(
                f"mixer did not answer ({exc.status} {exc.reason}): is the mesh installed?"
            ) from None
    rows = [
        [w["workload"], f"{100 * w['success_rate']:.2f}%", f"{w['rps']:.2f}",
         f"{w['p50_ms']:.1f}ms", f"{w['p99_ms']:.1f}ms", f"{100 * w['mtls_share']:.0f}%"]
        for w in graph.get("workloads") or []
        if not namespace or w["workload"].startswith(f"{namespace}/")
    ]  # fmt: skip
    if not rows:
        click.echo(f"no traffic in the last {graph.get('window_seconds', 60):g} s")
        return
    _table(["WORKLOAD", "SUCCESS", "RPS", "LATENCY_P50", "LATENCY_P99", "MTLS"], rows)


def _print_secrets(certs: Any, output: str) -> None:
    """The proxy's certificate and root, as ``istioctl proxy-config secret`` lists them."""
    import json

    rows: dict[str, Any] = {}
    for entry in certs.get("certificates") or []:
        for name, key in (("default", "cert_chain"), ("ROOTCA", "ca_cert")):
            for cert in entry.get(key) or []:
                rows.setdefault(name, cert)
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    table = []
    for name, cert in rows.items():
        uris = [san.get("uri", "") for san in cert.get("subject_alt_names") or []]
        table.append([name, ",".join(u for u in uris if u) or "-", cert.get("serial_number", ""),
                      cert.get("expiration_time", ""), cert.get("valid_from", "")])  # fmt: skip
    _table(["RESOURCE NAME", "IDENTITY", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"], table)


if __name__ == "__main__":
    main(prog_name="meshctl")  # run as `python -m` inside clusters, named as the learner types it
