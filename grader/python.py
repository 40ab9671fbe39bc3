"""``check: python``: a function in the lab's folder decides, for what YAML cannot say.

::

    - check: python
      file: checks.py              # in the lab's folder
      function: reviews_are_fast   # def reviews_are_fast(context) -> CheckResult | (bool, str)

The function gets the :class:`~grader.context.CheckContext` (the cluster's
API client, a shell where the learner's runs) and returns a
:class:`~grader.results.CheckResult`, or ``(passed, observed)``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from grader.context import CheckContext
from grader.results import CheckResult
from grader.spec import Spec


@dataclass(frozen=True)
class PythonCheck:
    file: str
    function: str
    message: str = ""
    hint: str = ""

    @classmethod
    def parse(cls, spec: Spec) -> PythonCheck:
        check = cls(spec.text("file"), spec.text("function"), spec.message, spec.hint)
        return check

    @property
    def title(self) -> str:
        return self.message or self.function.replace("_", " ")

    def run(self, context: CheckContext) -> CheckResult:
        if context.lab_dir is None:
            return CheckResult(self.title, False, "no lab folder to find checks in")
        path = (context.lab_dir / self.file).resolve()
        if not path.is_relative_to(context.lab_dir.resolve()) or not path.is_file():
            return CheckResult(self.title, False, f"the course has no {self.file}", self.hint)
        function = getattr(_module(path), self.function, None)
        if not callable(function):
            return CheckResult(self.title, False, f"{self.file} has no {self.function}()")
        outcome = function(context)
        if isinstance(outcome, CheckResult):
            return outcome
        passed, observed = outcome
        return CheckResult(self.title, bool(passed), str(observed), "" if passed else self.hint)


def _module(path: Path) -> object:
    """The file as a module, loaded afresh so an author's edit counts on the next Check."""
    spec = importlib.util.spec_from_file_location(f"lab_checks_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
