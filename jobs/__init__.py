"""The ProvenFix pipeline: analysis, candidate generation, validation, scoring.

Nothing in this package knows about GitHub.
"""

from provenfix import __version__

__all__ = ["__version__"]
