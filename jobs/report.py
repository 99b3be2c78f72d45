"""The data model every pipeline stage reads and writes.

All records are frozen: a stage returns new records instead of editing the ones
it was given, so a report can always be traced back to the evidence behind it.
Lines are 1-based and refer to the head version of a file; paths are
repository-relative with '/' separators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Category(StrEnum):
    DEFECT = "defect"
    SECURITY = "security"
    PERFORMANCE = "performance"
    MAINTAINABILITY = "maintainability"
    TEST_FAILURE = "test-failure"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


class FindingSource(StrEnum):
    SEMGREP = "semgrep"
    RADON = "radon"
    TESTS = "tests"


class ValidationStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NO_TESTS = "no_tests"
    NOT_RUN = "not_run"
    ERROR = "error"


class SuggestionKind(StrEnum):
    REPAIR = "repair"
    OPTIMIZATION = "optimization"
    REFACTOR = "refactor"


@dataclass(frozen=True, order=True)
class LineRange:
    """An inclusive range of head-side lines."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 1 or self.end < self.start:
            raise ValueError(f"invalid line range {self.start}..{self.end}")

    def overlaps(self, other: LineRange) -> bool:
        return self.start <= other.end and other.start <= self.end

    def __contains__(self, line: object) -> bool:
        return isinstance(line, int) and self.start <= line <= self.end


@dataclass(frozen=True)
class ChangedFile:
    """One file the change touched, with the head lines it added or changed."""

    path: str
    old_path: str | None  # None when the file is new
    added: tuple[LineRange, ...]
    hunks: tuple[LineRange, ...]  # head-side extent of each diff hunk (anchoring)

    @property
    def is_new(self) -> bool:
        return self.old_path is None

    @property
    def lines_added(self) -> int:
        return sum(r.end - r.start + 1 for r in self.added)

    def touches(self, lines: LineRange) -> bool:
        return any(r.overlaps(lines) for r in self.added)


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
    line: int | None = None  # a candidate that was not posted: where it would have gone


@dataclass(frozen=True)
class Suspect:
    """A changed line a failing test executes, with its Ochiai suspiciousness
    (jobs.validation.localization): how many failing and passing tests execute it."""

    path: str
    line: int
    score: float
    failing: int
    passing: int


@dataclass(frozen=True)
class Finding:
    id: str  # stable fingerprint, see jobs.fingerprint
    source: FindingSource
    rule_id: str
    category: Category
    severity: Severity
    path: str
    start_line: int
    end_line: int
    message: str
    function: str | None = None  # qualified name of the enclosing function
    fix: str | None = None  # semgrep's proposed replacement text, when the rule has one
    fix_span: tuple[int, int] | None = None  # byte offsets of the match the fix replaces
    test: str | None = None  # for test failures: the failing test's node id
    # for test failures: the changed lines the test executes, most suspicious first
    suspects: tuple[Suspect, ...] = ()


@dataclass(frozen=True)
class FunctionMetrics:
    path: str
    name: str  # qualified, e.g. Class.method
    start_line: int
    end_line: int
    cc_head: int
    cc_base: int | None  # None when the function is new
    mi_head: float
    mi_base: float | None


@dataclass(frozen=True)
class Candidate:
    """A proposed replacement of whole head lines, before anything proved it."""

    id: str
    finding_ids: tuple[str, ...]
    kind: SuggestionKind
    source: str  # semgrep-autofix, codemod:<name>, model:<name>
    path: str
    start_line: int
    end_line: int
    original: str  # exact head text of start_line..end_line, line endings included
    replacement: str
    description: str  # one line: what the change does

    @property
    def lines(self) -> LineRange:
        return LineRange(self.start_line, self.end_line)


@dataclass(frozen=True)
class ReplayEvidence:
    """Recorded calls into the changed function(s), replayed against head and the candidate."""

    functions: tuple[str, ...]  # qualified names replayed
    calls_recorded: int  # calls the baseline's tests made into them
    calls_replayed: int  # distinct recorded calls replayed on both sides
    not_replayable: int  # arguments that are not plain data, or head answered differently
    inputs_generated: int  # hypothesis inputs replayed (behaviour-preserving candidates)
    calls_changed: int  # calls whose result, exception or argument mutation differ
    example: str = ""  # one call: `f(1)`: 2 → 3 (a counterexample, or a repair's effect)


@dataclass(frozen=True)
class SpeedEvidence:
    """The changed function timed on the replayed calls, head vs candidate, interleaved."""

    speedup: float  # head time / candidate time, geometric mean over rounds
    low: float  # 95% confidence interval of the speed-up
    high: float
    rounds: int
    calls: int

    @property
    def significant(self) -> bool:
        return self.low >= SIGNIFICANT_SPEEDUP


SIGNIFICANT_SPEEDUP = 1.1  # the lower bound a speed-up claim needs


@dataclass(frozen=True)
class Validation:
    status: ValidationStatus
    tests_selected: int = 0
    tests_run: int = 0
    tests_failed: int = 0
    new_failures: tuple[str, ...] = ()
    fixed_tests: tuple[str, ...] = ()
    flaky_tests: tuple[str, ...] = ()
    duration_s: float = 0.0
    detail: str = ""
    # tests whose call phase passed and checked something, in every run with the candidate
    passing_tests: tuple[str, ...] = ()
    runs: int = 0  # sessions of the selected tests with the candidate applied
    replay: ReplayEvidence | None = None
    speed: SpeedEvidence | None = None
    # the end of the failing tests' output with the candidate, bounded (for the code
    # model's next round: jobs.generation.code_model.repair_loop); "" when none was kept
    failure_output: str = ""

    @classmethod
    def not_run(cls, detail: str) -> Validation:
        return cls(status=ValidationStatus.NOT_RUN, detail=detail)


@dataclass(frozen=True)
class Weights:
    alpha: float = 0.4
    beta: float = 0.3
    gamma: float = 0.3


@dataclass(frozen=True)
class ScoreComponents:
    defect_density_before: float
    defect_density_after: float
    complexity_before: float
    complexity_after: float
    performance_efficiency: float | None
    coverage: float | None
    confidence: float = 0.0  # how much of the region the evidence covers (docs/scoring.md)


@dataclass(frozen=True)
class Score:
    reliability: float
    components: ScoreComponents
    weights: Weights


@dataclass(frozen=True)
class Suggestion:
    id: str
    finding_ids: tuple[str, ...]
    kind: SuggestionKind
    source: str  # semgrep-autofix, codemod:<name>, model:<name>
    path: str
    start_line: int
    end_line: int
    original: str
    replacement: str
    rationale: str
    validation: Validation
    score: Score

    @property
    def committable(self) -> bool:
        """Only a suggestion the tests proved may be posted as a one-click change."""
        return self.validation.status is ValidationStatus.PASSED


class RoundsEnd(StrEnum):
    """Why the code model was not asked again for a function."""

    PROVEN = "proven"  # one of its candidates passed the tests
    ROUNDS = "rounds"  # the last round allowed was asked
    TARGET_BUDGET = "target_budget"  # the function's share of the model's time was spent
    ANALYSIS_BUDGET = "analysis_budget"  # the analysis' model time was spent
    UNTESTABLE = "untestable"  # no test judged its candidates: none would judge another
    MODEL_FAILED = "model_failed"
    NOT_VALIDATED = "not_validated"  # nothing was validated: one round only


@dataclass(frozen=True)
class ModelAttempt:
    """What the code model spent on one function over its rounds (generate, validate,
    regenerate with the failures: jobs.generation.code_model.repair_loop)."""

    path: str
    function: str  # qualified name
    finding_ids: tuple[str, ...]
    rounds: int
    samples: int  # answers drawn, re-samples included
    unchanged: int  # answers that returned the function unchanged: dropped, re-sampled
    repeated: int  # answers that repeated an earlier round's rewrite: dropped, re-sampled
    candidates: int  # distinct candidates sent to validation
    narrowed: int  # rounds that asked for the suspicious lines only
    prompt_tokens: int | None  # None: the backend does not count tokens
    completion_tokens: int | None
    seconds: float
    end: RoundsEnd


@dataclass(frozen=True)
class ToolInfo:
    version: str
    model: str | None = None
    name: str = "provenfix"


@dataclass(frozen=True)
class Report:
    tool: ToolInfo
    repository: str
    base: str  # the merge base the change is measured against
    head: str
    files_changed: int
    lines_added: int
    findings: tuple[Finding, ...]
    metrics: tuple[FunctionMetrics, ...]
    suggestions: tuple[Suggestion, ...]
    skipped: tuple[Skipped, ...]
    duration_s: float
    stage_durations_s: dict[str, float] = field(default_factory=dict)
    model_attempts: tuple[ModelAttempt, ...] = ()

    @property
    def suggestions_validated(self) -> int:
        return sum(1 for s in self.suggestions if s.committable)

    def reaches(self, fail_on: str) -> bool:
        """Whether a finding has at least severity `fail_on` ("never": never), for exit 3."""
        if fail_on == "never":
            return False
        threshold = Severity(fail_on).rank
        return any(finding.severity.rank >= threshold for finding in self.findings)
