"""The seam every candidate source sits behind."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from provenfix.jobs.report import Candidate, Finding, Skipped
from provenfix.jobs.snapshot import Snapshot


class CandidateGenerator(Protocol):
    name: str

    def generate(self, findings: Sequence[Finding], snapshot: Snapshot) -> list[Candidate]: ...


@runtime_checkable
class ExplainsDrops(Protocol):
    """A generator that says why it produced nothing for some findings (a code model's
    unusable answers, a spent budget): shown in the report's `skipped`."""

    def dropped(self) -> Sequence[Skipped]: ...
