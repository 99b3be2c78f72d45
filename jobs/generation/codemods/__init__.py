"""libcst codemods as candidate generators: formatting-preserving rewrites of touched functions.

Importing the package does not import libcst: `CodemodGenerator` does, when it first
rewrites a function (jobs.generation.codemods.focus).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenfix.jobs.generation.codemods.focus import CodemodGenerator, default_codemods
from provenfix.jobs.generation.codemods.hunks import minimal_candidate

if TYPE_CHECKING:
    from provenfix.jobs.generation.codemods.framework import Codemod, FunctionInfo, Site

__all__ = [
    "Codemod",
    "CodemodGenerator",
    "FunctionInfo",
    "Site",
    "default_codemods",
    "minimal_candidate",
]


def __getattr__(name: str) -> object:
    if name in ("Codemod", "FunctionInfo", "Site"):
        from provenfix.jobs.generation.codemods import framework

        return getattr(framework, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
