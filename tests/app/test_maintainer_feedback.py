"""Simulated maintainers over many pull requests, through the GitHub stand-in: the whole
App (signed webhooks → web app → Redis → real rq worker → the real pipeline → review)
records what became of every suggestion it posted, learns from it, and shows it.

In repository `alpha`, maintainers commit every `comparison-to-none-eq` fix ("Commit
suggestion") and turn down every `dict-get-none-default` fix three ways: a 👎
reaction, resolving its thread, a `/provenfix wrong` reply. With a floor of 30% after
3 decisions, the disliked rule then stops being posted as a committable suggestion in
`alpha` (the check run says why), but not in `beta`, where nobody decided anything yet.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from app_support import SECRET, parse_prometheus, sample
from e2e_support import fast_context, work
from flask.testing import FlaskClient
from github_standin.server import GitHubStandIn
from redis import Redis
from repo_support import GitRepo, MakeRepo
from rq import Queue

from provenfix.bot.db import Database
from provenfix.bot.github_api import GitHubApp
from provenfix.bot.job_context import JobContext, installed_context
from provenfix.bot.outcomes import OutcomeStore
from provenfix.bot.settings import load_settings
from provenfix.bot.tables import SuggestionOutcome
from provenfix.bot.webapp import create_app

LIKED = "comparison-to-none-eq"
DISLIKED = "dict-get-none-default"
BASE = {"core.py": "def base():\n    return 1\n", "tests/__init__.py": ""}


def module(i: int) -> dict[str, str]:
    """A pull request's files: one finding of each rule, both fixed by the rule, tested."""
    code = (
        f"def find_{i}(items, key):\n"
        "    if key == None:\n"
        "        return None\n"
        "    return items[key]\n"
        "\n"
        "\n"
        f"def lookup_{i}(items, key):\n"
        "    return items.get(key, None)\n"
    )
    tests = (
        f"from mod{i} import find_{i}, lookup_{i}\n\n\n"
        "def test_find():\n"
        f"    assert find_{i}({{'a': 1}}, 'a') == 1\n"
        f"    assert find_{i}({{'a': 1}}, None) is None\n\n\n"
        "def test_lookup():\n"
        f"    assert lookup_{i}({{'a': 1}}, 'a') == 1\n"
        f"    assert lookup_{i}({{'a': 1}}, 'b') is None\n"
    )
    return {f"mod{i}.py": code, f"tests/test_mod{i}.py": tests}


class Maintainers:
    """Drives the App like GitHub would: a webhook per gesture, the worker in burst mode."""

    def __init__(
        self, standin: GitHubStandIn, web: FlaskClient, queue: Queue, context: JobContext
    ) -> None:
        self.standin, self.web, self.queue, self.context = standin, web, queue, context

    def send(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        body, headers = self.standin.webhook_request(event, payload, SECRET)
        response = self.web.post("/webhook", data=body, headers=headers)
        assert response.status_code in (200, 202), response.json
        with installed_context(self.context):
            work(self.queue)
        assert self.queue.failed_job_registry.count == 0
        return dict(response.json)

    def open(self, repo: GitRepo, name: str, number: int) -> None:
        repo.checkout("main")
        repo.branch(f"pr{number}")
        repo.checkout(f"pr{number}")
        repo.commit(module(number), f"add mod{number}")
        self.send(
            "pull_request", self.standin.open_pull("octo", name, number, "main", f"pr{number}")
        )

    def comments(self, name: str, number: int, rule: str) -> list[dict[str, Any]]:
        return [
            c
            for c in self.standin.review_comments
            if f"/octo/{name}/pulls/{number}" in str(c["pull_request_url"])
            and "```suggestion" in str(c["body"])
            and f"`{rule}`" in str(c["body"]).splitlines()[0]
        ]

    def commit(self, name: str, number: int, comment_id: int) -> None:
        before = self.standin.head_sha("octo", name, number)
        self.standin.commit_suggestion(comment_id)
        self.send("pull_request", self.standin.synchronize("octo", name, number, before=before))


def acceptance_line(comment: dict[str, Any]) -> str:
    match = re.search(r"<sub>(.*?)\.</sub>", str(comment["body"]))
    assert match is not None, comment["body"]
    return match.group(1)


def test_simulated_maintainers_teach_the_app_per_repository(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    make_repo: MakeRepo,
    app_env: dict[str, str],
    redis: Redis,
    queue: Queue,
    db: Database,
    tmp_path: Path,
) -> None:
    env = app_env | {
        "PROVENFIX_ACCEPTANCE_FLOOR": "0.3",
        "PROVENFIX_ACCEPTANCE_MIN_OUTCOMES": "3",
        "PROVENFIX_ACCEPTANCE_PRIOR_STRENGTH": "2",
    }
    web = create_app(load_settings(env), redis=redis, queue=queue, db=db).test_client()
    repos = {name: make_repo(BASE, name=name) for name in ("alpha", "beta")}
    for name, repo in repos.items():
        standin.add_repo("octo", name, repo.path, default_branch="main")
        standin.set_permission("octo", name, "maintainer", "write")
        standin.set_permission("octo", name, "passerby", "read")
    team = Maintainers(standin, web, queue, fast_context(env, github_app))

    # alpha #1: the liked fix committed; the disliked one gets a 👎 (and one from a
    # reader without write access, which does not count), read at the next push
    team.open(repos["alpha"], "alpha", 1)
    (liked,) = team.comments("alpha", 1, LIKED)
    (disliked,) = team.comments("alpha", 1, DISLIKED)
    standin.react(disliked["id"], "-1", "passerby")
    standin.react(disliked["id"], "-1", "maintainer")
    team.commit("alpha", 1, liked["id"])
    # alpha #2: the disliked fix's thread resolved without applying it; resolving the
    # applied one's thread afterwards leaves it applied
    team.open(repos["alpha"], "alpha", 2)
    (liked2,) = team.comments("alpha", 2, LIKED)
    (disliked2,) = team.comments("alpha", 2, DISLIKED)
    team.commit("alpha", 2, liked2["id"])
    assert (
        team.send(
            "pull_request_review_thread",
            standin.thread_event(disliked2["id"], "resolved", "maintainer"),
        )["outcome"]
        == "recorded"
    )
    team.send(
        "pull_request_review_thread", standin.thread_event(liked2["id"], "resolved", "maintainer")
    )
    # alpha #3: `/provenfix wrong` in the disliked fix's thread; the bot answers there
    team.open(repos["alpha"], "alpha", 3)
    (liked3,) = team.comments("alpha", 3, LIKED)
    (disliked3,) = team.comments("alpha", 3, DISLIKED)
    assert acceptance_line(liked3) == (
        f"`{LIKED}` suggestions were accepted 2 of 2 times in this repository "
        "(expected acceptance 75%)"
    )  # (prior 1/2 × 2 + 2) / (2 + 2): no other repository decided one yet
    reply = team.send(
        "pull_request_review_comment",
        standin.reply_event(disliked3["id"], "/provenfix wrong", "maintainer"),
    )
    assert reply["outcome"] == "recorded"
    answers = [c for c in standin.review_comments if c.get("in_reply_to_id") == disliked3["id"]]
    assert [a["user"]["type"] for a in answers] == ["User", "Bot"]
    assert "recorded as not accepted" in answers[1]["body"]
    team.commit("alpha", 3, liked3["id"])
    for number in (1, 2, 3):
        team.send("pull_request", standin.close_pull("octo", "alpha", number, merged=True))

    store = OutcomeStore(db)
    alpha_id = standin.repository_id("octo", "alpha")
    states = {(o.pr_number, o.rule_id): (o.state, o.via, o.actor) for o in store.outcomes(alpha_id)}
    assert states == {
        (1, LIKED): ("applied", "content", states[(1, LIKED)][2]),
        (1, DISLIKED): ("dismissed", "reaction", "maintainer"),
        (2, LIKED): ("applied", "content", states[(2, LIKED)][2]),
        (2, DISLIKED): ("dismissed", "thread_resolved", "maintainer"),
        (3, LIKED): ("applied", "content", states[(3, LIKED)][2]),
        (3, DISLIKED): ("dismissed", "reply", "maintainer"),
    }
    assert all(
        o.decided_at is not None and o.source_family == "rule_fix" for o in store.outcomes(alpha_id)
    )

    # alpha #4: the disliked rule is demoted here: its fix is proven but only listed in
    # the check run, which says why; the liked one is posted, first, with its record
    team.open(repos["alpha"], "alpha", 4)
    (liked4,) = team.comments("alpha", 4, LIKED)
    assert team.comments("alpha", 4, DISLIKED) == []
    assert acceptance_line(liked4) == (
        f"`{LIKED}` suggestions were accepted 3 of 3 times in this repository "
        "(expected acceptance 80%)"
    )
    check = standin.check_runs[-1]
    assert check.summary is not None
    assert (
        f"`{DISLIKED}` suggestions were accepted 0 of 3 times in this repository "
        "(expected acceptance 20%), below this service's floor of 30%"
    ) in check.summary

    # beta #1: nobody decided anything in beta: both posted; the disliked rule's comment
    # shows everyone else's record, and the merge leaves both open
    team.open(repos["beta"], "beta", 1)
    (beta_liked,) = team.comments("beta", 1, LIKED)
    (beta_disliked,) = team.comments("beta", 1, DISLIKED)
    assert acceptance_line(beta_liked) == (
        f"No `{LIKED}` suggestions decided in this repository yet; accepted 3 of 3 times "
        "across installations (expected acceptance 80%)"
    )
    assert acceptance_line(beta_disliked) == (
        f"No `{DISLIKED}` suggestions decided in this repository yet; accepted 0 of 3 times "
        "across installations (expected acceptance 20%)"
    )
    team.send("pull_request", standin.close_pull("octo", "beta", 1, merged=True))
    beta = store.outcomes(standin.repository_id("octo", "beta"))
    assert sorted((o.rule_id, o.state, o.via) for o in beta) == [
        (LIKED, "left_open", "merged"),
        (DISLIKED, "left_open", "merged"),
    ]

    # the rationale's numbers are the database's, and /metrics counts the same
    with db.session() as s:
        rows = s.query(SuggestionOutcome).all()
    posted = len(rows)
    metrics = parse_prometheus(web.get("/metrics").get_data(as_text=True))
    for outcome in ("applied", "dismissed", "left_open"):
        expected = sum(1 for r in rows if r.state == outcome)
        assert sample(metrics, "provenfix_suggestions_total", outcome=outcome) == expected
    assert sample(metrics, "provenfix_suggestions_total", outcome="posted") == posted == 9


def test_a_pull_request_that_ends_settles_its_open_suggestions(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    make_repo: MakeRepo,
    app_env: dict[str, str],
    redis: Redis,
    queue: Queue,
    db: Database,
) -> None:
    """A suggestion committed right before the merge (never analyzed) is applied, one with
    a 👎 is dismissed, and a closed pull request's others are left open."""
    web = create_app(load_settings(app_env), redis=redis, queue=queue, db=db).test_client()
    repo = make_repo(BASE, name="gamma")
    standin.add_repo("octo", "gamma", repo.path, default_branch="main")
    standin.set_permission("octo", "gamma", "maintainer", "admin")
    team = Maintainers(standin, web, queue, fast_context(app_env, github_app))
    team.open(repo, "gamma", 1)
    (liked,) = team.comments("gamma", 1, LIKED)
    (disliked,) = team.comments("gamma", 1, DISLIKED)
    standin.commit_suggestion(liked["id"])  # then merged at once: no analysis of that head
    standin.react(disliked["id"], "-1", "maintainer")
    team.send("pull_request", standin.close_pull("octo", "gamma", 1, merged=True))
    team.open(repo, "gamma", 2)
    team.send("pull_request", standin.close_pull("octo", "gamma", 2, merged=False))
    outcomes = OutcomeStore(db).outcomes(standin.repository_id("octo", "gamma"))
    assert sorted((o.pr_number, o.rule_id, o.state, o.via) for o in outcomes) == [
        (1, LIKED, "applied", "content"),
        (1, DISLIKED, "dismissed", "reaction"),
        (2, LIKED, "left_open", "closed"),
        (2, DISLIKED, "left_open", "closed"),
    ]
