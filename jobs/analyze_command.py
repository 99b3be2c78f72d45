"""What `provenfix analyze` does once its arguments are parsed (jobs.cli).

In order, so that every mistake of the user's is found before minutes of work: the
settings (environment and flags, jobs.config), the clone and its revisions, the
repository's config, where the reports go, the sandbox (Docker reachable, base image
there); then the analysis, the reports, and `--apply`.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

import git

from provenfix.jobs.cli import EXIT_FINDINGS
from provenfix.jobs.config import PipelineConfig, load_pipeline_config
from provenfix.jobs.diff import resolve
from provenfix.jobs.errors import NoCommonAncestor, UsageError
from provenfix.jobs.factory import PipelineFactory, SandboxNotReady
from provenfix.jobs.formats import RENDERERS
from provenfix.jobs.formats.patch import Patch, proven_patch
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.progress import ProgressEvent, Stage
from provenfix.jobs.repo_config import (
    config_change_notice,
    known_rule_ids,
    read_repo_settings,
    read_settings_file,
)
from provenfix.jobs.report import Report
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.settings_reader import Flag
from provenfix.jobs.terminal import ProgressDisplay, progress_display
from provenfix.jobs.workspace import (
    apply_patch,
    check_clean,
    check_output,
    default_base,
    explain_missing_history,
    find_repository,
)

DIFF_FORMAT = "diff"
CLI_VALIDATION = ("auto", "docker", "none", "off")


def run_analyze(args: argparse.Namespace, flags: dict[str, Flag]) -> int:
    # The analyze entry point reads the environment (here, once); the pipeline never does.
    config = load_pipeline_config(
        os.environ, flags, validation_choices=CLI_VALIDATION, default_validation="auto"
    )
    repo = find_repository(args.repo.resolve())
    root = Path(repo.working_tree_dir or args.repo).resolve()
    base = args.base or default_base(repo)
    try:  # both revisions and their merge base, before anything else
        if not repo.merge_base(resolve(repo, base), resolve(repo, args.head)):
            raise NoCommonAncestor(base, args.head)
    except UsageError as exc:
        raise explain_missing_history(repo, exc) from None
    settings = _repo_settings(args, config, repo, base)
    if args.apply:
        _check_apply(args, repo)
    for path in [args.output, *(path for _, path in args.write)]:
        if path is not None:
            check_output(path)
    display = progress_display(quiet=args.quiet)
    try:
        config = _ready_sandbox(config, display)
        factory = PipelineFactory(config)
        if config.model.enabled:
            lazily = "loaded when a function needs it"
            display(ProgressEvent(Stage.SETUP, f"code model: {config.model.label} ({lazily})"))
        report = factory.pipeline(settings, display).run(
            AnalysisRequest(repo_path=root, base=base, head=args.head)
        )
        patch = _patch(report, repo) if args.apply or _wants_patch(args) else None
        _write_reports(args, report, patch, display)
        if args.apply and patch is not None:
            _apply(repo, patch, display)
    finally:
        display.close()
    if not args.output:  # after the live display is gone, so the two never interleave
        sys.stdout.write(_render(args.format, report, patch))
        sys.stdout.flush()
    return EXIT_FINDINGS if report.reaches(args.fail_on) else 0


def _repo_settings(
    args: argparse.Namespace, config: PipelineConfig, repo: git.Repo, base: str
) -> AnalysisSettings:
    base_sha = resolve(repo, base)
    if args.config is not None:
        known = known_rule_ids(config.rules_dir, repo, base_sha)
        read = read_settings_file(args.config, known_rules=known)
    else:
        read = read_repo_settings(repo, base_sha, rules_dir=config.rules_dir)
        notice = config_change_notice(repo, base_sha, resolve(repo, args.head))
        if notice is not None:
            print(f"provenfix: notice: {notice}", file=sys.stderr, flush=True)
    settings = read.raise_problems()  # the user is at the keyboard: fix it first
    if args.install_command:
        settings = replace(settings, install_command=args.install_command)
    return settings


def _check_apply(args: argparse.Namespace, repo: git.Repo) -> None:
    if resolve(repo, args.head) != resolve(repo, "HEAD"):
        raise UsageError(
            f"--apply writes the fixes into the working tree, which is at HEAD, not at "
            f"{args.head}; check out {args.head} first, or use --format diff"
        )
    if not args.force:
        check_clean(repo)


def _ready_sandbox(config: PipelineConfig, display: ProgressDisplay) -> PipelineConfig:
    """`auto`: Docker when it answers, else no validation, said plainly; `docker`: the
    engine and the base image must be there (exit 2 saying what to do otherwise)."""
    if config.validation not in ("auto", "docker"):
        return config
    try:
        ready = PipelineFactory(replace(config, validation="docker")).check_ready()
    except SandboxNotReady as exc:
        if config.validation == "docker":
            raise UsageError(
                f"{exc}; or pass --sandbox none (this machine's Python, no isolation) or "
                "--no-validate (report the fixes unproven)"
            ) from None
        print(
            "provenfix: notice: Docker is not available, so candidate fixes are reported but "
            f"not proven ({exc}); start Docker, or pass --sandbox none to prove them with this "
            "machine's Python (no isolation)",
            file=sys.stderr,
            flush=True,
        )
        return replace(config, validation="off")
    display(ProgressEvent(Stage.SETUP, ready))
    return replace(config, validation="docker")


def _wants_patch(args: argparse.Namespace) -> bool:
    return bool(args.format == DIFF_FORMAT or any(f == DIFF_FORMAT for f, _ in args.write))


def _patch(report: Report, repo: git.Repo) -> Patch:
    head = repo.commit(report.head)

    def read_head(path: str) -> str:
        data: bytes = (head.tree / path).data_stream.read()
        return data.decode("utf-8")

    return proven_patch(report, read_head)


def _render(fmt: str, report: Report, patch: Patch | None) -> str:
    if fmt == DIFF_FORMAT:
        assert patch is not None
        return patch.text
    return RENDERERS[fmt](report)


def _write_reports(
    args: argparse.Namespace, report: Report, patch: Patch | None, display: ProgressDisplay
) -> None:
    for extra_format, path in args.write:
        _write(path, _render(extra_format, report, patch))
        display(ProgressEvent(Stage.REPORT, f"{extra_format} report written to {path}"))
    if args.output:
        _write(args.output, _render(args.format, report, patch))
        display(ProgressEvent(Stage.REPORT, f"report written to {args.output}"))
    if patch is not None:
        for suggestion, why in patch.left_out:
            where = f"{suggestion.path}:{suggestion.start_line}"
            display(ProgressEvent(Stage.REPORT, f"not in the patch: {where}: {why}"))


def _apply(repo: git.Repo, patch: Patch, display: ProgressDisplay) -> None:
    if not patch.text:
        display(ProgressEvent(Stage.REPORT, "--apply: no proven fix to apply"))
        return
    apply_patch(repo, patch.text)
    where = ", ".join(f"{s.path}:{s.start_line}" for s in patch.applied)
    display(ProgressEvent(Stage.REPORT, f"applied {len(patch.applied)} proven fix(es): {where}"))


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
