"""Step Markdown: Katacoda/Killercoda actions, highlighting, images, traffic URLs."""

from pathlib import Path

import pytest

from labplatform.courses.discover import load
from labplatform.courses.markdown import Action, StepRenderer
from labplatform.courses.scaffold import new_course

RENDER = StepRenderer(lambda path: f"/files/mesh/{path}", lambda host, port: f"/app/{port}/")


def test_inline_actions_become_clickable_code() -> None:
    out = RENDER.render(
        "Run `kubectl get pods`{{exec}}, then `q`{{execute T2 interrupt no-newline}}."
    )
    run = '<code class="action" data-action="run" data-terminal="1" tabindex="0">'
    assert f"{run}kubectl get pods</code>" in out
    assert 'data-terminal="2" data-interrupt data-newline="false"' in out
    assert "{{" not in out


def test_a_block_closed_with_exec_runs_whole() -> None:
    out = RENDER.render("```\nkubectl apply -f vs.yaml\nkubectl get vs\n```{{exec}}\n\nafter\n")
    assert '<div class="code action" data-action="run" data-terminal="1">' in out
    assert "kubectl apply -f vs.yaml\nkubectl get vs\n</code>" in out
    assert "<p>after</p>" in out  # the block closed where the author closed it


def test_highlighting_with_killercoda_line_marks_and_copy_buttons() -> None:
    out = RENDER.render("```yaml{2}\na: 1\nb: 2\n```\n")
    assert '<code class="language-yaml">' in out and '<span class="hll">' in out
    assert '<button type="button" class="copy"' in out


def test_images_traffic_urls_and_no_raw_html() -> None:
    out = RENDER.render("![graph](img/graph.png) see {{TRAFFIC_HOST1_80}}\n\n<script>x()</script>")
    assert '<img src="/files/mesh/img/graph.png" alt="graph" loading="lazy" />' in out
    assert "see /app/80/" in out
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_admonitions() -> None:
    out = RENDER.render('!!! warning "Careful"\n    This deletes the namespace.\n')
    assert '<div class="admonition warning">' in out and "Careful" in out


@pytest.mark.parametrize(
    ("marker", "action"),
    [
        ("{{exec}}", Action("run")),
        ("{{execute T3}}", Action("run", terminal=3)),
        ("{{exec interrupt}}", Action("run", interrupt=True)),
        ("{{execute ctrl-seq}}", Action("run", ctrl_seq=True)),
        ("{{copy}}", Action("copy")),
    ],
)
def test_action_markers(marker: str, action: Action) -> None:
    assert Action.parse(marker) == action


def test_lint_finds_unknown_actions_and_missing_images(tmp_path: Path) -> None:
    folder = new_course(tmp_path, "mesh")
    step = folder / "first-lab" / "01-look-around.md"
    text = step.read_text()
    step.write_text(text + "\n`ls`{{run}}\n![x](missing.png)\n![y](../../../etc/passwd)\n")
    problems = [(p.line, p.message) for p in load(folder).problems]
    lines = len(text.splitlines())
    assert problems == [
        (
            lines + 2,
            "unknown action {{run}}: expected {{exec}}, {{execute T2}}, {{copy}} or "
            "{{TRAFFIC_HOST1_80}}",
        ),
        (lines + 3, "image missing.png does not exist"),
        (lines + 4, "image ../../../etc/passwd is outside the course folder"),
    ]
