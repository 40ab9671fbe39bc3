"""`labplatform course play`: every lab in courses/ plays green, and a deviation is caught."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from labplatform.courses.discover import discover_courses
from labplatform.courses.model import Course, Lab
from labplatform.courses.scaffold import new_course
from tests.helpers import REPO, VENV_BIN

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


LABS = [(course, lab) for course in discover_courses(REPO / "courses") for lab in course.labs]


def play(path: Path, data_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "labplatform"), "course", "play", str(path), *options],
        capture_output=True,
        text=True,
        timeout=1100,
        env={**os.environ, "LABPLATFORM_DATA_DIR": str(data_dir)},
        check=False,
    )


def clusters_left(data_dir: Path) -> list[str]:
    root = data_dir / "clusters"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_courses_has_labs_to_play() -> None:
    assert LABS, "courses/ has no lab to play"


@pytest.mark.parametrize(
    ("course", "lab"), LABS, ids=[f"{course.slug}/{lab.slug}" for course, lab in LABS]
)
def test_every_lab_in_courses_plays_green(course: Course, lab: Lab, tmp_path: Path) -> None:
    """Each graded step's checks fail, its solution (or its click-to-run text) runs, they pass."""
    played = play(course.path, tmp_path, "--lab", lab.slug)
    assert played.returncode == 0, played.stdout + played.stderr
    for step in [s for s in lab.steps if s.checks or s.verify]:
        assert re.search(rf"^  {re.escape(step.slug)} +FAIL +ran +PASS ", played.stdout, re.M), (
            played.stdout
        )
    assert "every lab played green" in played.stdout
    assert clusters_left(tmp_path) == []


def test_a_check_that_passes_before_its_solution_fails_the_play(tmp_path: Path) -> None:
    folder = new_course(tmp_path / "courses", "lazy")
    step = folder / "first-lab" / "02-create-a-namespace.md"
    step.write_text(step.read_text().replace("name: demo", "name: default"))  # always there
    played = play(folder, tmp_path / "data")
    assert played.returncode == 1
    assert "✗ its checks passed before its solution ran" in played.stdout
    assert "1 step(s) did not play as they should" in played.stderr
    assert clusters_left(tmp_path / "data") == []


def test_a_play_stopped_by_sigterm_deletes_its_cluster(tmp_path: Path) -> None:
    folder = new_course(tmp_path / "courses", "interrupted")
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [str(VENV_BIN / "labplatform"), "course", "play", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "LABPLATFORM_DATA_DIR": str(data)},
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # stop it once its cluster exists and is being set up
        if "API server ready" in line:
            break
    assert clusters_left(data), "the play made no cluster"
    proc.terminate()
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, output
    assert "stopped by SIGTERM" in output
    assert clusters_left(data) == []
