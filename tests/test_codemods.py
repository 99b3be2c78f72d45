"""libcst codemods: exact rewrites, the same behaviour on sample inputs, and restraint.

Every positive case builds a real repository whose pull request adds a function,
runs the generator on the snapshot, applies the candidate to the head text and
compares it with the expected text (formatting and comments kept). Then both
versions of the function are executed on sample inputs: this is our own test
code, not code from a pull request. Negative cases are code where the rewrite
would change what the program does, so it must not fire.
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from repo_support import MakeRepo

from provenfix.jobs.diff import compute_change, open_repo
from provenfix.jobs.generation.codemods import CodemodGenerator, default_codemods, minimal_candidate
from provenfix.jobs.generation.codemods.framework import Codemod
from provenfix.jobs.generation.edits import apply_candidates, parse_error
from provenfix.jobs.report import (
    Candidate,
    Category,
    Finding,
    FindingSource,
    Severity,
    SuggestionKind,
)
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.snapshot import Snapshot, take_snapshot

PATH = "shop/orders.py"
HEADER = "import json\nimport math\n\n\n"
# In the base already and never touched: full of patterns no codemod may edit.
KEEP = textwrap.dedent(
    '''\
    def untouched(items=[], seen=[]):
        """Old code the pull request does not change."""
        out = ""
        for x in items.keys():
            if x not in seen:
                seen.append(x)
            out += str(x)
        return out, len(seen) == 0, sorted(seen)[0]
    '''
)
KEEP_LINES = range(1, (HEADER + KEEP).count("\n") + 1)
CODEMODS = {c.name: c for c in default_codemods()}


class Run:
    def __init__(self, snapshot: Snapshot, candidates: list[Candidate], code: str) -> None:
        self.snapshot, self.candidates, self.code = snapshot, candidates, code
        (self.file,) = snapshot.files
        self.head = self.file.head.text

    def of(self, name: str) -> list[Candidate]:
        return [c for c in self.candidates if c.source == f"codemod:{name}"]

    def one(self, name: str) -> Candidate:
        (cand,) = self.of(name)
        return cand

    def applied(self, cand: Candidate) -> str:
        return apply_candidates(self.head, [cand])

    def expect(self, cand: Candidate, after: str) -> None:
        """Applying `cand` turns the added code into `after`, nothing else changes."""
        assert self.applied(cand) == self.head.replace(self.code, textwrap.dedent(after))


def generate(
    make_repo: MakeRepo,
    tmp_path: Path,
    code: str,
    *,
    only: str | None = None,
    findings: Sequence[Finding] = (),
) -> Run:
    code = textwrap.dedent(code)
    repo = make_repo({PATH: HEADER + KEEP}, {PATH: HEADER + KEEP + "\n\n" + code})
    change = compute_change(open_repo(repo.path), "main", "pr")
    snapshot = take_snapshot(change, AnalysisSettings(), tmp_path / "snap")
    codemods: list[Codemod] | None = [CODEMODS[only]] if only else None
    candidates = CodemodGenerator(codemods).generate(findings, snapshot)
    head = snapshot.files[0].head.text
    for cand in candidates:  # every candidate: whole lines, applies, parses, spares old code
        assert cand.original == "".join(head.splitlines(True)[cand.start_line - 1 : cand.end_line])
        assert parse_error(PATH, apply_candidates(head, [cand])) is None
        assert cand.start_line not in KEEP_LINES, cand
        assert cand.description.endswith(".") and "\n" not in cand.description
        assert cand.kind in (SuggestionKind.OPTIMIZATION, SuggestionKind.REPAIR)
    return Run(snapshot, candidates, code)


def outcome(code: str, func: str, args: tuple[Any, ...], **env: Any) -> tuple[str, Any]:
    namespace: dict[str, Any] = dict(env)
    exec(compile(HEADER + textwrap.dedent(code), "<codemod-test>", "exec"), namespace)
    try:
        return "returned", namespace[func](*copy.deepcopy(args))
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        return "raised", type(exc).__name__


def behaves_same(before: str, after: str, func: str, *cases: tuple[Any, ...]) -> None:
    for args in cases:
        assert outcome(before, func, args) == outcome(after, func, args), args


def after_text(run: Run, cand: Candidate) -> str:
    """The added code once `cand` is applied (the part after the untouched function)."""
    return run.applied(cand)[len(HEADER + KEEP + "\n\n") :]


# -- 1. membership tests on a list in a loop ---------------------------------------

MEMBERSHIP = '''\
def first_tags(posts):
    """Tags in first-seen order."""
    seen = []  # order matters
    for post in posts:
        for tag in post["tags"]:
            if tag in seen:
                continue
            seen.append(tag)  # remember
    return seen
'''


def test_list_membership_gets_a_companion_set(make_repo: MakeRepo, tmp_path: Path) -> None:
    run = generate(make_repo, tmp_path, MEMBERSHIP, only="list-membership-to-set")
    cand = run.one("list-membership-to-set")
    run.expect(
        cand,
        '''\
        def first_tags(posts):
            """Tags in first-seen order."""
            seen = []  # order matters
            seen_set = set()
            for post in posts:
                for tag in post["tags"]:
                    if tag in seen_set:
                        continue
                    seen.append(tag)  # remember
                    seen_set.add(tag)
            return seen
        ''',
    )
    assert cand.kind is SuggestionKind.OPTIMIZATION and "hashable" in cand.description
    # the smallest span holding every change: from the inserted set to the last append
    assert cand.original.startswith("    for post") and cand.original.endswith("# remember\n")
    assert cand.replacement.startswith("    seen_set = set()\n    for post")
    posts = [{"tags": ["a", "b"]}, {"tags": ["b", "c", "a"]}, {"tags": []}]
    behaves_same(MEMBERSHIP, after_text(run, cand), "first_tags", (posts,), ([],))


def test_list_membership_left_alone_when_the_list_changes_otherwise(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    code = """\
    def recent(events):
        window = []
        for event in events:
            if event in window:
                continue
            window.append(event)
            if len(window) > 3:
                window.pop(0)  # the set would keep the evicted event
        return window
    """
    assert generate(make_repo, tmp_path, code, only="list-membership-to-set").candidates == []


@pytest.mark.parametrize("built", ["[sku for sku in stock]", "list(stock)"])
def test_a_list_built_by_a_comprehension_or_list_call_gets_a_set_too(
    make_repo: MakeRepo, tmp_path: Path, built: str
) -> None:
    code = f"""\
    def missing(ordered, stock):
        stocked = {built}
        out = []
        for sku in ordered:
            if sku not in stocked:
                out.append(sku)
        return out
    """
    run = generate(make_repo, tmp_path, code, only="list-membership-to-set")
    cand = run.one("list-membership-to-set")
    assert cand.replacement.startswith("    stocked_set = set(stocked)\n")
    assert "if sku not in stocked_set:" in cand.replacement
    behaves_same(code, after_text(run, cand), "missing", ([1, 2, 3, 2], [2, 5]), ([], []))


# -- 2. string += in a loop ----------------------------------------------------------

CONCAT = """\
def render_rows(rows, sep=","):
    text = ""  # the CSV body
    for row in rows:
        if not row:
            continue  # skip blanks
        text += sep.join(str(v) for v in row) + "\\n"
    return text
"""


def test_string_concatenation_becomes_join(make_repo: MakeRepo, tmp_path: Path) -> None:
    run = generate(make_repo, tmp_path, CONCAT, only="str-concat-to-join")
    cand = run.one("str-concat-to-join")
    run.expect(
        cand,
        """\
        def render_rows(rows, sep=","):
            text_parts = []  # the CSV body
            for row in rows:
                if not row:
                    continue  # skip blanks
                text_parts.append(sep.join(str(v) for v in row) + "\\n")
            text = "".join(text_parts)
            return text
        """,
    )
    rows = [[1, 2], [], ["a", None]]
    behaves_same(CONCAT, after_text(run, cand), "render_rows", (rows,), ([],), (rows, ";"))


def test_string_concatenation_with_a_prefix_and_annotation(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    code = """\
    def banner(words):
        line: str = '>> '
        for w in words:
            line += w.upper()
        return line
    """
    run = generate(make_repo, tmp_path, code, only="str-concat-to-join")
    cand = run.one("str-concat-to-join")
    run.expect(
        cand,
        """\
        def banner(words):
            line_parts: list[str] = ['>> ']
            for w in words:
                line_parts.append(w.upper())
            line: str = ''.join(line_parts)
            return line
        """,
    )
    behaves_same(code, after_text(run, cand), "banner", (["a", "b"],), ([],))


def test_string_concatenation_left_alone_when_read_in_the_loop(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    code = """\
    def wrap(words, width):
        text = ""
        for w in words:
            if len(text) > width:  # reads the accumulator
                break
            text += w
        return text


    def raw(chunks):
        data = b""
        for c in chunks:
            data += c
        return data
    """
    assert generate(make_repo, tmp_path, code, only="str-concat-to-join").candidates == []


# -- 3. lookups hoisted out of loops ---------------------------------------------------

HOIST = """\
def scaled(values, factor):
    out = []
    # hot loop
    for v in values:
        if v is None:
            continue
        out.append(math.floor(v * factor))
    return out
"""


def test_method_and_module_lookups_hoisted(make_repo: MakeRepo, tmp_path: Path) -> None:
    run = generate(make_repo, tmp_path, HOIST, only="hoist-loop-lookup")
    cand = run.one("hoist-loop-lookup")
    run.expect(
        cand,
        """\
        def scaled(values, factor):
            out = []
            # hot loop
            out_append = out.append
            math_floor = math.floor
            for v in values:
                if v is None:
                    continue
                out_append(math_floor(v * factor))
            return out
        """,
    )
    assert "`out.append`" in cand.description and "`math.floor`" in cand.description
    behaves_same(HOIST, after_text(run, cand), "scaled", ([1.5, None, -2.25], 2), ([], 1))


def test_lookup_not_hoisted_when_the_object_is_rebound(make_repo: MakeRepo, tmp_path: Path) -> None:
    code = """\
    def batches(items, size):
        batch = []
        result = []
        for item in items:
            batch.append(item)
            if len(batch) == size:
                result.append(batch)
                batch = []  # a new list: `batch.append` must be looked up again
        return result
    """
    run = generate(make_repo, tmp_path, code, only="hoist-loop-lookup")
    (cand,) = run.of("hoist-loop-lookup")
    assert "`result.append`" in cand.description and "batch.append" not in cand.description
    behaves_same(code, after_text(run, cand), "batches", ([1, 2, 3, 4, 5], 2))


# -- 4. loops to comprehensions ---------------------------------------------------------

COMPREHENSION = """\
def active_emails(users):
    emails = []
    for user in users:
        # only active accounts
        if user["active"]:
            emails.append(user["email"].lower())
    return emails
"""


def test_loop_becomes_a_comprehension(make_repo: MakeRepo, tmp_path: Path) -> None:
    run = generate(make_repo, tmp_path, COMPREHENSION, only="loop-to-comprehension")
    cand = run.one("loop-to-comprehension")
    run.expect(
        cand,
        """\
        def active_emails(users):
            # only active accounts
            emails = [user["email"].lower() for user in users if user["active"]]
            return emails
        """,
    )
    users = [{"active": True, "email": "A@x"}, {"active": False, "email": "b@x"}]
    behaves_same(COMPREHENSION, after_text(run, cand), "active_emails", (users,), ([],))


def test_long_comprehension_is_wrapped(make_repo: MakeRepo, tmp_path: Path) -> None:
    code = """\
    class Index:
        def identifiers(self, records_with_long_names, minimum_score_for_selection):
            selected_identifiers = []
            for record in records_with_long_names:
                if record["score"] >= minimum_score_for_selection:
                    selected_identifiers.append(record["identifier"])
            return selected_identifiers
    """
    run = generate(make_repo, tmp_path, code, only="loop-to-comprehension")
    run.expect(
        run.one("loop-to-comprehension"),
        """\
        class Index:
            def identifiers(self, records_with_long_names, minimum_score_for_selection):
                selected_identifiers = [
                    record["identifier"]
                    for record in records_with_long_names
                    if record["score"] >= minimum_score_for_selection
                ]
                return selected_identifiers
        """,
    )


def test_comprehension_not_made_when_it_would_change_behaviour(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    code = """\
    def doubled_and_last(xs):
        out = []
        for x in xs:
            out.append(x * 2)
        return out, x  # the loop variable outlives a loop, not a comprehension


    def parse_all(xs):
        try:
            out = []
            for x in xs:
                out.append(int(x))
        except ValueError:
            return out  # the partial list is part of the result
        return out


    def running(xs):
        out = []
        for x in xs:
            out.append(x + len(out))  # reads the list being built
        return out


    def coroutine_like(xs):
        out = []
        for x in xs:
            out.append((yield x))  # no yield inside a comprehension
        return out
    """
    assert generate(make_repo, tmp_path, code, only="loop-to-comprehension").candidates == []


# -- 5. loops to any / all --------------------------------------------------------------

ANY_ALL = """\
def has_overdue(invoices, today):
    # any unpaid invoice past its due date?
    for inv in invoices:
        if not inv["paid"] and inv["due"] < today:
            return True
    return False


def all_valid(rows):
    for row in rows:
        if row.get("id") is None:
            return False  # one bad row is enough
    return True
"""


def test_early_return_loops_become_any_and_all(make_repo: MakeRepo, tmp_path: Path) -> None:
    run = generate(make_repo, tmp_path, ANY_ALL, only="loop-to-any-all")
    first, second = sorted(run.of("loop-to-any-all"), key=lambda c: c.start_line)
    after_any = ANY_ALL.replace(
        """\
    for inv in invoices:
        if not inv["paid"] and inv["due"] < today:
            return True
    return False
""",
        """\
    return any(not inv["paid"] and inv["due"] < today for inv in invoices)
""",
    )
    after_all = ANY_ALL.replace(
        """\
    for row in rows:
        if row.get("id") is None:
            return False  # one bad row is enough
    return True
""",
        """\
    # one bad row is enough
    return all(row.get("id") is not None for row in rows)
""",
    )
    run.expect(first, after_any)
    run.expect(second, after_all)
    invoices = [{"paid": True, "due": 1}, {"paid": False, "due": 5}]
    for today in (0, 3, 9):
        behaves_same(ANY_ALL, after_any, "has_overdue", (invoices, today), ([], today))
    behaves_same(ANY_ALL, after_all, "all_valid", ([{"id": 1}, {}],), ([{"id": 0}],), ([],))


def test_any_all_left_alone_for_other_loop_shapes(make_repo: MakeRepo, tmp_path: Path) -> None:
    code = """\
    def noisy(xs):
        for x in xs:
            if x < 0:
                return True
            print(x)  # more than the test in the loop
        return False


    def shadowed(xs):
        any = bool
        for x in xs:
            if x:
                return True
        return False


    def same_value(xs):
        for x in xs:
            if x:
                return True
        return True


    async def remote(xs, client):
        for x in xs:
            if await client.exists(x):  # any() cannot await
                return True
        return False
    """
    assert generate(make_repo, tmp_path, code, only="loop-to-any-all").candidates == []


# -- 6. open() without a with block ------------------------------------------------------

OPEN = """\
def load_config(path):
    handle = open(path, encoding="utf-8")  # config file
    config = json.load(handle)
    handle.close()
    config.setdefault("debug", False)
    return config


def count_lines(path):
    f = open(path)
    total = 0
    for line in f:
        if line.strip():
            total += 1
    return total
"""


def test_open_gets_a_with_block(make_repo: MakeRepo, tmp_path: Path) -> None:
    run = generate(make_repo, tmp_path, OPEN, only="open-with-block")
    first, second = sorted(run.of("open-with-block"), key=lambda c: c.start_line)
    assert first.kind is SuggestionKind.REPAIR
    after_load = OPEN.replace(
        """\
    handle = open(path, encoding="utf-8")  # config file
    config = json.load(handle)
    handle.close()
""",
        """\
    with open(path, encoding="utf-8") as handle:  # config file
        config = json.load(handle)
""",
    )
    after_count = OPEN.replace(
        """\
    f = open(path)
    total = 0
    for line in f:
        if line.strip():
            total += 1
""",
        """\
    with open(path) as f:
        total = 0
        for line in f:
            if line.strip():
                total += 1
""",
    )
    run.expect(first, after_load)
    run.expect(second, after_count)

    config, text = tmp_path / "config.json", tmp_path / "lines.txt"
    config.write_text('{"name": "shop"}')
    text.write_text("a\n\nb\n")
    for func, path in (("load_config", config), ("count_lines", text)):
        before_opened = tracked_outcome(OPEN, func, path)
        after_opened = tracked_outcome(
            after_load if func == "load_config" else after_count, func, path
        )
        assert before_opened[0] == after_opened[0]
        assert all(after_opened[1]), "the rewritten function closes every file it opens"
    assert not all(tracked_outcome(OPEN, "count_lines", text)[1])  # the leak it repairs


def tracked_outcome(code: str, func: str, path: Path) -> tuple[Any, list[bool]]:
    handles: list[Any] = []

    def tracking_open(*args: Any, **kwargs: Any) -> Any:
        handles.append(open(*args, **kwargs))  # noqa: SIM115 - the handle is the point
        return handles[-1]

    result = outcome(code, func, (str(path),), open=tracking_open)
    closed = [h.closed for h in handles]
    for h in handles:
        h.close()
    return result, closed


def test_open_left_alone_when_the_handle_escapes(make_repo: MakeRepo, tmp_path: Path) -> None:
    code = """\
    def open_log(path):
        f = open(path)
        header = f.readline()
        return f, header  # the caller keeps reading


    class Reader:
        def start(self, path):
            f = open(path)
            self.f = f  # stored: must stay open


    def lazy(path):
        f = open(path)
        lines = (line.strip() for line in f)  # consumed after the function returns
        return lines


    def careful(path):
        f = open(path)
        try:
            return f.read()
        finally:
            f.close()  # already closed on every path
    """
    assert generate(make_repo, tmp_path, code, only="open-with-block").candidates == []


# -- 7. mutable default arguments ---------------------------------------------------------

DEFAULTS = '''\
def add_item(item, bucket=[], *, tags: dict[str, int] = {}, _cache={}):
    """Append `item` to `bucket`."""
    bucket.append(item)
    tags[item] = len(bucket)
    return bucket, tags
'''


def semgrep_finding(line: int, rule: str = "mutable-default-arg") -> Finding:
    return Finding(
        id=f"f-{rule}-{line}",
        source=FindingSource.SEMGREP,
        rule_id=rule,
        category=Category.DEFECT,
        severity=Severity.WARNING,
        path=PATH,
        start_line=line,
        end_line=line,
        message="mutable default",
    )


def test_mutable_defaults_become_none_guards(make_repo: MakeRepo, tmp_path: Path) -> None:
    def_line = (HEADER + KEEP + "\n\n").count("\n") + 1
    findings = [semgrep_finding(def_line), semgrep_finding(2, "elsewhere")]
    run = generate(make_repo, tmp_path, DEFAULTS, only="mutable-default-arg", findings=findings)
    cand = run.one("mutable-default-arg")
    assert cand.finding_ids == (findings[0].id,) and cand.kind is SuggestionKind.REPAIR
    assert "`bucket` and `tags`" in cand.description
    run.expect(
        cand,
        '''\
        def add_item(item, bucket=None, *, tags: dict[str, int] | None = None, _cache={}):
            """Append `item` to `bucket`."""
            if bucket is None:
                bucket = []
            if tags is None:
                tags = {}
            bucket.append(item)
            tags[item] = len(bucket)
            return bucket, tags
        ''',
    )
    after = after_text(run, cand)
    behaves_same(DEFAULTS, after, "add_item", ("a",), ("a", ["x"]))

    def twice(code: str) -> Any:
        namespace: dict[str, Any] = {}
        exec(HEADER + code, namespace)
        namespace["add_item"]("a")
        return namespace["add_item"]("b")

    assert twice(DEFAULTS) == (["a", "b"], {"a": 1, "b": 2})  # the shared-default bug
    assert twice(after) == (["b"], {"b": 1})


def test_mutable_default_left_alone_when_its_names_mean_something_else_inside(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    code = """\
    SIZES = [1, 2]


    def pick(choice=list(SIZES)):
        SIZES = {"s": 1}  # a local now: `list(SIZES)` would read this one
        return choice, SIZES


    def one_liner(x=[]): return x
    """
    assert generate(make_repo, tmp_path, code, only="mutable-default-arg").candidates == []


def test_function_nested_in_compound_statements_keeps_its_place(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    code = """\
    try:
        from fastcart import Cart
    except ImportError:

        class Cart:
            # pure-Python fallback

            @staticmethod  # no instance needed
            def total(prices, fees=[]):
                return sum(prices) + sum(fees)
    """
    run = generate(make_repo, tmp_path, code, only="mutable-default-arg")
    cand = run.one("mutable-default-arg")
    assert cand.original == "        def total(prices, fees=[]):\n"
    run.expect(
        cand,
        """\
        try:
            from fastcart import Cart
        except ImportError:

            class Cart:
                # pure-Python fallback

                @staticmethod  # no instance needed
                def total(prices, fees=None):
                    if fees is None:
                        fees = []
                    return sum(prices) + sum(fees)
        """,
    )


# -- 8. dict.keys() ----------------------------------------------------------------------

KEYS = """\
def shared_keys(a, b):
    common = 0
    for key in a.keys():  # every key of a
        if key not in (b).keys():
            continue
        common += 1
    return common, [k for k in b.keys()]
"""


def test_dict_keys_views_dropped(make_repo: MakeRepo, tmp_path: Path) -> None:
    run = generate(make_repo, tmp_path, KEYS, only="dict-keys-iteration")
    cands = sorted(run.of("dict-keys-iteration"), key=lambda c: c.start_line)
    assert [c.replacement.strip() for c in cands] == [
        "for key in a:  # every key of a",
        "if key not in (b):",
        "return common, [k for k in b]",
    ]
    assert all(c.start_line == c.end_line for c in cands)
    merged = apply_candidates(run.head, cands)[len(HEADER + KEEP + "\n\n") :]
    behaves_same(KEYS, merged, "shared_keys", ({"x": 1, "y": 2}, {"y": 0, "z": 0}), ({}, {}))


def test_dict_keys_kept_where_the_view_is_the_point(make_repo: MakeRepo, tmp_path: Path) -> None:
    code = """\
    def removed(old, new):
        gone = old.keys() - new.keys()  # set operations need the view
        return sorted(gone), list(new.keys())
    """
    assert generate(make_repo, tmp_path, code, only="dict-keys-iteration").candidates == []


# -- 9. quadratic de-duplication -----------------------------------------------------------

DEDUPE = """\
def unique(values):
    result = []  # keeps first-seen order
    for v in values:
        if v not in result:
            result.append(v)
    return result


def unique_ids(rows):
    ids = []
    for row in rows:
        if row["id"] not in ids:
            ids.append(row["id"])
    return ids
"""


def test_quadratic_dedupe_becomes_dict_fromkeys(make_repo: MakeRepo, tmp_path: Path) -> None:
    run = generate(make_repo, tmp_path, DEDUPE, only="dedupe-with-dict-fromkeys")
    first, second = sorted(run.of("dedupe-with-dict-fromkeys"), key=lambda c: c.start_line)
    assert "hashable" in first.description
    after_values = DEDUPE.replace(
        """\
    result = []  # keeps first-seen order
    for v in values:
        if v not in result:
            result.append(v)
""",
        """\
    result = list(dict.fromkeys(values))  # keeps first-seen order
""",
    )
    after_ids = DEDUPE.replace(
        """\
    ids = []
    for row in rows:
        if row["id"] not in ids:
            ids.append(row["id"])
""",
        """\
    ids = list(dict.fromkeys(row["id"] for row in rows))
""",
    )
    run.expect(first, after_values)
    run.expect(second, after_ids)
    behaves_same(DEDUPE, after_values, "unique", ([3, 1, 3, 2, 1],), ("banana",), ([],))
    behaves_same(DEDUPE, after_ids, "unique_ids", ([{"id": 2}, {"id": 1}, {"id": 2}],))
    # What no static check can know, and why the repository's tests must prove it:
    unhashable = ([[1], [1], [2]],)
    assert outcome(DEDUPE, "unique", unhashable) == ("returned", [[1], [2]])
    assert outcome(after_values, "unique", unhashable) == ("raised", "TypeError")


def test_dedupe_left_alone_when_it_is_not_the_idiom(make_repo: MakeRepo, tmp_path: Path) -> None:
    code = """\
    def shifted(xs):
        out = []
        for x in xs:
            if x not in out:
                out.append(x + 1)  # appends something other than what it tested
        return out


    def normalized(words):
        out = []
        for w in words:
            if w.lower() not in out:  # a call: evaluated twice in the loop, once after
                out.append(w.lower())
        return out
    """
    assert generate(make_repo, tmp_path, code, only="dedupe-with-dict-fromkeys").candidates == []


# -- 10. len() comparisons and sorted()[0] ------------------------------------------------

LENGTHS = """\
def summary(items):
    if len(items) == 0:
        return "empty"
    has_many = len(items) != 0
    return ("some" if len(items) > 0 else "none"), has_many
"""


def test_len_comparisons_become_truthiness(make_repo: MakeRepo, tmp_path: Path) -> None:
    run = generate(make_repo, tmp_path, LENGTHS, only="len-to-truthiness")
    cands = sorted(run.of("len-to-truthiness"), key=lambda c: c.start_line)
    assert [c.replacement.strip() for c in cands] == [
        "if not items:",
        "has_many = bool(items)",
        'return ("some" if items else "none"), has_many',
    ]
    merged = apply_candidates(run.head, cands)[len(HEADER + KEEP + "\n\n") :]
    behaves_same(LENGTHS, merged, "summary", ([],), ([0],), ("ab",), ({},))


def test_len_left_alone_for_other_comparisons(make_repo: MakeRepo, tmp_path: Path) -> None:
    code = """\
    def single(items):
        return len(items) == 1 or len(items) > 2


    def custom(items):
        len = lambda x: 0  # not the builtin
        return len(items) == 0
    """
    assert generate(make_repo, tmp_path, code, only="len-to-truthiness").candidates == []


SORTED = """\
def cheapest(products):
    return sorted(products, key=lambda p: p["price"])[0]


def newest_name(events):
    return sorted(events, key=lambda e: e["at"], reverse=True)[0]["name"]
"""


def test_sorted_first_element_becomes_min_or_max(make_repo: MakeRepo, tmp_path: Path) -> None:
    run = generate(make_repo, tmp_path, SORTED, only="sorted-index-to-min-max")
    cands = sorted(run.of("sorted-index-to-min-max"), key=lambda c: c.start_line)
    assert [c.replacement.strip() for c in cands] == [
        'return min(products, key=lambda p: p["price"])',
        'return max(events, key=lambda e: e["at"])["name"]',
    ]
    merged = apply_candidates(run.head, cands)[len(HEADER + KEEP + "\n\n") :]
    ties = [
        {"price": 2, "at": 1, "name": "a"},
        {"price": 1, "at": 3, "name": "b"},
        {"price": 1, "at": 3, "name": "c"},
    ]
    behaves_same(SORTED, merged, "cheapest", (ties,))
    behaves_same(SORTED, merged, "newest_name", (ties,))
    assert outcome(SORTED, "cheapest", ([],)) == ("raised", "IndexError")
    assert outcome(merged, "cheapest", ([],)) == ("raised", "ValueError")  # as described


def test_sorted_left_alone_for_other_indexes(make_repo: MakeRepo, tmp_path: Path) -> None:
    code = """\
    def largest(xs):
        return sorted(xs)[-1]  # max() would return the first of equal elements


    def second(xs, flag):
        return sorted(xs)[1], sorted(xs, reverse=flag)[0]
    """
    assert generate(make_repo, tmp_path, code, only="sorted-index-to-min-max").candidates == []


# -- the generator ---------------------------------------------------------------------------


def test_only_functions_the_change_touched(make_repo: MakeRepo, tmp_path: Path) -> None:
    patterns = textwrap.dedent(
        """\
        def old(xs, acc=[]):
            out = []
            for x in xs.keys():
                out.append(x)
            return out


        def outer(xs, cache=[]):
            def inner(ys):
                total = ""
                for y in ys:
                    total += y
                return total

            return inner(xs)
        """
    )
    repo = make_repo({PATH: patterns}, {PATH: patterns.replace("total += y", "total += y * 2")})
    change = compute_change(open_repo(repo.path), "main", "pr")
    snapshot = take_snapshot(change, AnalysisSettings(), tmp_path / "snap")
    candidates = CodemodGenerator().generate([], snapshot)
    # only `inner` changed: `old` and `outer`'s own code (its default) stay as they are
    assert {c.source for c in candidates} == {"codemod:str-concat-to-join"}
    (cand,) = candidates
    assert "total_parts" in cand.replacement and "cache" not in cand.replacement


def test_every_codemod_is_run_and_candidates_are_distinct(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    code = "\n\n".join(
        [
            MEMBERSHIP,
            CONCAT,
            HOIST,
            COMPREHENSION,
            ANY_ALL,
            OPEN,
            DEFAULTS,
            KEYS,
            DEDUPE,
            LENGTHS,
            SORTED,
        ]
    )
    run = generate(make_repo, tmp_path, code)
    assert {c.source for c in run.candidates} == {f"codemod:{n}" for n in CODEMODS}
    assert len({c.id for c in run.candidates}) == len(run.candidates)
    assert len(CODEMODS) >= 8
    limited = CodemodGenerator(max_per_function=1).generate([], run.snapshot)
    functions = {c.start_line for c in limited}
    assert len(limited) == len(functions) <= len(run.candidates)


def test_crlf_files_keep_their_line_endings(make_repo: MakeRepo, tmp_path: Path) -> None:
    code = "def f(xs, acc=[]):\r\n    return acc + xs\r\n"
    repo = make_repo({PATH: "x = 1\r\n"}, {PATH: "x = 1\r\n\r\n\r\n" + code})
    change = compute_change(open_repo(repo.path), "main", "pr")
    snapshot = take_snapshot(change, AnalysisSettings(), tmp_path / "snap")
    (cand,) = CodemodGenerator([CODEMODS["mutable-default-arg"]]).generate([], snapshot)
    assert cand.replacement == (
        "def f(xs, acc=None):\r\n    if acc is None:\r\n        acc = []\r\n"
    )


# -- minimal_candidate ------------------------------------------------------------------------

Case = tuple[str, str, tuple[int, int, str, str] | None]
MINIMAL: list[Case] = [
    ("a\nb\nc\n", "a\nB\nc\n", (2, 2, "b\n", "B\n")),
    ("a\nb\nc\nd\n", "a\nB\nc\nD\n", (2, 4, "b\nc\nd\n", "B\nc\nD\n")),  # one span for both
    ("a\nb\n", "a\nnew\nb\n", (1, 1, "a\n", "a\nnew\n")),  # insertion: anchored on a line
    ("a\nb\n", "new\na\nb\n", (1, 1, "a\n", "new\na\n")),  # insertion at the top
    ("a\nb\nc\n", "a\nc\n", (2, 2, "b\n", "")),  # deletion
    ("a\nb", "a\nb\n", (2, 2, "b", "b\n")),  # a newline added at the end of the file
    ("a\nb\n", "a\nb\n", None),
]


@pytest.mark.parametrize(("before", "after", "expected"), MINIMAL)
def test_minimal_candidate(before: str, after: str, expected: tuple[Any, ...] | None) -> None:
    cand = minimal_candidate(
        "m.py",
        before,
        after,
        kind=SuggestionKind.OPTIMIZATION,
        source="codemod:t",
        description="d.",
    )
    if expected is None:
        assert cand is None
        return
    assert cand is not None
    assert (cand.start_line, cand.end_line, cand.original, cand.replacement) == expected
    assert apply_candidates(before, [cand]) == after


def test_minimal_candidate_offsets_and_finding_links() -> None:
    near, far = semgrep_finding(12), semgrep_finding(30)
    cand = minimal_candidate(
        PATH,
        "x\ny\n",
        "x\nY\n",
        kind=SuggestionKind.REPAIR,
        source="codemod:t",
        description="d.",
        findings=[near, far],
        first_line=11,
    )
    assert cand is not None and (cand.start_line, cand.end_line) == (12, 12)
    assert cand.finding_ids == (near.id,)


def test_functions_are_located_by_ast_exactly_where_libcst_puts_them() -> None:
    import libcst as cst

    from provenfix.jobs.generation.codemods.generator import _locate, _locate_slowly, _touched_spans
    from provenfix.jobs.report import ChangedFile, LineRange

    text = """import functools


@functools.cache
def top(a):
    def inner(b):
        return b
    return inner(a)


class Box:
    @property
    def size(self):
        return 1

    try:
        import fast
    except ImportError:
        def slow(self, x=[]):
            return x
    match 1:
        case 1:
            async def matched(self):
                return [lambda: 0 for _ in range(2)]
"""
    lines = text.count("\n")
    change = ChangedFile("m.py", "m.py", (LineRange(1, lines),), (LineRange(1, lines),))
    spans = _touched_spans(text, change)
    assert len(spans) == 5
    module = cst.parse_module(text)
    fast = _locate(module, spans, text)
    slow = _locate_slowly(module, spans)
    assert [(f.name.value, a, line, col) for f, a, line, col in fast] == [
        (f.name.value, a, line, col) for f, a, line, col in slow
    ]
    assert [(f.name.value, line, col) for f, _, line, col in fast] == [
        ("top", 5, 0),
        ("inner", 6, 4),
        ("size", 13, 4),
        ("slow", 19, 8),
        ("matched", 23, 12),
    ]
