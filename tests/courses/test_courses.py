"""Loading and linting courses: the native format and Killercoda scenarios."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from labplatform.courses.discover import discover_courses, load
from labplatform.courses.model import Asset
from labplatform.courses.scaffold import new_course
from tests.helpers import REPO, VENV_BIN

LABPLATFORM = str(VENV_BIN / "labplatform")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_scaffold_loads_with_every_part(tmp_path: Path) -> None:
    course = load(new_course(tmp_path, "mesh-101"))
    assert course.problems == []
    assert (course.title, course.format) == ("Mesh 101", "native")
    (lab,) = course.labs
    assert (lab.title, lab.difficulty, lab.minutes) == ("First lab", "beginner", 15)
    assert lab.tabs == [{"name": "App", "port": 80}]
    assert [s.title for s in lab.steps] == ["Look around", "Create a namespace"]
    assert lab.intro is not None and lab.finish is not None
    second = lab.steps[1]
    assert second.checks[0]["name"] == "demo"
    assert second.solution == "kubectl create namespace demo"
    assert "`kubectl create namespace demo`{{exec}}" in second.text
    assert not second.text.startswith("---")  # front matter is not part of the text


def test_problems_name_file_and_line(tmp_path: Path) -> None:
    folder = new_course(tmp_path, "broken")
    lab = folder / "first-lab"
    write(
        lab / "lab.yaml",
        "title: Lab\ndifficulty: expert\ntime: soon\nsetup: missing.sh\nsnacks: yes\n",
    )
    write(lab / "01-look-around.md", "---\ntitle: [unclosed\n---\nbody\n")
    write(lab / "02-create-a-namespace.md", "---\nchecks: nope\ncolour: red\n---\n# Two\n")
    problems = [str(p).replace(str(folder) + "/", "") for p in load(folder).problems]
    assert problems == [
        "first-lab/lab.yaml:5: unknown key 'snacks' (known: description, difficulty, files, "
        "setup, steps, tabs, time, title)",
        "first-lab/lab.yaml:2: difficulty must be one of beginner, intermediate, advanced, "
        "not 'expert'",
        "first-lab/lab.yaml:3: time is minutes, a positive whole number, not 'soon'",
        "first-lab/lab.yaml:4: setup: missing.sh does not exist in first-lab/",
        "first-lab/01-look-around.md:3: invalid YAML: did not find expected ',' or ']'",
        "first-lab/02-create-a-namespace.md:3: unknown front matter key 'colour' (known: checks, "
        "hints, solution, title)",
        "first-lab/02-create-a-namespace.md:2: 'checks' must be a list of mappings",
    ]


def test_lab_files_set_up_scripts_and_solutions_from_the_text(tmp_path: Path) -> None:
    folder = new_course(tmp_path, "shared")
    write(folder / "manifests" / "app" / "web.yaml", "kind: Service\n")
    write(folder / "manifests" / "readme.txt", "the app\n")
    write(folder / "scripts" / "base.sh", "true\n")
    lab = folder / "first-lab"
    write(lab / "extra.sh", "true\n")
    write(lab / "token.jwt", "abc\n")
    write(
        lab / "lab.yaml",
        "title: Lab\nsetup: [../scripts/base.sh, extra.sh]\n"
        "files: [../manifests, {from: token.jwt, to: /root/auth}]\n",
    )
    step = lab / "02-create-a-namespace.md"
    write(
        step,
        "---\nchecks: [{check: resource, apiVersion: v1, kind: Namespace, name: demo}]\n---\n"
        "See `kubectl get ns`{{exec}}, type `k`{{exec no-newline}}, copy `x`{{copy}}.\n\n"
        "```bash\nkubectl create namespace demo\nkubectl get ns demo\n```{{exec T2}}\n",
    )
    course = load(folder)
    assert course.problems == []
    (loaded,) = course.labs
    assert [p.relative_to(folder).as_posix() for p in loaded.setup] == [
        "first-lab/../scripts/base.sh",
        "first-lab/extra.sh",
    ]
    assert [(a.source.relative_to(folder).as_posix(), a.target) for a in loaded.assets] == [
        ("manifests/readme.txt", "/root/manifests"),
        ("manifests/app/web.yaml", "/root/manifests/app"),
        ("first-lab/token.jwt", "/root/auth"),
    ]
    # No solution in the front matter: the blocks a learner clicks are the solution.
    assert loaded.steps[1].solution == (
        "kubectl get ns\nkubectl create namespace demo\nkubectl get ns demo"
    )


def test_lab_files_must_exist_inside_the_course_and_checks_need_something_to_run(
    tmp_path: Path,
) -> None:
    folder = new_course(tmp_path, "leaky")
    lab = folder / "first-lab"
    write(lab / "lab.yaml", "title: Lab\nfiles: [../../outside, nowhere.yaml, {to: /x}]\n")
    write(
        lab / "02-create-a-namespace.md",
        "---\nchecks: [{check: resource, apiVersion: v1, kind: Namespace, name: demo}]\n---\n"
        "Read only.\n",
    )
    problems = [str(p).replace(str(folder) + "/", "") for p in load(folder).problems]
    assert problems == [
        "first-lab/lab.yaml:2: files: ../../outside is outside the course",
        "first-lab/lab.yaml:2: files: nowhere.yaml does not exist",
        "first-lab/lab.yaml:2: each file is a path or {from, to}, got {'to': '/x'}",
        "first-lab/02-create-a-namespace.md:1: this step has checks but nothing to run: "
        "add click-to-run blocks or a solution",
    ]


SCENARIO = {
    "title": "Traffic shifting",
    "description": "Move traffic from v1 to v2",
    "difficulty": "Beginner",
    "time": "15 minutes",
    "details": {
        "intro": {"text": "intro.md", "background": "setup.sh", "foreground": "wait.sh"},
        "steps": [
            {"title": "All to v1", "text": "step1.md", "verify": "verify1.sh", "hint": "hint1.md"},
            {"title": "Shift 20%", "text": "step2.md", "answer": "answer2.md"},
        ],
        "finish": {"text": "finish.md"},
        "assets": {"host01": [{"file": "*.yaml", "target": "/root"}]},
    },
    "environment": {"dashboards": [{"name": "Sentiment app", "port": 80}], "uilayout": "terminal"},
    "backend": {"imageid": "kubernetes-kubeadm-1node"},
}


def scenario(folder: Path, data: dict = SCENARIO) -> Path:
    write(folder / "index.json", json.dumps(data, indent=2))
    for name in ("intro.md", "step1.md", "step2.md", "finish.md", "hint1.md", "answer2.md"):
        write(folder / name, f"# {name}\n\n`kubectl get vs`{{{{exec}}}}\n")
    for name in ("setup.sh", "wait.sh", "verify1.sh"):
        write(folder / name, "#!/bin/bash\ntrue\n")
    write(folder / "assets" / "vs.yaml", "kind: VirtualService\n")
    return folder


def test_a_killercoda_scenario_imports_unchanged(tmp_path: Path) -> None:
    course = load(scenario(tmp_path / "traffic"))
    assert course.problems == []
    assert (course.format, course.title) == ("killercoda", "Traffic shifting")
    (lab,) = course.labs
    assert (lab.difficulty, lab.minutes) == ("beginner", 15)
    assert [s.title for s in lab.steps] == ["All to v1", "Shift 20%"]
    assert lab.steps[0].verify == tmp_path / "traffic" / "verify1.sh"
    assert lab.steps[0].hints == ["# hint1.md\n\n`kubectl get vs`{{exec}}\n"]
    assert lab.steps[1].solution.startswith("# answer2.md")
    assert [p.name for p in lab.setup] == ["setup.sh"]
    assert [p.name for p in lab.foreground] == ["wait.sh"]
    assert lab.tabs == [{"name": "Sentiment app", "port": 80}]
    assert lab.assets == [Asset(tmp_path / "traffic" / "assets" / "vs.yaml", "/root")]


def test_a_broken_scenario_lists_every_problem(tmp_path: Path) -> None:
    data = json.loads(json.dumps(SCENARIO))
    data["details"]["steps"][1]["text"] = "missing.md"
    data["details"]["steps"][0]["verify"] = "nope.sh"
    data["details"]["assets"]["host01"][0]["file"] = "*.json"
    folder = scenario(tmp_path / "broken", data)
    messages = [p.message for p in load(folder).problems]
    assert messages == [
        "step1: verify script nope.sh does not exist",
        "file not found",
        "assets.host01: no file in assets/ matches '*.json'",
    ]
    write(folder / "index.json", '{"title": "x",\n  "details": [}')
    (problem,) = load(folder).problems
    assert (problem.line, problem.message.split(":")[0]) == (2, "invalid JSON")


def test_discovery_and_the_lint_command(tmp_path: Path) -> None:
    new_course(tmp_path, "good")
    scenario(tmp_path / "imported")
    (tmp_path / "notes").mkdir()
    assert [c.slug for c in discover_courses(tmp_path)] == ["good", "imported"]
    clean = subprocess.run(
        [LABPLATFORM, "course", "lint", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert clean.returncode == 0
    assert clean.stdout.strip() == "2 course(s), 2 lab(s), 4 step(s): no problems"
    write(tmp_path / "good" / "course.yaml", "description: no title\nlabs: [first-lab]\n")
    broken = subprocess.run(
        [LABPLATFORM, "course", "lint", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert broken.returncode == 1
    assert broken.stdout.splitlines() == [
        f"{tmp_path}/good/course.yaml:1: missing a 'title' string"
    ]


def test_the_courses_we_ship_lint_clean() -> None:
    shipped = subprocess.run(
        [LABPLATFORM, "course", "lint", str(REPO / "courses")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shipped.returncode == 0, shipped.stdout
    assert shipped.stdout.strip().endswith(": no problems")
    (mesh,) = [c for c in discover_courses(REPO / "courses") if c.slug == "service-mesh"]
    assert len(mesh.labs) == 9
    for lab in mesh.labs:  # what every lab owes a learner
        assert lab.intro and lab.finish and lab.steps, lab.slug
        assert all(step.solution for step in lab.steps if step.checks), lab.slug


def test_new_refuses_bad_names_and_existing_folders(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid course name 'Mesh 101'"):
        new_course(tmp_path, "Mesh 101")
    new_course(tmp_path, "mesh")
    with pytest.raises(FileExistsError):
        new_course(tmp_path, "mesh")


def test_a_course_is_parsed_again_only_when_a_file_changed(tmp_path: Path) -> None:
    folder = new_course(tmp_path, "cached")
    first = load(folder)
    assert load(folder) is first  # nothing changed: the parsed course is reused
    step = folder / "first-lab" / "01-look-around.md"
    step.write_text(step.read_text().replace("title: Look around", "title: Look closer"))
    assert load(folder).labs[0].steps[0].title == "Look closer"
    before = load(folder)
    (folder / "first-lab" / "extra.png").write_bytes(b"\x89PNG")  # a new file counts too
    assert load(folder) is not before
