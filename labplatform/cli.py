"""The ``labplatform`` command: the course server and the host check.

Later parts add their groups here (``cluster``, ``course``); every command
reads the same :class:`~labplatform.settings.Settings`, so an option given on
the command line, an environment variable and the config file agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import uvicorn

from labkit.logs import configure_logging
from labplatform import __version__
from labplatform.settings import Settings, SettingsError, load_settings


def _settings(ctx: click.Context, **overrides: object) -> Settings:
    config: Path | None = ctx.find_root().params.get("config")
    try:
        return load_settings(config, **overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML settings file (default: $LABPLATFORM_CONFIG).",
)
@click.version_option(__version__, prog_name="labplatform")
def main(config: Path | None) -> None:
    """Interactive labs for microservices, Kubernetes and the service mesh."""


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8000).")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--courses-dir", type=click.Path(path_type=Path, file_okay=False))
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    courses_dir: Path | None,
) -> None:
    """Start the course server."""
    from labplatform.app import create_app

    settings = _settings(ctx, host=host, port=port, data_dir=data_dir, courses_dir=courses_dir)
    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=5,
    )


@main.command()
@click.option("--port", type=int, help="Port the course server will use (default 8000).")
@click.pass_context
def doctor(ctx: click.Context, port: int | None) -> None:
    """Check this host for each cluster backend; exit 1 if the embedded one cannot run."""
    from labplatform.doctor import Doctor, format_report

    settings = _settings(ctx, port=port)
    checker = Doctor(settings.port)
    checks = checker.checks()
    click.echo(format_report(checks, checker.rootless))
    sys.exit(1 if any(check.blocking for check in checks) else 0)
