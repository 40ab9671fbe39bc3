"""``labplatform course new``: a course that lints clean and shows every feature once."""

from __future__ import annotations

import re
from pathlib import Path

COURSE = """\
title: {title}
description: What the learner will be able to do after this course.
labs:
  - first-lab
"""
LAB = """\
title: First lab
description: One sentence on what this lab teaches.
difficulty: beginner
time: 15
tabs:
  - name: App
    port: 80
"""
INTRO = """\
# Welcome

Say why this lab matters and what the learner will build.
"""
STEP_1 = """\
---
title: Look around
hints:
  - "`kubectl get` lists objects of a kind."
---

# Look around

List the namespaces of your cluster:

`kubectl get namespaces`{{exec}}
"""
STEP_2 = """\
---
title: Create a namespace
checks:
  - check: resource
    apiVersion: v1
    kind: Namespace
    name: demo
    message: A namespace called demo exists
    hint: "`kubectl create namespace demo` creates it."
hints:
  - "`kubectl create namespace NAME` creates one."
solution: kubectl create namespace demo
---

# Create a namespace

`kubectl create namespace demo`{{exec}}

Then press **Check**.
"""
FINISH = """\
# Well done

Sum up what was learned and where to read next.
"""
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def new_course(parent: Path, name: str) -> Path:
    """Write the scaffold into ``parent/name``; refuses to touch an existing folder."""
    if not _NAME.match(name):
        raise ValueError(
            f"invalid course name {name!r}: use lower-case letters, digits and '-' "
            "(it becomes the course's address)"
        )
    folder = parent / name
    if folder.exists():
        raise FileExistsError(f"{folder} already exists; choose another name")
    lab = folder / "first-lab"
    lab.mkdir(parents=True)
    title = name.replace("-", " ").capitalize()
    files = {
        folder / "course.yaml": COURSE.format(title=title),
        lab / "lab.yaml": LAB,
        lab / "intro.md": INTRO,
        lab / "01-look-around.md": STEP_1,
        lab / "02-create-a-namespace.md": STEP_2,
        lab / "finish.md": FINISH,
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return folder
