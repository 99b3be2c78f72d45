"""libcst codemods as candidate generators: formatting-preserving rewrites of touched functions."""

from jobs.generation.codemods.framework import Codemod, FunctionInfo, Site
from jobs.generation.codemods.generator import CodemodGenerator, default_codemods
from jobs.generation.codemods.hunks import minimal_candidate

__all__ = [
    "Codemod",
    "CodemodGenerator",
    "FunctionInfo",
    "Site",
    "default_codemods",
    "minimal_candidate",
]
