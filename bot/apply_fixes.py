"""The "Apply proven fixes" button: commit every proven fix of one head to its branch.

`apply_proven_fixes(request)` is the rq job bot.events enqueues for a
`check_run.requested_action` with identifier `apply_all`. In order:

1. mint an installation token and read the pull request (`GET .../pulls/N`);
2. refuse, with the reason as a note on the check run, when the pull request is
   closed, its head moved on from the analyzed sha, it comes from a fork (the App
   cannot push there), the installation lacks Contents: write, or nobody vouched
   for the sender's write access (the webhook's permission policy, or else: the
   sender is the pull request's author with an OWNER/MEMBER/COLLABORATOR
   association);
3. take the proven fixes recorded for that head (bot.db.ProvenFix, written when
   its analysis completed), best reliability first, leaving out any that overlaps
   a better one or whose lines no longer hold the text it was proven on;
4. fetch the head branch into an empty repository, apply them, commit as
   `<slug>[bot]` with the sender as co-author, and push to the branch with
   `--force-with-lease=<branch>:<analyzed sha>` (a branch that moved meanwhile is
   left alone). The token reaches git as an `http.extraHeader` in the environment
   of the fetch and the push only (bot.git_remote.auth_environment), never on disk;
5. note the result on the check run and remove its button. The push triggers a
   `synchronize` event, so the new head is analyzed, and tested, again.

A retry after the push (a transient error while writing the note) does not push
twice: the pushed sha is kept in the job's meta.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
from github import Github
from github.Repository import Repository
from rq import get_current_job
from rq.job import Job
from sqlalchemy.exc import SQLAlchemyError

from provenfix.bot.db import ProvenFix
from provenfix.bot.git_remote import (
    GitOrigin,
    can_push,
    checked_ref,
    checked_sha,
    git_environment,
    git_failure,
    token_text,
)
from provenfix.bot.github_api import github_errors
from provenfix.bot.job_context import CONTEXT, JobContext
from provenfix.bot.job_errors import JobFailed, TransientError, classify_failure
from provenfix.bot.job_requests import ApplyRequest
from provenfix.bot.permissions import WRITE_ASSOCIATIONS
from provenfix.bot.queue import save_meta
from provenfix.jobs.generation.edits import EditError, apply_candidates, parse_error
from provenfix.jobs.report import Candidate, SuggestionKind

log = logging.getLogger("provenfix.apply")

NOTE_MARKER = "<!-- provenfix:apply-note -->"
_NOTE = re.compile(r"\A> \[!(?:NOTE|WARNING)\]\n(?:>.*\n)*" + re.escape(NOTE_MARKER) + r"\n\n")


class BranchMoved(Exception):
    """The head branch is no longer at the analyzed commit."""


@dataclass(frozen=True)
class Applied:
    sha: str  # the pushed commit
    fixes: tuple[ProvenFix, ...]
    left_out: tuple[str, ...]  # "path:lines: why" for each fix not applied


def apply_proven_fixes(request: ApplyRequest) -> dict[str, Any]:
    job = get_current_job()
    if job is None:
        raise RuntimeError("apply_proven_fixes runs inside an rq job")
    context = CONTEXT.get()
    context.database.engine.dispose(close=False)  # a forked horse opens its own connections
    try:
        return _Apply(request, context, job).run()
    except (TransientError, JobFailed):
        raise
    except Exception as exc:
        doing = f"applying the fixes of {request.full_name}#{request.number}"
        raise classify_failure(exc, doing) from exc


class _Apply:
    def __init__(self, request: ApplyRequest, context: JobContext, job: Job) -> None:
        self.request = request
        self.context = context
        self.job = job
        self.token = ""
        # checked before any git command sees them (bot.git_remote)
        self.origin = GitOrigin.for_github(context.settings.github_api_url)
        self.clone_url = self.origin.check(request.clone_url)
        checked_sha(request.head_sha, "head")

    def run(self) -> dict[str, Any]:
        request = self.request
        granted = self.context.github.installation_token(request.installation_id)
        self.token = token_text(granted)
        client: Github = self.context.github.installation_client(request.installation_id)
        repo = client.withLazy(True).get_repo(request.full_name)
        pushed = self.job.meta.get("pushed")
        if isinstance(pushed, str):  # a retry after the push: only the note is missing
            return self._note(repo, f"The proven fixes were applied in `{pushed[:10]}`.", "applied")
        with github_errors():
            pull = repo.get_pull(request.number)
            state, head_sha, head_ref = pull.state, pull.head.sha, pull.head.ref
            head_repo = pull.head.repo.id if pull.head.repo is not None else None
            same_repo = head_repo == pull.base.repo.id
            author, association = pull.user.login, str(pull.raw_data.get("author_association"))
        if state != "open":
            return self._note(repo, "The pull request is closed: nothing was applied.", "closed")
        head_ref = checked_ref(head_ref, "head branch")
        if head_sha != request.head_sha:
            return self._note(
                repo,
                f"The branch moved on to `{head_sha[:10]}` after this analysis: nothing was "
                "applied. The newer commit's check run has its own button.",
                "moved",
            )
        if not same_repo:
            return self._note(
                repo,
                "This pull request comes from a fork: ProvenFix cannot push to it. Commit the "
                "suggestions from the review instead (*Add suggestion to batch → Commit "
                "suggestions*).",
                "fork",
            )
        if not can_push(granted):
            return self._note(
                repo,
                "ProvenFix cannot push to this repository: the App's installation lacks the "
                "Contents: write permission. Grant it (docs/github-app.md) or commit the "
                "suggestions from the review.",
                "no_permission",
            )
        if not request.write_access and not (
            request.sender == author and association in WRITE_ASSOCIATIONS
        ):
            return self._note(
                repo,
                f"@{request.sender} pressed *Apply proven fixes*, but ProvenFix could not "
                "confirm that they have write access: nothing was applied. Someone with write "
                "access can press it again.",
                "refused",
                keep_button=True,
            )
        fixes = self.context.database.proven_fixes(
            request.repository_id, request.number, request.head_sha
        )
        if not fixes:
            return self._note(
                repo,
                f"No proven fix is recorded for `{head_sha[:10]}`: nothing was applied.",
                "none",
            )
        try:
            with tempfile.TemporaryDirectory(prefix="provenfix-apply-") as scratch:
                applied = self._commit_and_push(fixes, head_ref, Path(scratch) / "repo")
        except BranchMoved as moved:
            return self._note(
                repo, f"The branch moved on ({moved}) while applying: nothing was pushed.", "moved"
            )
        if applied is None:
            return self._note(
                repo,
                "None of the proven fixes still applies to the branch: nothing was pushed.",
                "none",
            )
        self.job.meta["pushed"] = applied.sha
        save_meta(self.job)
        try:
            self.context.database.record_application(
                request.repository_id,
                request.number,
                request.head_sha,
                applied.sha,
                request.sender,
                applied.fixes,
                applied.left_out,
            )
        except SQLAlchemyError:  # the push stands; only the record of it is lost
            log.exception("%s: could not record the applied fixes", self.job.id)
        count = len(applied.fixes)
        text = (
            f"Applied {count} proven fix{'es' if count != 1 else ''} in `{applied.sha[:10]}` "
            f"at the request of @{request.sender}; that push is analyzed again."
        )
        if applied.left_out:
            text += " Not applied: " + "; ".join(applied.left_out) + "."
        return self._note(repo, text, "applied", sha=applied.sha, count=count)

    # --- git ---------------------------------------------------------------------------

    def _commit_and_push(self, fixes: list[ProvenFix], head_ref: str, dest: Path) -> Applied | None:
        request = self.request
        env = git_environment(self.token, self.origin)
        dest.mkdir(parents=True)
        repo = git.Repo.init(dest)
        with repo:
            repo.git.remote("add", "--", "origin", self.clone_url)
            try:
                repo.git.fetch(
                    "--no-tags", "--quiet", "--depth=1", "--", "origin",
                    f"+refs/heads/{head_ref}:refs/remotes/origin/{head_ref}",
                    env=env,
                )  # fmt: skip
            except git.GitCommandError as exc:
                raise self._git_failure(exc, "fetch") from None
            tip = repo.git.rev_parse(f"refs/remotes/origin/{head_ref}")
            if tip != request.head_sha:
                raise BranchMoved(f"`{head_ref}` is at `{tip[:10]}`")
            repo.git.checkout("--quiet", "--detach", request.head_sha)
            chosen, left_out = apply_to_tree(dest, fixes)
            if not chosen:
                return None
            repo.git.add("--", *sorted({f.path for f in chosen}))
            message = dest / ".git" / "PROVENFIX_MSG"
            message.write_text(commit_message(request, chosen), encoding="utf-8")
            bot = f"{request.app_slug}[bot]"
            identity = {
                "GIT_AUTHOR_NAME": bot,
                "GIT_AUTHOR_EMAIL": f"{bot}@users.noreply.github.com",
                "GIT_COMMITTER_NAME": bot,
                "GIT_COMMITTER_EMAIL": f"{bot}@users.noreply.github.com",
            }
            repo.git.commit(
                "--quiet", "--no-verify", "--no-gpg-sign", "-F", str(message), env=identity
            )
            sha = repo.git.rev_parse("HEAD")
            try:
                repo.git.push(
                    "--quiet", "--no-verify",
                    f"--force-with-lease=refs/heads/{head_ref}:{request.head_sha}",
                    "--", "origin", f"HEAD:refs/heads/{head_ref}",
                    env=env,
                )  # fmt: skip
            except git.GitCommandError as exc:
                said = f"{exc.stdout or ''}{exc.stderr or ''}"
                if "stale info" in said or "[rejected]" in said or "fetch first" in said:
                    raise BranchMoved(f"`{head_ref}` was pushed to meanwhile") from None
                raise self._git_failure(exc, "push") from None
        return Applied(str(sha), tuple(chosen), tuple(left_out))

    def _git_failure(self, exc: git.GitCommandError, doing: str) -> Exception:
        return git_failure(exc, f"git {doing} to {self.clone_url}", self.token)

    # --- the check run -----------------------------------------------------------------

    def _note(
        self, repo: Repository, text: str, outcome: str, *, keep_button: bool = False, **extra: Any
    ) -> dict[str, Any]:
        """Put `text` on top of the check run's summary (replacing an earlier note)."""
        request = self.request
        level = "NOTE" if outcome == "applied" else "WARNING"
        note = f"> [!{level}]\n> {text}\n{NOTE_MARKER}\n\n"
        with github_errors():
            runs = repo.get_commit(request.head_sha).get_check_runs()
            current = next((r for r in runs if r.id == request.check_run_id), None)
            if current is None:
                raise JobFailed(f"check run {request.check_run_id} is not on {request.head_sha}")
            title = str(current.output.title or "ProvenFix")
            summary = _NOTE.sub("", str(current.output.summary or ""), count=1)
            changes: dict[str, Any] = {}
            if not keep_button:
                changes["actions"] = []
            repo.get_check_run(request.check_run_id).edit(
                output={"title": title, "summary": (note + summary)[:65_535]}, **changes
            )
        log.info("%s: %s", self.job.id, text)
        return {"outcome": outcome, "note": text, **extra}


# --- applying the fixes to a work tree ------------------------------------------------------


def apply_to_tree(root: Path, fixes: list[ProvenFix]) -> tuple[list[ProvenFix], list[str]]:
    """Apply the best non-overlapping fixes to the files under `root`; (applied, left out)."""
    chosen: list[ProvenFix] = []
    left_out: list[str] = []
    for fix in fixes:  # best first
        if any(
            c.path == fix.path and c.start_line <= fix.end_line and fix.start_line <= c.end_line
            for c in chosen
        ):
            left_out.append(f"{_where(fix)}: overlaps a better fix")
        else:
            chosen.append(fix)
    applied: list[ProvenFix] = []
    for path in sorted({f.path for f in chosen}):
        target = root / path
        mine = [f for f in chosen if f.path == path]
        try:
            text = target.read_text(encoding="utf-8")
            new = apply_candidates(text, [_candidate(f) for f in mine])
        except (OSError, UnicodeDecodeError, EditError) as exc:
            left_out += [f"{_where(f)}: {exc}" for f in mine]
            continue
        problem = parse_error(path, new)
        if problem is not None:
            left_out += [f"{_where(f)}: together they {problem}" for f in mine]
            continue
        target.write_text(new, encoding="utf-8")
        applied += mine
    return applied, left_out


def commit_message(request: ApplyRequest, fixes: list[ProvenFix]) -> str:
    count = len(fixes)
    lines = [f"Apply {count} proven fix{'es' if count != 1 else ''} from ProvenFix", ""]
    for f in fixes:
        what = f.rule_ids or f.source
        lines.append(f"- {_where(f)}: {what} (reliability {f.reliability:.2f})")
    email = (
        f"{request.sender_id}+{request.sender}@users.noreply.github.com"
        if request.sender_id
        else f"{request.sender}@users.noreply.github.com"
    )
    lines += [
        "",
        f"Each fix passed the repository's tests in ProvenFix's sandbox at "
        f"{request.head_sha[:10]} (check run {request.check_run_id}); applied at the request "
        f"of @{request.sender}.",
        "",
        f"Co-authored-by: {request.sender} <{email}>",
        "",
    ]
    return "\n".join(lines)


def _candidate(fix: ProvenFix) -> Candidate:
    return Candidate(
        id=fix.suggestion_id,
        finding_ids=tuple(fix.finding_ids.split()),
        kind=SuggestionKind(fix.kind),
        source=fix.source,
        path=fix.path,
        start_line=fix.start_line,
        end_line=fix.end_line,
        original=fix.original,
        replacement=fix.replacement,
        description=fix.rule_ids,
    )


def _where(fix: ProvenFix) -> str:
    lines = (
        f"{fix.start_line}"
        if fix.start_line == fix.end_line
        else f"{fix.start_line}-{fix.end_line}"
    )
    return f"{fix.path}:{lines}"
