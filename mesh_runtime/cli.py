"""``meshctl``: the mesh's istioctl."""

from __future__ import annotations

import sys
from typing import Any

import click
import yaml

from labkit.envoy import EnvoyNotFoundError, envoy_version

DEFAULT_PILOT = "istiod.istio-system.svc:15010"
PILOT_DEBUG = "/api/v1/namespaces/istio-system/services/istiod:15014/proxy/debug"
SYNCZ = f"{PILOT_DEBUG}/syncz"
CONFIG_DUMP = f"{PILOT_DEBUG}/config_dump"
TYPES = ("CDS", "LDS", "EDS", "RDS")


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


@main.command("kube-inject")
@click.option("-f", "--filename", type=click.File(), required=True, help="manifest, or - for stdin")
@click.option("--pilot", default=DEFAULT_PILOT, show_default=True, help="where proxies find pilot")
def kube_inject(filename: Any, pilot: str) -> None:
    """Add the sidecar to every pod in a manifest and print it (like istioctl kube-inject)."""
    from mesh_runtime.inject import inject

    try:
        documents = [d for d in yaml.safe_load_all(filename) if d]
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{filename.name}: not valid YAML: {exc}") from None
    yaml.safe_dump_all([inject(d, pilot) for d in documents], sys.stdout, sort_keys=False)


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


@main.command("proxy-config")
@click.argument("kind", type=click.Choice(sorted(CONFIG_TYPES)))
@click.argument("pod")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("-o", "--output", type=click.Choice(["short", "json"]), default="short")
@kubeconfig_option
def proxy_config(kind: str, pod: str, namespace: str, output: str, kubeconfig: str | None) -> None:
    """What pilot serves POD's proxy, by type (like istioctl proxy-config)."""
    import json

    from kubernetes.client.exceptions import ApiException

    from mesh_runtime import kube

    with kube.api_client(kubeconfig) as client:
        try:
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


if __name__ == "__main__":
    main()
