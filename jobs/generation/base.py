"""The seam every candidate source sits behind."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from jobs.model import Candidate, Finding
from jobs.snapshot import Snapshot


class CandidateGenerator(Protocol):
    name: str

    def generate(self, findings: Sequence[Finding], snapshot: Snapshot) -> list[Candidate]: ...
