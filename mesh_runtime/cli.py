"""``meshctl``: the mesh's istioctl. Subcommands arrive with the parts they drive."""

from __future__ import annotations

import click

from labkit.envoy import EnvoyNotFoundError, envoy_version


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Inspect and operate the service mesh of a lab cluster."""


@main.command()
def version() -> None:
    """Print meshctl's version and the version of the Envoy it runs as the proxy."""
    from importlib.metadata import version as dist_version

    click.echo(f"meshctl {dist_version('labplatform')}")
    try:
        click.echo(f"envoy {envoy_version()}")
    except EnvoyNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
