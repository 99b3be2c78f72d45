"""libcst codemods as candidate generators: formatting-preserving rewrites of touched functions."""

from provenfix.jobs.generation.codemods.framework import Codemod, FunctionInfo, Site
from provenfix.jobs.generation.codemods.generator import CodemodGenerator, default_codemods
from provenfix.jobs.generation.codemods.hunks import minimal_candidate

__all__ = [
    "Codemod",
    "CodemodGenerator",
    "FunctionInfo",
    "Site",
    "default_codemods",
    "minimal_candidate",
]
