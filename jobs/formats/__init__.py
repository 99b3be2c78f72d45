"""Report renderers, by the name `--format` takes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from provenfix.jobs.formats.json_report import render_json
from provenfix.jobs.formats.markdown import render_markdown
from provenfix.jobs.formats.rdjson import render_rdjson
from provenfix.jobs.formats.sarif import render_sarif
from provenfix.jobs.formats.text import render_text
from provenfix.jobs.report import Report

RENDERERS: Mapping[str, Callable[[Report], str]] = MappingProxyType(
    {
        "text": render_text,
        "json": render_json,
        "sarif": render_sarif,
        "markdown": render_markdown,
        "rdjson": render_rdjson,
    }
)
