"""A simulated Actions runner: a real checkout, a recorded event, the step as a subprocess.

Shared by tests/action/ (the entry point) and tests/test_action_yml.py (the composite).

The pull request lives in a real git repository that the GitHub stand-in serves
(API and smart HTTP). The runner's checkout is what `actions/checkout` leaves by
default: one commit of the base branch, shallow, optionally with a persisted
`http.<server>/.extraheader`. The event is octokit's recorded `pull_request`
`opened` payload from the vendored contract (tests/fixtures/github-contract),
pointed at that repository and its commits.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from github_standin import GitHubStandIn
from github_standin.webhooks import retarget, validate_payload
from repo_support import CONTRACT, FileTree, GitRepo, MakeRepo
from stats_repo import BASE, HEAD, TESTS

EXAMPLES = CONTRACT / "webhooks" / "examples"
OWNER, NAME, NUMBER = "octo", "stats", 1


def env_probe(dump: Path) -> str:
    """A test of the analyzed repository that writes the environment it ran with to `dump`
    (reachable only without isolation: sandbox mode none)."""
    return (
        "import json\nimport os\n\n\n"
        "def test_environment():\n"
        f"    with open({str(dump)!r}, 'a', encoding='utf-8') as out:\n"
        "        out.write(json.dumps(dict(os.environ)) + '\\n')\n"
    )


def recorded_event(
    standin: GitHubStandIn, repo: GitRepo, *, head_repo: str | None = None
) -> dict[str, Any]:
    """octokit's recorded `pull_request.opened`, pointed at `repo` (main <- pr) on the stand-in."""
    payload = json.loads((EXAMPLES / "pull_request" / "opened.payload.json").read_text())
    payload = retarget(payload, f"{OWNER}/{NAME}", NUMBER, standin.url)
    full_name, clone_url = f"{OWNER}/{NAME}", standin.git_url(OWNER, NAME)
    pr = payload["pull_request"]
    for side, branch in (("base", "main"), ("head", "pr")):
        pr[side].update(ref=branch, sha=repo.git("rev-parse", branch), label=f"{OWNER}:{branch}")
        pr[side]["repo"].update(full_name=full_name, name=NAME, clone_url=clone_url)
    if head_repo is not None:  # a fork: the head branch lives in someone else's repository
        fork_owner, _, fork_name = head_repo.partition("/")
        pr["head"]["label"] = f"{fork_owner}:pr"
        pr["head"]["repo"].update(
            full_name=head_repo, name=fork_name, fork=True, clone_url=f"{standin.url}/{head_repo}"
        )
        pr["head"]["repo"]["owner"]["login"] = fork_owner
    payload["repository"].update(full_name=full_name, name=NAME, clone_url=clone_url)
    payload["number"] = pr["number"] = NUMBER
    problems = validate_payload("pull_request", "opened", payload)
    assert not problems, problems
    return dict(payload)


def shallow_checkout(source: GitRepo, dest: Path, origin: str, header: str | None = None) -> Path:
    """What actions/checkout leaves: the base branch at depth 1, `origin` set, and (when
    `header` is given) a persisted `http.<server>/.extraheader`."""
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", "--branch", "main", f"file://{source.path}", dest],
        check=True,
        capture_output=True,
    )
    checkout = GitRepo(dest)
    checkout.git("remote", "set-url", "origin", origin)
    if header is not None:
        server = origin.split("/git/")[0] + "/"
        checkout.git("config", "--local", f"http.{server}.extraheader", header)
    return dest


def basic_header(token: str) -> str:
    """actions/checkout's persisted header format."""
    return "AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()


@dataclass(frozen=True)
class StepResult:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    def all_text(self) -> str:
        return "\n".join([self.stdout, self.stderr, self.summary, *self.outputs.values()])


@dataclass(frozen=True)
class Runner:
    """One job on a simulated runner: its workspace, event and environment."""

    root: Path
    checkout: Path
    event: dict[str, Any]
    env: Mapping[str, str]

    @property
    def summary_path(self) -> Path:
        return self.root / "step_summary.md"

    @property
    def output_path(self) -> Path:
        return self.root / "github_output"

    def run(
        self,
        inputs: Mapping[str, str] | None = None,
        *,
        command: Sequence[str] = (sys.executable, "-m", "provenfix.actions"),
        event: Mapping[str, Any] | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> StepResult:
        event_path = self.root / "event.json"
        event_path.write_text(json.dumps(event if event is not None else self.event))
        env = dict(self.env)
        env["GITHUB_EVENT_PATH"] = str(event_path)
        env.update({f"INPUT_{k.upper().replace('-', '_')}": v for k, v in (inputs or {}).items()})
        env.update(extra_env or {})
        for path in (self.summary_path, self.output_path):
            path.unlink(missing_ok=True)
        proc = subprocess.run(
            list(command),
            cwd=self.checkout,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        return StepResult(
            proc.returncode,
            proc.stdout,
            proc.stderr,
            read_outputs(self.output_path),
            self.summary_path.read_text() if self.summary_path.exists() else "",
        )


def runner_env(root: Path, standin: GitHubStandIn, checkout: Path) -> dict[str, str]:
    """The variables a GitHub-hosted runner sets for a step (no token: inputs add it)."""
    home, temp = root / "home", root / "runner_temp"
    home.mkdir(exist_ok=True)
    temp.mkdir(exist_ok=True)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_REPOSITORY": f"{OWNER}/{NAME}",
        "GITHUB_API_URL": standin.url,
        "GITHUB_SERVER_URL": standin.url,
        "GITHUB_WORKSPACE": str(checkout),
        "GITHUB_STEP_SUMMARY": str(root / "step_summary.md"),
        "GITHUB_OUTPUT": str(root / "github_output"),
        "RUNNER_TEMP": str(temp),
    }
    for name in ("DOCKER_HOST", "PROVENFIX_SANDBOX_IMAGE", "PROVENFIX_PIP_INDEX_URL"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def read_outputs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT as the runner parses it: name=value lines and name<<DELIM heredocs."""
    if not path.exists():
        return {}
    outputs: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            name, delimiter = line.split("<<", 1)
            value: list[str] = []
            for item in lines:
                if item == delimiter:
                    break
                value.append(item)
            outputs[name] = "\n".join(value)
        else:
            name, _, value_text = line.partition("=")
            outputs[name] = value_text
    return outputs


def files_containing(root: Path, needle: str) -> list[Path]:
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and needle.encode() in path.read_bytes()
    ]


MakeRunner = Callable[..., Runner]


def runner_factory(make_repo: MakeRepo, standin: GitHubStandIn, tmp_path: Path) -> MakeRunner:
    """`make(extra_base=None, *, head_repo=None, persisted_header=None)`: a pull request
    (main <- pr) served by the stand-in, and a runner whose checkout holds only the base
    branch's tip, as actions/checkout leaves it by default."""

    def make(
        extra_base: FileTree | None = None,
        *,
        head_repo: str | None = None,
        persisted_header: str | None = None,
    ) -> Runner:
        base: dict[str, str | bytes | None] = {"stats.py": BASE, "tests/test_stats.py": TESTS}
        base.update(extra_base or {})
        repo = make_repo(base, {"stats.py": HEAD}, name="origin")
        standin.add_repo(OWNER, NAME, repo.path, default_branch="main")
        standin.open_pull(OWNER, NAME, NUMBER, "main", "pr")
        root = tmp_path / "runner"
        root.mkdir()
        checkout = shallow_checkout(
            repo, root / "workspace", standin.git_url(OWNER, NAME), persisted_header
        )
        event = recorded_event(standin, repo, head_repo=head_repo)
        return Runner(root, checkout, event, runner_env(root, standin, checkout))

    return make


def installation_token(github_app: Any, standin: GitHubStandIn) -> str:
    """A token the stand-in accepts, as GITHUB_TOKEN is on a real runner."""
    return str(github_app.installation_token(standin.installation_id).token)
