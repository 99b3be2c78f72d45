"""The fixes a repository's maintainers accepted, as examples for the code model.

`AcceptedFixExamples` is the App's jobs.generation.code_model.examples.ExampleSource:
for a rule, the proven fixes of that rule whose posted suggestion was applied
in the repository (bot.outcomes records what became of each one), the newest
`max_candidates`, ranked by how close the lines they replaced are to the
function being repaired. One query per call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import and_, func, select

from provenfix.bot.db import Database
from provenfix.bot.tables import PostedSuggestion, ProvenFix, Run, SuggestionOutcome
from provenfix.jobs.generation.code_model.examples import AcceptedExample

# identifiers, numbers, and operators (the two- and three-character ones whole)
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+|\*\*=?|//=?|>>=?|<<=?|[-+*/%&|^=<>!:]=|->|[^\s\w]")


class AcceptedFixExamples:
    """The model's examples for one repository (an ExampleSource), read from `database`."""

    def __init__(
        self, database: Database, repository_id: int, *, max_candidates: int = 200
    ) -> None:
        self.database = database
        self.repository_id = repository_id
        self.max_candidates = max_candidates

    def examples(self, rule_id: str, code: str, limit: int) -> Sequence[AcceptedExample]:
        """At most `limit` distinct applied fixes of `rule_id` in this repository, the
        closest to `code` first (the newest first among equally close ones)."""
        if limit <= 0:
            return []
        statement = (
            select(ProvenFix.path, ProvenFix.original, ProvenFix.replacement)
            .select_from(SuggestionOutcome)
            .join(PostedSuggestion, PostedSuggestion.id == SuggestionOutcome.suggestion_row_id)
            .join(Run, Run.id == PostedSuggestion.run_id)
            .join(
                ProvenFix,
                and_(
                    ProvenFix.run_id == Run.id,
                    ProvenFix.suggestion_id == PostedSuggestion.suggestion_id,
                ),
            )
            .where(
                SuggestionOutcome.repository_id == self.repository_id,
                SuggestionOutcome.rule_id == rule_id,
                SuggestionOutcome.state == "applied",
                Run.repository_id == self.repository_id,
            )
            .order_by(
                func.coalesce(SuggestionOutcome.decided_at, SuggestionOutcome.posted_at).desc(),
                SuggestionOutcome.id.desc(),
                ProvenFix.id.desc(),
            )
            .limit(self.max_candidates)
        )
        with self.database.session() as session:
            rows = session.execute(statement).all()
        wanted = _tokens(code)
        distinct: dict[tuple[str, str], AcceptedExample] = {}
        for path, original, replacement in rows:  # newest first: the newest of twins is kept
            example = AcceptedExample(rule_id, path, original, replacement)
            distinct.setdefault((original, replacement), example)
        ranked = sorted(  # stable: equally close ones stay newest first
            distinct.values(), key=lambda e: -similarity(wanted, _tokens(e.original))
        )
        return ranked[:limit]


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two token sets (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _tokens(code: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(code))
