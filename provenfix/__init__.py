"""ProvenFix: find what a change breaks, write a fix, prove it with the repository's tests.

The import names all live under this package: `provenfix.jobs` (the pipeline, which knows
nothing of GitHub), `provenfix.bot` (the GitHub App and the `provenfix` command),
`provenfix.actions` (the GitHub Action), with the semgrep rules and the report schemas as
package data (`provenfix/rules`, `provenfix/schemas`). In the repository these are the
top-level folders bot/, jobs/, actions/, rules/ and schemas/; provenfix/ links to them.
"""

__version__ = "0.1.0"  # the one place: pyproject.toml reads it (tool.setuptools.dynamic)
