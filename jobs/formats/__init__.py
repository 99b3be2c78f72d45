"""Report renderers, by the name `--format` takes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from jobs.formats.json_report import render_json
from jobs.formats.markdown import render_markdown
from jobs.formats.rdjson import render_rdjson
from jobs.formats.sarif import render_sarif
from jobs.formats.text import render_text
from jobs.report import Report

RENDERERS: Mapping[str, Callable[[Report], str]] = MappingProxyType(
    {
        "text": render_text,
        "json": render_json,
        "sarif": render_sarif,
        "markdown": render_markdown,
        "rdjson": render_rdjson,
    }
)
