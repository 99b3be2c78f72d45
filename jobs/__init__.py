"""The ProvenFix pipeline: analysis, candidate generation, validation, scoring.

Nothing in this package knows about GitHub.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("provenfix")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
