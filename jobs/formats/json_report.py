"""The report as JSON, per schemas/report-v2.schema.json (v1 is kept beside it)."""

from __future__ import annotations

import json
from typing import Any

from provenfix.jobs.report import (
    Finding,
    FunctionMetrics,
    ModelAttempt,
    ReplayEvidence,
    Report,
    Skipped,
    SpeedEvidence,
    Suggestion,
)

SCHEMA_VERSION = 2


def report_to_dict(report: Report) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {
            "name": report.tool.name,
            "version": report.tool.version,
            "model": report.tool.model,
        },
        "repository": report.repository,
        "base": report.base,
        "head": report.head,
        "summary": {
            "files_changed": report.files_changed,
            "lines_added": report.lines_added,
            "findings": len(report.findings),
            "suggestions": len(report.suggestions),
            "suggestions_validated": report.suggestions_validated,
            "duration_s": report.duration_s,
            "stage_durations_s": dict(report.stage_durations_s),
        },
        "findings": [finding_to_dict(f) for f in report.findings],
        "metrics": [_metrics(m) for m in report.metrics],
        "suggestions": [suggestion_to_dict(s) for s in report.suggestions],
        "skipped": [_skipped(s) for s in report.skipped],
        **(
            {"model_attempts": [_attempt(a) for a in report.model_attempts]}
            if report.model_attempts
            else {}
        ),
    }


def _attempt(a: ModelAttempt) -> dict[str, Any]:
    return {
        "path": a.path,
        "function": a.function,
        "finding_ids": list(a.finding_ids),
        "rounds": a.rounds,
        "samples": a.samples,
        "unchanged": a.unchanged,
        "repeated": a.repeated,
        "candidates": a.candidates,
        "narrowed": a.narrowed,
        "prompt_tokens": a.prompt_tokens,
        "completion_tokens": a.completion_tokens,
        "seconds": a.seconds,
        "end": a.end.value,
    }


def _skipped(s: Skipped) -> dict[str, Any]:
    out: dict[str, Any] = {"path": s.path, "reason": s.reason}
    if s.line is not None:
        out["line"] = s.line
    return out


def finding_to_dict(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f.id,
        "source": f.source.value,
        "rule_id": f.rule_id,
        "category": f.category.value,
        "severity": f.severity.value,
        "path": f.path,
        "start_line": f.start_line,
        "end_line": f.end_line,
        "message": f.message,
    }
    if f.function:
        out["function"] = f.function
    if f.test:
        out["test"] = f.test
    if f.suspects:
        out["suspects"] = [
            {"path": x.path, "line": x.line, "ochiai": x.score, "failing": x.failing,
             "passing": x.passing}
            for x in f.suspects
        ]  # fmt: skip
    return out


def _metrics(m: FunctionMetrics) -> dict[str, Any]:
    return {
        "path": m.path,
        "name": m.name,
        "start_line": m.start_line,
        "end_line": m.end_line,
        "cc_head": m.cc_head,
        "cc_base": m.cc_base,
        "mi_head": m.mi_head,
        "mi_base": m.mi_base,
    }


def suggestion_to_dict(s: Suggestion) -> dict[str, Any]:
    v, sc = s.validation, s.score
    validation: dict[str, Any] = {
        "status": v.status.value,
        "tests_selected": v.tests_selected,
        "tests_run": v.tests_run,
        "tests_failed": v.tests_failed,
        "new_failures": list(v.new_failures),
        "fixed_tests": list(v.fixed_tests),
        "flaky_tests": list(v.flaky_tests),
        "duration_s": v.duration_s,
    }
    validation["passing_tests"] = list(v.passing_tests)
    validation["runs"] = v.runs
    validation["replay"] = _replay(v.replay)
    validation["speed"] = _speed(v.speed)
    if v.detail:
        validation["detail"] = v.detail
    c = sc.components
    return {
        "id": s.id,
        "finding_ids": list(s.finding_ids),
        "kind": s.kind.value,
        "source": s.source,
        "path": s.path,
        "start_line": s.start_line,
        "end_line": s.end_line,
        "original": s.original,
        "replacement": s.replacement,
        "rationale": s.rationale,
        "validation": validation,
        "score": {
            "reliability": sc.reliability,
            "components": {
                "defect_density_before": c.defect_density_before,
                "defect_density_after": c.defect_density_after,
                "complexity_before": c.complexity_before,
                "complexity_after": c.complexity_after,
                "performance_efficiency": c.performance_efficiency,
                "coverage": c.coverage,
                "confidence": c.confidence,
            },
            "weights": {
                "alpha": sc.weights.alpha,
                "beta": sc.weights.beta,
                "gamma": sc.weights.gamma,
            },
        },
        "committable": s.committable,
    }


def _replay(r: ReplayEvidence | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "functions": list(r.functions),
        "calls_recorded": r.calls_recorded,
        "calls_replayed": r.calls_replayed,
        "not_replayable": r.not_replayable,
        "inputs_generated": r.inputs_generated,
        "calls_changed": r.calls_changed,
        "example": r.example,
    }


def _speed(sp: SpeedEvidence | None) -> dict[str, Any] | None:
    if sp is None:
        return None
    return {
        "speedup": sp.speedup,
        "low": sp.low,
        "high": sp.high,
        "rounds": sp.rounds,
        "calls": sp.calls,
        "significant": sp.significant,
    }


def render_json(report: Report) -> str:
    return json.dumps(report_to_dict(report), indent=2) + "\n"
