"""The ``labplatform`` command: the course server and the host check.

Later parts add their groups here (``cluster``, ``course``); every command
reads the same :class:`~labplatform.settings.Settings`, so an option given on
the command line, an environment variable and the config file agree.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
import uvicorn

from labkit.logs import configure_logging
from labplatform import __version__
from labplatform.settings import Settings, SettingsError, load_settings

log = logging.getLogger("labplatform.cli")

if TYPE_CHECKING:
    from collections.abc import Sequence

    from grader.results import CheckResult
    from labplatform.clusters.embedded.manager import EmbeddedClusters


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
@click.option("--dev", is_flag=True, default=None, help="Reload pages as course files change.")
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    courses_dir: Path | None,
    dev: bool | None,
) -> None:
    """Start the course server."""
    from labplatform.app import create_app

    settings = _settings(
        ctx, host=host, port=port, data_dir=data_dir, courses_dir=courses_dir, dev=dev
    )
    configure_logging(settings.log_format, settings.log_level)
    from labplatform.clusters.embedded.manager import EmbeddedClusters

    # Clusters of an earlier run that crashed may have left cgroups or sockets behind.
    EmbeddedClusters(settings.data_dir).gc(lambda line: log.info(line))
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


class _ClusterGroup(click.Group):
    """Shows a failed cluster operation as a one-line error, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from labplatform.clusters.backend import ClusterError

        try:
            return super().invoke(ctx)
        except ClusterError as exc:
            raise click.ClickException(str(exc)) from None


@main.group(cls=_ClusterGroup)
def cluster() -> None:
    """Create, list and delete lab clusters on this host (embedded backend)."""


def _clusters(ctx: click.Context) -> EmbeddedClusters:
    from labplatform.clusters.embedded.manager import EmbeddedClusters

    return EmbeddedClusters(_settings(ctx).data_dir)


def _progress(message: str) -> None:
    click.echo(f"  {message}", err=True)


@cluster.command("create")
@click.argument("name")
@click.option(
    "--memory",
    "memory_mb",
    type=click.IntRange(256),
    default=2048,
    show_default=True,
    help="Memory limit of the whole cluster, in MiB.",
)
@click.option(
    "--cpus",
    type=click.FloatRange(0.1),
    default=1.0,
    show_default=True,
    help="CPU limit of the whole cluster, in cores.",
)
@click.option("--mesh", is_flag=True, help="Install the service mesh's control plane too.")
@click.pass_context
def cluster_create(ctx: click.Context, name: str, memory_mb: int, cpus: float, mesh: bool) -> None:
    """Create cluster NAME and wait until its API answers (and the mesh, with --mesh)."""
    click.echo(f"creating cluster {name}", err=True)
    clusters = _clusters(ctx)
    info = clusters.create(name, _progress, memory_mb=memory_mb, cpus=cpus)
    if mesh:
        from mesh_runtime import kube
        from mesh_runtime.install import install

        _progress("installing the mesh (istiod and the ingress gateway)")
        with kube.api_client(str(clusters.kubeconfig(name))) as client:
            try:
                install(client, _progress, wait=True)
            except TimeoutError as exc:
                raise click.ClickException(str(exc)) from None
    click.echo(f"cluster {name} is ready at {info.server}")
    click.echo(f"export KUBECONFIG={_clusters(ctx).kubeconfig(name)}")


@cluster.command("list")
@click.pass_context
def cluster_list(ctx: click.Context) -> None:
    """List clusters with their state and API address."""
    rows = _clusters(ctx).list()
    click.echo(f"{'NAME':<24} {'STATE':<8} {'SERVER':<28} CREATED")
    for info, running in rows:
        state = "running" if running else "stopped"
        click.echo(f"{info.name:<24} {state:<8} {info.server:<28} {info.created}")


@cluster.command("kubeconfig")
@click.argument("name")
@click.pass_context
def cluster_kubeconfig(ctx: click.Context, name: str) -> None:
    """Print the path of cluster NAME's kubeconfig."""
    click.echo(_clusters(ctx).kubeconfig(name))


@cluster.command("shell", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def cluster_shell(ctx: click.Context, name: str, command: tuple[str, ...]) -> None:
    """Open a shell inside cluster NAME's node (or run COMMAND there), with kubectl set up."""
    argv = _clusters(ctx).shell_command(name, command)
    os.execvp(argv[0], list(argv))


@cluster.command("gc")
@click.pass_context
def cluster_gc(ctx: click.Context) -> None:
    """Remove what crashed or killed clusters left behind on this host."""
    removed = _clusters(ctx).gc(_progress)
    click.echo(f"removed {len(removed)} leftover(s)")


@cluster.command("start")
@click.argument("name")
@click.pass_context
def cluster_start(ctx: click.Context, name: str) -> None:
    """Start a stopped cluster with everything it held."""
    info = _clusters(ctx).start(name, _progress)
    click.echo(f"cluster {name} is running at {info.server}")


@cluster.command("stop")
@click.argument("name")
@click.pass_context
def cluster_stop(ctx: click.Context, name: str) -> None:
    """Stop cluster NAME's processes; its objects stay for `start`."""
    _clusters(ctx).stop(name)
    click.echo(f"cluster {name} stopped")


@cluster.command("delete")
@click.argument("name")
@click.pass_context
def cluster_delete(ctx: click.Context, name: str) -> None:
    """Stop cluster NAME and remove everything it had."""
    _clusters(ctx).delete(name)
    click.echo(f"cluster {name} deleted")


@main.group()
def images() -> None:
    """The project's container images (for the kind and kubernetes backends)."""


@images.command("list")
def images_list() -> None:
    """Every image reference the labs use, as `make images` tags them."""
    from labplatform.clusters.images import references

    click.echo("\n".join(references()))


@images.command("build")
def images_build() -> None:
    """Build every image from images/Dockerfile with the local Docker engine."""
    from labplatform.clusters.images import ImageBuildError, build_all

    try:
        build_all(Path(__file__).resolve().parent.parent, _progress)
    except ImageBuildError as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def course() -> None:
    """Write and check courses."""


@course.command("lint")
@click.argument("path", type=click.Path(path_type=Path, exists=True, file_okay=False))
def course_lint(path: Path) -> None:
    """Check the course at PATH (or every course under it); print file:line: message."""
    from labplatform.courses.discover import discover_courses

    courses = discover_courses(path)
    if not courses:
        raise click.ClickException(
            f"no course in {path}: a course folder holds course.yaml or a Killercoda index.json"
        )
    problems = [problem for c in courses for problem in c.problems]
    for problem in problems:
        click.echo(str(problem))
    labs = sum(len(c.labs) for c in courses)
    steps = sum(len(lab.steps) for c in courses for lab in c.labs)
    summary = f"{len(courses)} course(s), {labs} lab(s), {steps} step(s)"
    if problems:
        click.echo(f"{summary}: {len(problems)} problem(s)", err=True)
        sys.exit(1)
    click.echo(f"{summary}: no problems")


@course.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to create it in (default: the configured courses folder).",
)
@click.pass_context
def course_new(ctx: click.Context, name: str, parent: Path | None) -> None:
    """Create course NAME from a template that shows each feature once."""
    from labplatform.courses.scaffold import new_course

    try:
        folder = new_course(parent or _settings(ctx).courses_dir, name)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {folder}; check it with: labplatform course lint {folder}")


@course.command("play")
@click.argument("path", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--lab", "lab_names", multiple=True, help="Only this lab (repeatable).")
@click.option("--keep", is_flag=True, help="Keep each lab's cluster for a look afterwards.")
@click.pass_context
def course_play(ctx: click.Context, path: Path, lab_names: tuple[str, ...], keep: bool) -> None:
    """Play every lab of the course(s) at PATH: each step fails, its solution runs, it passes."""
    from labplatform.app import make_backend
    from labplatform.courses.discover import discover_courses
    from labplatform.sessions.play import play

    courses = discover_courses(path)
    if not courses:
        raise click.UsageError(f"no course in {path}")
    broken = [str(p) for c in courses for p in c.problems]
    if broken:
        listed = "\n".join(broken)
        raise click.ClickException(f"the course has problems (see course lint):\n{listed}")
    labs = [(c, lab) for c in courses for lab in c.labs if not lab_names or lab.slug in lab_names]
    if not labs:
        raise click.UsageError(f"no lab called {', '.join(lab_names)} in {path}")
    backend = make_backend(_settings(ctx))
    # A TERM (CI's timeout, a Ctrl-C'd parent) unwinds like Ctrl-C, so the lab's cluster goes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(f"{path}: stopped by SIGTERM"))
    deviations = 0
    for course_obj, lab in labs:
        click.echo(f"\n{course_obj.slug}/{lab.slug}: {lab.title}")
        began = time.monotonic()
        click.echo(f"  {'step':<32} {'before':<7} {'solution':<9} {'after':<6} {'time':>7}")
        for played in play(backend, lab, _progress, keep=keep):
            before = _verdict(played.before) if played.graded else "-"
            after = _verdict(played.after) if played.after else "-"
            solution = played.solution.split(":")[0]
            click.echo(
                f"  {played.step.slug:<32} {before:<7} {solution:<9} {after:<6} "
                f"{played.seconds:>6.1f}s"
            )
            if played.deviation:
                deviations += 1
                click.echo(f"    ✗ {played.deviation}")
        click.echo(f"  played in {time.monotonic() - began:.1f} s")
    if deviations:
        raise click.ClickException(f"{deviations} step(s) did not play as they should")
    click.echo(f"\nevery lab played green ({len(labs)} lab(s))")


def _verdict(results: Sequence[CheckResult]) -> str:
    return "PASS" if results and all(r.passed for r in results) else "FAIL"


@main.command("grade")
@click.argument("session_id")
@click.option("--step", "step_slug", help="Only this step (default: every step).")
@click.pass_context
def grade_session(ctx: click.Context, session_id: str, step_slug: str | None) -> None:
    """Run a learner's checks in their live session now, as an instructor would look."""
    from labplatform.app import make_backend
    from labplatform.platform import lookup_lab
    from labplatform.sessions import db as database
    from labplatform.sessions.db import LabSession, Learner
    from labplatform.sessions.grading import check_context, grade

    settings = _settings(ctx)
    factory = database.connect(settings.effective_database_url)
    with factory() as db:
        session = db.get(LabSession, session_id)
        learner = db.get(Learner, session.learner_id) if session else None
    database.dispose(factory)
    if session is None or learner is None:
        where = settings.effective_database_url
        raise click.ClickException(f"no session {session_id!r} in {where}")
    if session.state != "ready" or not session.cluster:
        raise click.ClickException(f"session {session_id} is {session.state}, not ready")
    lab = lookup_lab(settings.courses_dir, session.course, session.lab)
    if lab is None:
        raise click.ClickException(f"lab {session.course}/{session.lab} is not in the catalog")
    steps = [s for s in lab.steps if (s.checks or s.verify) and step_slug in (None, s.slug)]
    if not steps:
        raise click.UsageError(f"no step with checks called {step_slug!r} in {lab.slug}")
    click.echo(f"{learner.name}, {session.course}/{session.lab}, cluster {session.cluster}")
    failed = 0
    with check_context(make_backend(settings), session.cluster, lab.path) as context:
        for step in steps:
            results = grade(step, context, settle=0)
            failed += not all(r.passed for r in results)
            click.echo(f"\n{step.slug}: {_verdict(results)}")
            for result in results:
                click.echo(f"  {result}")
    sys.exit(1 if failed else 0)


@course.command("check")
@click.argument("path", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("lab")
@click.argument("step")
@click.option("--cluster", "cluster_name", help="An embedded cluster on this host.")
@click.option("--kubeconfig", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--settle", default=10.0, show_default=True, help="Seconds a check may retry.")
@click.pass_context
def course_check(
    ctx: click.Context,
    path: Path,
    lab: str,
    step: str,
    cluster_name: str | None,
    kubeconfig: Path | None,
    settle: float,
) -> None:
    """Run STEP's checks (of LAB in the course at PATH) against a cluster, as Check does."""
    from kubernetes import config as k8s_config
    from kubernetes.dynamic import DynamicClient

    from grader.context import CheckContext, local_shell
    from labplatform.clusters.embedded.backend import EmbeddedBackend
    from labplatform.courses.discover import load
    from labplatform.sessions.grading import check_context, grade

    if (cluster_name is None) == (kubeconfig is None):
        raise click.UsageError("give exactly one of --cluster NAME and --kubeconfig FILE")
    course_obj = load(path)
    found = next((candidate for candidate in course_obj.labs if candidate.slug == lab), None)
    if found is None:
        raise click.UsageError(
            f"no lab {lab!r} in {path}; labs: {', '.join(c.slug for c in course_obj.labs)}"
        )
    page = next((s for s in found.steps if s.slug == step), None)
    if page is None:
        raise click.UsageError(
            f"no step {step!r} in lab {lab}; steps: {', '.join(s.slug for s in found.steps)}"
        )
    if not page.checks and page.verify is None:
        raise click.ClickException(f"step {step} has no checks")
    if cluster_name is not None:  # the cluster's own shell: traffic leaves from its network
        backend = EmbeddedBackend(_settings(ctx).data_dir)
        with check_context(backend, cluster_name, found.path) as context:
            results = grade(page, context, settle)
    else:
        assert kubeconfig is not None
        with k8s_config.new_client_from_config(config_file=str(kubeconfig)) as api_client:
            context = CheckContext(DynamicClient(api_client), local_shell(kubeconfig), found.path)
            results = grade(page, context, settle)
    for result in results:
        click.echo(str(result))
    sys.exit(0 if all(r.passed for r in results) else 1)
