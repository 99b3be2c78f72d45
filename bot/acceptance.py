"""How often maintainers accept a kind of suggestion, and what follows from it.

Every posted suggestion ends `applied` (accepted), `dismissed` or `left_open` when
its pull request ended (not accepted), or `superseded` (its lines changed otherwise:
no verdict on the suggestion, left out of the counts); bot.outcomes records which.
Acceptance is estimated per repository for two keys of a suggestion: its rule
(the rule of the finding it fixes) and its source family (`rule_fix` for the
rule's own autofix, `codemod`, `model`).

The estimate is Beta–binomial with a prior pooled over all installations: for a
key whose outcomes in every other repository are A accepted of N decided, the prior mean is
m = (A + 1) / (N + 2) and its weight `prior_strength` outcomes, so a repository
with a accepted of n decided expects

    p = (m · k + a) / (k + n),   k = prior_strength

A new repository starts from everyone's experience (p = m) and moves to its own
rate as its outcomes outnumber k. A key whose p falls below `floor` once the
repository has decided at least `min_outcomes` of its suggestions is *demoted*
there: its proven fixes go to the check run with the reason instead of being
posted as committable suggestions. Everything here is pure: bot.outcomes reads the
counts from the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from provenfix.jobs.settings_reader import SettingsReader

ACCEPTED = "applied"
NOT_ACCEPTED = frozenset({"dismissed", "left_open"})
SOURCE_FAMILIES = ("rule_fix", "codemod", "model")

DEFAULT_FLOOR = 0.2
DEFAULT_MIN_OUTCOMES = 8
DEFAULT_PRIOR_STRENGTH = 5.0


def source_family(source: str) -> str:
    """`codemod:<name>` → codemod, `model:<name>` → model, a rule's autofix → rule_fix."""
    kind = source.split(":", 1)[0]
    return kind if kind in ("codemod", "model") else "rule_fix"


@dataclass(frozen=True)
class AcceptancePolicy:
    floor: float = DEFAULT_FLOOR
    min_outcomes: int = DEFAULT_MIN_OUTCOMES
    prior_strength: float = DEFAULT_PRIOR_STRENGTH


def read_acceptance_policy(reader: SettingsReader) -> AcceptancePolicy:
    """PROVENFIX_ACCEPTANCE_FLOOR (0-1), PROVENFIX_ACCEPTANCE_MIN_OUTCOMES and
    PROVENFIX_ACCEPTANCE_PRIOR_STRENGTH (outcomes the pooled prior weighs)."""
    floor = _fraction(reader, "PROVENFIX_ACCEPTANCE_FLOOR", DEFAULT_FLOOR)
    min_outcomes = reader.integer(
        "PROVENFIX_ACCEPTANCE_MIN_OUTCOMES",
        DEFAULT_MIN_OUTCOMES,
        low=1,
        high=10_000,
        hint="how many decided suggestions of a rule or source a repository needs before "
        "its acceptance can demote them",
    )
    strength = _positive(reader, "PROVENFIX_ACCEPTANCE_PRIOR_STRENGTH", DEFAULT_PRIOR_STRENGTH)
    return AcceptancePolicy(floor, min_outcomes, strength)


@dataclass(frozen=True)
class Tally:
    accepted: int = 0
    decided: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.accepted + other.accepted, self.decided + other.decided)


@dataclass(frozen=True)
class Expectation:
    """The acceptance expected for one key (`rule` or `source`) in one repository."""

    key_kind: str  # "rule" | "source"
    key: str
    repository: Tally
    pooled: Tally  # the outcomes of every other repository, all installations
    probability: float
    demoted: bool

    def line(self) -> str:
        """What a suggestion's comment says, e.g. "accepted 12 of 14 times in this
        repository (expected acceptance 81%)"."""
        what = f"`{self.key}` suggestions" if self.key_kind == "rule" else f"{self.key} fixes"
        if self.repository.decided:
            seen = (
                f"{what} were accepted {self.repository.accepted} of "
                f"{self.repository.decided} times in this repository"
            )
        elif self.pooled.decided:
            seen = (
                f"no {what} decided in this repository yet; accepted {self.pooled.accepted} "
                f"of {self.pooled.decided} times across installations"
            )
        else:
            seen = f"no {what} decided yet"
        return f"{seen[0].upper()}{seen[1:]} (expected acceptance {self.probability:.0%})"

    def demotion_reason(self, policy: AcceptancePolicy) -> str:
        return (
            f"not posted as a committable suggestion: {self.line()[0].lower()}{self.line()[1:]}, "
            f"below this service's floor of {policy.floor:.0%} after "
            f"{policy.min_outcomes} or more decisions"
        )


@dataclass(frozen=True)
class AcceptanceBook:
    """The counts one repository's analysis needs: per rule and per source family, for the
    repository and pooled over every other repository of every installation."""

    policy: AcceptancePolicy = field(default_factory=AcceptancePolicy)
    repository_rules: Mapping[str, Tally] = field(default_factory=dict)
    pooled_rules: Mapping[str, Tally] = field(default_factory=dict)
    repository_sources: Mapping[str, Tally] = field(default_factory=dict)
    pooled_sources: Mapping[str, Tally] = field(default_factory=dict)

    def expect(self, key_kind: str, key: str) -> Expectation:
        if key_kind == "rule":
            mine, everyone = self.repository_rules, self.pooled_rules
        else:
            mine, everyone = self.repository_sources, self.pooled_sources
        own, pooled = mine.get(key, Tally()), everyone.get(key, Tally())
        p = posterior_mean(own, pooled, self.policy.prior_strength)
        demoted = own.decided >= self.policy.min_outcomes and p < self.policy.floor
        return Expectation(key_kind, key, own, pooled, p, demoted)

    def for_suggestion(self, rule_ids: Sequence[str], source: str) -> SuggestionAcceptance:
        """The expectations of a suggestion of `source` fixing findings of `rule_ids`."""
        rules = tuple(self.expect("rule", r) for r in sorted(set(rule_ids)))
        return SuggestionAcceptance(rules, self.expect("source", source_family(source)))


@dataclass(frozen=True)
class SuggestionAcceptance:
    rules: tuple[Expectation, ...]
    source: Expectation

    @property
    def headline(self) -> Expectation:
        """The expectation shown and used for ordering: the rule's (the more specific key;
        the least accepted one when a fix covers several rules), else the source's."""
        return min(self.rules, key=lambda e: e.probability) if self.rules else self.source

    @property
    def probability(self) -> float:
        return self.headline.probability

    @property
    def demoted_by(self) -> Expectation | None:
        """The key that keeps this suggestion off the diff, if any."""
        return next((e for e in (*self.rules, self.source) if e.demoted), None)


def posterior_mean(own: Tally, pooled: Tally, prior_strength: float) -> float:
    prior = (pooled.accepted + 1) / (pooled.decided + 2)
    return (prior * prior_strength + own.accepted) / (prior_strength + own.decided)


def _fraction(reader: SettingsReader, name: str, default: float) -> float:
    raw = reader.raw(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        reader.problem(f"{name}={raw!r} is not a fraction; use a number from 0 to 1, e.g. 0.2")
        return default
    return value


def _positive(reader: SettingsReader, name: str, default: float) -> float:
    raw = reader.raw(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1_000_000:
        reader.problem(f"{name}={raw!r} is not a positive number of outcomes; e.g. 5")
        return default
    return value
