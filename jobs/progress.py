"""Progress of an analysis, as typed events: a stage and a line for people.

Every front end shows them its own way (the CLI on stderr, the Action in its log
and check run, the App in its check run, throttled per stage), so the stage is a
field, never recovered from the text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    SETUP = "setup"  # the front end's own steps: model, config, checkout
    FETCH = "fetch"
    DIFF = "diff"
    ANALYZE = "analyze"
    GENERATE = "generate"
    VALIDATE = "validate"
    SCORE = "score"
    REPORT = "report"


@dataclass(frozen=True)
class ProgressEvent:
    stage: Stage
    text: str

    def __str__(self) -> str:
        return f"{self.stage.value}: {self.text}"


Progress = Callable[[ProgressEvent], None]


def no_progress(_: ProgressEvent) -> None:
    pass
