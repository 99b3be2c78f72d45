"""`provenfix serve`: gunicorn as a library, serving `bot.wsgi.create_app_from_env()`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]


class ProvenFixApplication(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: Mapping[str, Any]) -> None:
        self._options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        # The webhook answers in milliseconds; anything slower is stuck.
        if "timeout" not in self._options:
            self.cfg.set("timeout", 30)

    def load(self) -> Flask:
        from provenfix.bot.wsgi import create_app_from_env

        return create_app_from_env()
