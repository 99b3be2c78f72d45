"""Thousands of hostile, correctly signed payloads through the real app on real Redis.

Each example takes one of GitHub's real payloads (tests/fixtures/github-contract,
made to reach the App's deepest paths: its own check runs, commands by the owner,
installations) and applies 1-3 mutations where the App reads (and elsewhere):
a key removed, null, a wrong type, a huge or negative number, 1e400, NaN, an
option-like string (`-x`, `--upload-pack=...`), a foreign or downgraded URL, a
long string, deep nesting. Then, for every answer:

- never a 5xx, always JSON; a 4xx says why in one line and is counted by reason;
- a 4xx leaves nothing behind: no rq job, no pull request record, no delivery id;
- every job that was enqueued carries only what GitHub would send: checked here
  with rules of this file's own (not bot.payloads'), and so is every pull request
  record (`provenfix:pr:*`) in Redis;
- a payload mutated only where the App does not read (`READ`) is accepted: the
  checks are strict where it reads, not elsewhere.

Deterministic (`derandomize=True`, a fixed number of examples per event).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from typing import Any

import pytest
from app_support import (
    Deliver,
    example,
    flush_keeping_lock,
    issue_comment_event,
    our_check_run,
    pull_request_event,
)
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis
from rq.job import Job

from provenfix.bot.metrics import REJECTED_KEY

Payload = dict[str, Any]
Path = tuple[str | int, ...]
DELETE = object()  # a mutation that removes the key


# --- the payloads -----------------------------------------------------------------------------


def _edited_base() -> Payload:
    payload = pull_request_event("opened")
    payload["action"] = "edited"
    payload["changes"] = {"base": {"ref": {"from": "old"}, "sha": {"from": "0" * 40}}}
    return payload


def _rerun_button() -> Payload:
    payload = our_check_run("requested_action")
    payload["requested_action"] = {"identifier": "provenfix-rerun"}
    return payload


def _apply_button() -> Payload:
    payload = our_check_run("requested_action")
    payload["requested_action"] = {"identifier": "apply_all"}
    payload["sender"]["login"] = "electron"
    return payload


def _fork_rerun() -> Payload:
    payload = our_check_run("rerequested")
    payload["check_run"]["pull_requests"] = []
    repo_id = payload["repository"]["id"]
    payload["check_run"]["external_id"] = f"provenfix-{repo_id}-5-{'c' * 40}"
    return payload


BASES: dict[str, list[Callable[[], Payload]]] = {
    "pull_request": [
        lambda: pull_request_event("opened"),
        lambda: pull_request_event("synchronize", head_sha="d" * 40),
        lambda: pull_request_event("reopened"),
        lambda: example("pull_request", "closed.payload.json"),
        _edited_base,
    ],
    "check_run": [
        lambda: our_check_run("rerequested"),
        _rerun_button,
        _apply_button,
        _fork_rerun,
    ],
    "issue_comment": [
        lambda: issue_comment_event("/provenfix analyze", "OWNER"),
        lambda: issue_comment_event("/provenfix ignore eq-none", "MEMBER"),
    ],
    "installation": [
        lambda: example("installation", "created.payload.json"),
        lambda: example("installation", "deleted.payload.json"),
    ],
    "installation_repositories": [
        lambda: example("installation_repositories", "added.payload.json"),
    ],
    "ping": [lambda: example("ping", "with-app_id.payload.json")],
}

# Where the App reads (a mutation there must be refused or harmless); the rest of each
# payload is mutated too, less often.
READ = re.compile(
    r"^(action|zen|changes(\.base)?|installation(\.id|\.account(\.login|\.type)?"
    r"|\.repository_selection)?|sender(\.login|\.id|\.type)?"
    r"|repository(\.id|\.full_name|\.clone_url|\.default_branch)?"
    r"|pull_request(\.number|\.state|\.draft|\.updated_at|\.head(\.sha)?|\.base(\.sha|\.ref)?)?"
    r"|check_run(\.id|\.head_sha|\.external_id|\.app(\.id|\.slug)?|\.pull_requests"
    r"(\.\d+(\.number|\.head(\.sha)?|\.base(\.sha|\.ref|\.repo(\.id)?)?)?)?)?"
    r"|requested_action(\.identifier)?"
    r"|comment(\.id|\.body|\.user(\.login)?|\.author_association)?"
    r"|issue(\.number|\.pull_request(\.url)?)?"
    r"|repositories(_added|_removed)?(\.\d+(\.id|\.full_name|\.private)?)?)$"
)


def paths(value: Any, prefix: Path = ()) -> list[Path]:
    found: list[Path] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


# --- the mutations --------------------------------------------------------------------------

_DEEP = 2000


class Raw(str):
    """JSON text put in the body as is (1e400, NaN, nesting json.dumps cannot write)."""


UNPARSABLE = [  # refused wherever they are: nesting too deep, more digits than Python reads
    Raw("1" + "0" * 5000),
    Raw("[" * _DEEP + "]" * _DEEP),
    Raw('{"a":' * 100 + "1" + "}" * 100),
]
RAW_VALUES = [
    Raw("1e400"),
    Raw("-1e400"),
    Raw("NaN"),
    Raw("Infinity"),
    Raw("18446744073709551616"),
    Raw('"\\ud800"'),
    *UNPARSABLE,
]
STRINGS = [
    "",
    "-x",
    "--upload-pack=touch /tmp/pwned",
    "-oProxyCommand=touch /tmp/pwned",
    "ext::sh -c touch% /tmp/pwned",
    "main\n-x",
    "x\x00y",
    "..",
    "a..b",
    "a b",
    "refs/heads/main",
    "feature/@{u}",
    "main.lock",
    "\u202emain",
    "../../etc/passwd",
    "file:///etc/passwd",
    "/tmp/repo",
    "https://evil.example/o/r.git",
    "https://github.com@evil.example/o/r.git",
    "https://github.com.evil.example/o/r.git",
    "https://github.com/o/../../r.git",
    "https://github.com/o/r.git?x=--upload-pack",
    "https://github.com:8443/o/r.git",
    "http://github.com/o/r.git",
    "https://api.github.com/repos/o/r/pulls/1",
    "https://api.github.com/repos/../../x",
    "A" * 40,
    "0" * 39,
    "0" * 40,
    "0" * 40 + "\n",
    "g" * 40,
    "0" * 64,
    "owner/-name",
    "-owner/name",
    "o/..",
    "created",
    "OWNER",
    "Bot",
    "2019-05-15T15:20:33Z",
    "yesterday",
    "/provenfix analyze",
    "/provenfix ignore --x",
    "x" * 300,
    "y" * 70_000,
]
NUMBERS = [0, -1, 1, 5, 2**31 - 1, 2**31, 2**53 - 1, 2**53, 2**63, 2**64, -(2**63) - 1, 1.5]
CONTAINERS: list[Any] = [{}, [], [1], {"id": 1}, [{"id": 1}], {"url": "x"}]

values = st.one_of(
    st.sampled_from([DELETE, None, True, False]),
    st.sampled_from(NUMBERS),
    st.integers(),
    st.sampled_from(STRINGS),
    st.text(max_size=60),
    st.sampled_from(RAW_VALUES),
    st.sampled_from(CONTAINERS),
)


def mutate(payload: Payload, path: Path, value: Any) -> None:
    parent: Any = payload
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if value is DELETE:
        if isinstance(parent, dict):
            del parent[last]
        else:
            parent.pop(last)  # type: ignore[arg-type]
    else:
        parent[last] = copy.deepcopy(value)  # the strategies' containers are shared


def encode(payload: Payload) -> bytes:
    raws: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Raw):
            marker = f"@@raw{len(raws)}@@"
            raws[json.dumps(marker)] = str(value)
            return marker
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(payload))
    for marker, raw in raws.items():
        text = text.replace(marker, raw)
    return text.encode()


@st.composite
def deliveries(draw: st.DrawFn, event: str) -> tuple[bytes, bool, list[str]]:
    """A signed body, whether it left everything the App reads intact (then it must be
    accepted), and the mutations (hypothesis prints them when an example fails)."""
    payload = draw(st.sampled_from(BASES[event]))()
    read = [p for p in paths(payload) if READ.match(dotted(p))]
    intact = True
    done: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(payload)
        if not candidates:
            break
        pool = [p for p in read if p in candidates] if draw(st.integers(0, 3)) else []
        path = draw(st.sampled_from(pool or candidates))
        value = draw(values)
        mutate(payload, path, value)
        done.append(f"{dotted(path)}={'<deleted>' if value is DELETE else repr(value)[:40]}")
        touches = READ.match(dotted(path)) or any(p[: len(path)] == path for p in read)
        intact = intact and not touches and value not in UNPARSABLE
    return encode(payload), intact, done


# --- what must hold -------------------------------------------------------------------------

HEX_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
BRANCH_BAD = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{")
CLONE_URL = re.compile(r"https://github\.com(/[A-Za-z0-9_.-]+)+")


def problems_of(request: Any) -> list[str]:
    """What is wrong with a job's argument, by rules independent of bot.payloads."""
    fields = asdict(request) if is_dataclass(request) else {"argument": request}
    found = []
    for name, value in fields.items():
        bad = False
        if (name.endswith("_id") and name != "delivery_id") or name == "sender_id":
            limit = 2**53
            bad = type(value) is not int or not (
                0 < value < limit or (name == "sender_id" and value == 0)
            )
        elif name == "number":
            bad = type(value) is not int or not 0 < value < 2**31
        elif name.endswith("_sha"):
            bad = not HEX_SHA.fullmatch(value)
        elif name in ("base_ref", "default_branch"):
            bad = (
                not 0 < len(value) <= 255
                or value.startswith(("-", "/", "."))
                or bool(BRANCH_BAD.search(value))
                or not value.isprintable()
            )
        elif name == "clone_url":
            bad = not CLONE_URL.fullmatch(value) or "/../" in f"{value}/" or "/./" in value
        elif name in ("owner", "app_slug"):
            bad = not SAFE_NAME.fullmatch(value) or len(value) > 100
        elif name == "repo":
            bad = not re.fullmatch(r"[A-Za-z0-9_.-]+", value) or value in (".", "..")
        elif name == "sender":
            bad = value != "" and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*(\[bot\])?", value)
        elif name == "updated_at":
            bad = value != "" and not re.fullmatch(
                r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)", value
            )
        elif name == "argument":
            bad = True
        if bad:
            found.append(f"{type(request).__name__}.{name}={value!r:.60}")
    return found


def pr_record_problems(redis: Redis) -> list[str]:
    found = []
    for key in redis.scan_iter("provenfix:pr:*"):
        _, _, repo, number = key.decode().split(":")
        record = json.loads(redis.get(key) or "{}")
        if not (repo.isdigit() and 0 < int(repo) < 2**53):
            found.append(f"record key {key!r}")
        if not (number.isdigit() and 0 < int(number) < 2**31):
            found.append(f"record key {key!r}")
        if not HEX_SHA.fullmatch(str(record.get("head_sha"))):
            found.append(f"record head {record.get('head_sha')!r:.60}")
    return found


class Tally:
    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.jobs = 0
        self.intact = 0
        self.violations: list[str] = []

    def summary(self) -> str:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"{self.statuses.total()} deliveries ({statuses}), {self.intact} mutated only where "
            f"the App does not read; {self.jobs} jobs enqueued, {len(self.violations)} problems"
        )


def check_one(
    client: FlaskClient, redis: Redis, event: str, body: bytes, tally: Tally, *, intact: bool
) -> None:
    flush_keeping_lock(redis)
    response = Deliver(client)(event, body=body, delivery=str(uuid.uuid4()))
    status = response.status_code
    tally.statuses[status] += 1
    problems: list[str] = []
    if status >= 500:
        problems.append(f"answered {status}: {response.get_data(as_text=True)[:200]}")
    if response.mimetype != "application/json":
        problems.append(f"answered {response.mimetype}")
    if intact and status >= 400:
        problems.append(f"refused a payload whose read fields are intact: {response.json}")
    job_keys = [k for k in redis.scan_iter("rq:job:*") if k.count(b":") == 2]
    if status >= 400:
        error = (response.json or {}).get("error", "")
        if not error or "\n" in error:
            problems.append(f"4xx without a one-line error: {error!r:.100}")
        if job_keys or list(redis.scan_iter("provenfix:pr:*")):
            problems.append(f"{status} left jobs or records behind: {job_keys[:3]}")
        if list(redis.scan_iter("provenfix:delivery:*")):
            problems.append(f"{status} kept the delivery id")
        rejected = sum(int(n) for n in redis.hvals(REJECTED_KEY))
        if rejected != 1:
            problems.append(f"{status} counted {rejected} times as rejected")
    for key in job_keys:
        job = Job.fetch(key.decode().removeprefix("rq:job:"), connection=redis)
        tally.jobs += 1
        for arg in job.args:
            problems += problems_of(arg)
    problems += pr_record_problems(redis)
    if problems:
        tally.violations += problems
    assert not problems, problems


FUZZ = settings(  # the examples per event below; the same ones on every run
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EXAMPLES = {
    "pull_request": 900,
    "check_run": 700,
    "issue_comment": 500,
    "installation": 300,
    "installation_repositories": 200,
    "ping": 100,
}


@pytest.mark.parametrize("event", list(EXAMPLES))
def test_signed_hostile_payloads_never_5xx_never_inject_a_job(
    event: str, client: FlaskClient, redis: Redis
) -> None:
    tally = Tally()

    @settings(FUZZ, max_examples=EXAMPLES[event])
    @given(deliveries(event))
    def run(delivery: tuple[bytes, bool, list[str]]) -> None:
        body, intact, _mutations = delivery
        check_one(client, redis, event, body, tally, intact=intact)
        tally.intact += intact

    run()
    print(f"\n{event}: {tally.summary()}")
    assert tally.statuses.total() == EXAMPLES[event]
    assert not tally.violations


def test_unmutated_payloads_are_accepted(client: FlaskClient, redis: Redis) -> None:
    """The fuzzer's starting points are what GitHub sends: none is refused."""
    tally = Tally()
    for event, makers in BASES.items():
        for make in makers:
            check_one(client, redis, event, encode(make()), tally, intact=True)
    assert set(tally.statuses) <= {200, 202}, tally.summary()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 1000 + b"1" + b"}" * 1000,
        b'{"zen": ' + b"[" * 63 + b"]" * 63 + b"}",
        b'{"zen": NaN, "x": ' + b"[" * 1500 + b"]" * 1500 + b"}",
        '{"zen": "x"}'.encode("utf-16"),
        b'{"zen": "x"} trailing',
        b"\xef\xbb\xbf{}",
    ],
    ids=["deep-array", "deep-object", "63-deep-value", "nan-and-deep", "utf-16", "trailing", "bom"],
)
def test_whole_body_oddities_are_json_answers(
    body: bytes, client: FlaskClient, redis: Redis
) -> None:
    check_one(client, redis, "ping", body, Tally(), intact=False)


def test_an_unsigned_hostile_body_is_not_even_parsed(client: FlaskClient, redis: Redis) -> None:
    body = b"[" * 5000 + b"]" * 5000
    response = client.post(
        "/webhook",
        data=body,
        content_type="application/json",
        headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "x", "X-Hub-Signature-256": "x"},
    )
    assert response.status_code == 401 and response.json == {
        "error": "missing or invalid X-Hub-Signature-256"
    }
    assert sum(int(n) for n in redis.hvals(REJECTED_KEY)) == 1
