"""The grader checks live clusters: reuse the API server tests' cluster fixture."""

from tests.apiserver.conftest import cluster

__all__ = ["cluster"]
