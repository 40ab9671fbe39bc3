"""The course server: pages, sessions, progress, cluster backends and the CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("labplatform")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
