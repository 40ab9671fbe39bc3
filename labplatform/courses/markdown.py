"""Step Markdown to HTML, with the actions Katacoda and Killercoda authors already write.

* ``\\`cmd\\`{{exec}}`` (or ``{{execute}}``): click to run in the terminal;
  ``{{exec T2}}`` in the second terminal; ``interrupt`` sends Ctrl-C first;
  ``no-newline`` types without pressing Enter; ``ctrl-seq`` sends a key
  sequence such as ``^C``. ``{{copy}}`` only copies.
* a fenced block closed by `````{{exec}}``: the whole block runs.
* ``{{TRAFFIC_HOST1_80}}``: the address of the app tab for port 80.
* images with relative paths come from the course folder.
* ``!!! note`` admonitions; fenced blocks are highlighted, with Killercoda's
  line marks (```` ```yaml{2,5} ````).

Raw HTML in a step is not rendered: course text is data, and imported data
must not be able to script the page a learner types passwords into.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.admon import admon_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from labplatform.courses.model import Problem

_ACTION = re.compile(r"^\{\{\s*(exec|execute|copy|open)\b([^}]*)\}\}")
_CLOSING_FENCE_ACTION = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(\{\{[^}]*\}\})\s*$")
_TRAFFIC = re.compile(r"\{\{TRAFFIC_HOST(\d+)_(\d+)\}\}")
_LINE_MARKS = re.compile(r"\{([\d,\s-]+)\}$")


@dataclass(frozen=True)
class Action:
    """What clicking a code block does."""

    kind: str  # "run" or "copy"
    terminal: int = 1
    interrupt: bool = False
    newline: bool = True
    ctrl_seq: bool = False

    @classmethod
    def parse(cls, marker: str) -> Action:
        match = _ACTION.match(marker.strip())
        if match is None:
            raise ValueError(f"not an action: {marker}")
        verb, words = match.group(1), match.group(2).split()
        if verb in ("copy", "open"):
            return cls("copy")
        terminal = next((int(w[1:]) for w in words if re.fullmatch(r"T\d+", w)), 1)
        return cls(
            "run", terminal, "interrupt" in words, "no-newline" not in words, "ctrl-seq" in words
        )

    def attributes(self) -> str:
        parts = [f'data-action="{self.kind}"']
        if self.kind == "run":
            parts.append(f'data-terminal="{self.terminal}"')
            if self.interrupt:
                parts.append("data-interrupt")
            if not self.newline:
                parts.append('data-newline="false"')
            if self.ctrl_seq:
                parts.append("data-ctrl-seq")
        return " ".join(parts)


def _move_closing_actions(text: str) -> str:
    """Katacoda puts a fence's action after its closing fence; move it into the info string."""
    lines = text.split("\n")
    opening: int | None = None
    fence = ""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if opening is None:
            if stripped.startswith(("```", "~~~")):
                opening, fence = index, stripped[:3]
            continue
        closing = _CLOSING_FENCE_ACTION.match(line)
        if closing and closing.group(2).startswith(fence):
            lines[opening] += f" {closing.group(3)}"
            lines[index] = closing.group(1) + closing.group(2)
            opening = None
        elif stripped.startswith(fence) and stripped.strip("`~") == "":
            opening = None
    return "\n".join(lines)


def _attach_inline_actions(state: StateCore) -> None:
    """`` `cmd`{{exec}} ``: the marker is text after a code span; it moves onto the span."""
    for block in state.tokens:
        children = block.children or []
        for code, after in itertools.pairwise(children):
            if code.type == "code_inline" and after.type == "text":
                match = _ACTION.match(after.content)
                if match:
                    code.meta["action"] = Action.parse(match.group(0))
                    after.content = after.content[match.end() :]


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.use(front_matter_plugin).use(admon_plugin)
    md.core.ruler.push("step_actions", _attach_inline_actions)
    return md


def runnable_blocks(text: str) -> list[str]:
    """The commands a learner runs by clicking through ``text``, in reading order.

    Only blocks that type whole lines count: a ``no-newline`` or
    ``ctrl-seq`` block needs a person at the keyboard.
    """
    commands = []
    for token in _parser().parse(_move_closing_actions(text)):
        inline = [c for c in token.children or [] if c.type == "code_inline"]
        for code in [token] if token.type == "fence" else inline:
            fenced = code.type == "fence"
            action = _fence_action(code.info)[0] if fenced else code.meta.get("action")
            if action and action.kind == "run" and action.newline and not action.ctrl_seq:
                commands.append(code.content.rstrip("\n"))
    return commands


class StepRenderer:
    """Renders step Markdown for one lab; URLs come from the caller, who knows the routes."""

    def __init__(
        self, asset_url: Callable[[str], str], traffic_url: Callable[[int, int], str]
    ) -> None:
        self.asset_url = asset_url
        self.traffic_url = traffic_url
        md = _parser()
        md.add_render_rule("code_inline", _code_inline)
        md.add_render_rule("fence", _fence)
        md.add_render_rule("image", _image)
        self.md = md

    def render(self, text: str) -> str:
        text = _TRAFFIC.sub(lambda m: self.traffic_url(int(m.group(1)), int(m.group(2))), text)
        env = {"asset_url": self.asset_url}
        return str(self.md.render(_move_closing_actions(text), env))


# Render rules: markdown-it binds them to its renderer, hence ``renderer`` first.


def _code_inline(
    renderer: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    action: Action | None = token.meta.get("action")
    content = html.escape(token.content)
    if action is None:
        return f"<code>{content}</code>"
    return f'<code class="action" {action.attributes()} tabindex="0">{content}</code>'


def _fence_action(info: str) -> tuple[Action | None, str]:
    """A fence's action (moved into its info string) and the info string without it."""
    info = info.strip()
    marker = re.search(r"\{\{[^}]*\}\}", info)
    if marker is None:
        return None, info
    return Action.parse(marker.group(0)), (info[: marker.start()] + info[marker.end() :]).strip()


def _fence(
    renderer: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    action, info = _fence_action(token.info)
    marks: list[int] = []
    line_marks = _LINE_MARKS.search(info)
    if line_marks:
        marks = _line_numbers(line_marks.group(1))
        info = info[: line_marks.start()].strip()
    language = info.split()[0] if info else ""
    body = _highlight(token.content, language, marks)
    attrs = f' class="code action" {action.attributes()}' if action else ' class="code"'
    copy = '<button type="button" class="copy" aria-label="Copy">Copy</button>'
    lang_class = f' class="language-{html.escape(language)}"' if language else ""
    return f"<div{attrs}>{copy}<pre><code{lang_class}>{body}</code></pre></div>\n"


def _image(
    renderer: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    if not re.match(r"^[a-z][a-z0-9+.-]*:|^/", src):
        token.attrSet("src", env["asset_url"](src))
    token.attrSet("alt", renderer.renderInlineAsText(token.children or [], options, env))
    token.attrSet("loading", "lazy")
    return str(renderer.renderToken(tokens, idx, options, env))


def _line_numbers(spec: str) -> list[int]:
    numbers: list[int] = []
    for part in spec.replace(" ", "").split(","):
        if "-" in part:
            start, end = part.split("-", 1)
            numbers.extend(range(int(start), int(end) + 1))
        elif part:
            numbers.append(int(part))
    return numbers


def _highlight(code: str, language: str, marks: list[int]) -> str:
    try:
        lexer = get_lexer_by_name(language) if language else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return html.escape(code)
    formatter = HtmlFormatter(nowrap=True, hl_lines=marks)
    return str(highlight(code, lexer, formatter))


_MARKER = re.compile(r"\{\{([^}]*)\}\}")
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")


def text_problems(path: Path, text: str, root: Path) -> list[Problem]:
    """What would render wrong: unknown ``{{...}}`` markers, images that are not there."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        for marker in _MARKER.finditer(line):
            whole = marker.group(0)
            if _TRAFFIC.fullmatch(whole):
                continue
            try:
                Action.parse(whole)
            except ValueError:
                problems.append(
                    Problem(
                        path,
                        number,
                        f"unknown action {whole}: expected "
                        "{{exec}}, {{execute T2}}, {{copy}} or {{TRAFFIC_HOST1_80}}",
                    )
                )
        for image in _IMAGE.finditer(line):
            src = image.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:|^/", src):
                continue
            target = (path.parent / src).resolve()
            if not target.is_relative_to(root.resolve()):
                problems.append(Problem(path, number, f"image {src} is outside the course folder"))
            elif not target.is_file():
                problems.append(Problem(path, number, f"image {src} does not exist"))
    return problems
