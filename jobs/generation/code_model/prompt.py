"""What the model is asked: which functions to rewrite, and the prompt for each.

A target is one function and the findings inside it that a model may fix:
failing tests, semgrep findings that have no autofix, and complexity findings
(those ask for a simpler equivalent instead of a repair). The prompt holds
the problem, the failing test's source when it can be read, the function
(its line numbers named, the reported lines quoted), and the few parts of the
module it leans on: imports, the enclosing class header, the module
constants and helpers it uses, and, given an ExampleSource, a few fixes of the
same rules the repository's maintainers accepted (see .examples).
"""

from __future__ import annotations

import ast
import difflib
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from provenfix.jobs.generation.code_model.backend import ChatMessage
from provenfix.jobs.generation.code_model.context import find_def, module_context
from provenfix.jobs.generation.code_model.examples import ExampleSource, examples_part, gather
from provenfix.jobs.report import Finding, FindingSource
from provenfix.jobs.snapshot import Snapshot
from provenfix.jobs.source import FunctionSpan, SourceFile

COMPLEXITY_RULES = frozenset({"complexity-above-threshold", "complexity-increased"})
Mode = Literal["repair", "simplify"]
SourceReader = Callable[[str], str | None]  # repo-relative path -> head text, or None

SYSTEM = (
    "You are an expert Python developer who fixes code with small, precise changes. "
    "You answer with one complete function in a single ```python code block and nothing else."
)
SYSTEM_LINES = (  # when only the suspicious lines are asked for
    "You are an expert Python developer who fixes code with small, precise changes. "
    "You answer with the corrected lines in a single ```python code block and nothing else."
)
_MAX_DIFF_LINES = 40
_MAX_TEST_LINES = 40


@dataclass(frozen=True)
class Target:
    path: str
    qualname: str
    start: int  # the `def` line (decorators excluded)
    end: int
    text: str  # the head version of the whole file
    findings: tuple[Finding, ...]
    mode: Mode
    base: str | None = None  # the function before the change, when it existed and differed

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Note:
    """Why a finding or an answer yielded no candidate (or a caveat about one)."""

    path: str
    function: str | None
    message: str
    finding_ids: tuple[str, ...] = ()


def wanted(finding: Finding) -> Mode | None:
    """Whether a model should try this finding, and how."""
    if finding.rule_id in COMPLEXITY_RULES:
        return "simplify"
    if finding.source is FindingSource.TESTS:
        return "repair"
    if finding.source is FindingSource.SEMGREP and finding.fix is None:
        return "repair"
    return None


def select_targets(
    findings: Sequence[Finding], snapshot: Snapshot, *, max_function_lines: int = 150
) -> tuple[list[Target], list[Note]]:
    """Group the findings a model should try by (file, function, mode); test failures first."""
    groups: dict[tuple[str, str, Mode], list[Finding]] = {}
    spans: dict[tuple[str, str, Mode], tuple[int, int, str]] = {}
    bases: dict[tuple[str, str, Mode], str | None] = {}
    notes: list[Note] = []
    for finding in findings:
        mode = wanted(finding)
        if mode is None:
            continue
        versions = snapshot.file(finding.path)
        if versions is None:
            notes.append(_note(finding, "the file is not part of the analyzed change"))
            continue
        head = versions.head
        qualname = finding.function or head.enclosing_function(finding.start_line)
        span = next((s for s in head.functions if s.qualname == qualname), None)
        if qualname is None or span is None:
            notes.append(_note(finding, "not inside a function: nothing for a model to rewrite"))
            continue
        if _is_test(finding.path, span.qualname):
            notes.append(_note(finding, "located in a test: tests are never rewritten to pass"))
            continue
        if span.end - span.start + 1 > max_function_lines:
            notes.append(
                _note(
                    finding,
                    f"`{qualname}` has {span.end - span.start + 1} lines, over the "
                    f"limit of {max_function_lines} for a model rewrite",
                )
            )
            continue
        key = (finding.path, span.qualname, mode)
        groups.setdefault(key, []).append(finding)
        spans[key] = (span.start, span.end, head.text)
        bases[key] = _base_function(versions.base, span.qualname, head.text, span)
    order = {"repair": 0, "simplify": 1}
    targets = [
        Target(key[0], key[1], *spans[key], findings=tuple(found), mode=key[2], base=bases[key])
        for key, found in groups.items()
    ]
    targets.sort(
        key=lambda t: (
            order[t.mode],
            not any(f.source is FindingSource.TESTS for f in t.findings),
            t.path,
            t.start,
        )
    )
    return targets, notes


def build_messages(
    target: Target,
    read: SourceReader | None = None,
    *,
    prefill: bool = False,
    show_change: bool = True,
    examples: ExampleSource | None = None,
    feedback: str = "",
    span: tuple[int, int] | None = None,
) -> list[ChatMessage]:
    """The conversation for one target. With `prefill`, the answer is begun for the model
    (a last, assistant message: the fence, the signature and the docstring as they are),
    so it writes only the body: fewer tokens, and the same name and signature. With
    `examples`, the closest accepted fixes of the target's rules come before the
    instruction; so does `feedback` (what earlier rounds tried: see .repair_loop). With
    `span` (first, last line of the file), only those lines of the function are asked for
    (see .narrow)."""
    lines = target.text.splitlines()
    tree = ast.parse(target.text)
    func = find_def(tree, target.start, target.name)
    first = min([target.start, *(d.lineno for d in func.decorator_list)]) if func else target.start
    function = textwrap.dedent("\n".join(lines[first - 1 : target.end]))
    where = f"`{target.qualname}` (lines {target.start}-{target.end} of `{target.path}`)"
    parts = []
    context = module_context(tree, lines, func, target.qualname) if func else ""
    if context:
        parts.append(f"Context from `{target.path}` (excerpt):\n```python\n{context}\n```")
    parts.append(f"The function {where}:\n```python\n{function}\n```")
    for finding in target.findings:
        parts.append(_problem(finding, lines, target, read))
    change = _change_of(target, function) if show_change else ""
    if change:
        parts.append(
            f"What this change did to `{target.name}` (unified diff, before → after):\n"
            f"```diff\n{change}\n```"
        )
    accepted = examples_part(gather(examples, (f.rule_id for f in target.findings), function))
    if accepted:
        parts.append(accepted)
    if feedback:
        parts.append(feedback)
    if span is not None and target.mode == "repair":
        return _lines_asked(target, lines, span, parts, prefill=prefill)
    if target.mode == "simplify":
        parts.append(
            f"Rewrite `{target.name}` as a simpler equivalent: less branching and nesting, the "
            "same behavior for every input (same return values, same exceptions, same side "
            "effects). Keep its name and signature."
        )
    else:
        parts.append(
            f"Fix the bug in `{target.name}` with the smallest change that solves the problem. "
            "Keep its name and signature and do not change anything unrelated."
        )
    answer = f"Answer with the complete corrected function `{target.name}` in one ```python block"
    begun = answer_prefix(func, lines) if prefill and func is not None else None
    if begun is None and func is not None and ast.get_docstring(func) is not None:
        answer += " (leave out its docstring: it is kept as it is)"
    parts.append(answer + ".")
    messages = [ChatMessage("system", SYSTEM), ChatMessage("user", "\n\n".join(parts))]
    return [*messages, ChatMessage("assistant", begun)] if begun else messages


DOCSTRING_PLACEHOLDER = '"""..."""'  # in a begun answer: "the docstring shown above"


def _lines_asked(
    target: Target, lines: list[str], span: tuple[int, int], parts: list[str], *, prefill: bool
) -> list[ChatMessage]:
    first, last = span
    shown = textwrap.dedent("\n".join(lines[first - 1 : last]))
    at = f"line {first}" if first == last else f"lines {first}-{last}"
    parts.append(
        f"The bug is most likely in {at} of `{target.path}`, in `{target.name}`:\n"
        f"```python\n{shown}\n```\n"
        f"Fix it by rewriting only {at}; the rest of `{target.name}` stays as it is."
    )
    parts.append(
        f"Answer with the new text of {at} only (as many lines as the fix needs, the same "
        "indentation as shown) in one ```python block."
    )
    messages = [ChatMessage("system", SYSTEM_LINES), ChatMessage("user", "\n\n".join(parts))]
    return [*messages, ChatMessage("assistant", "```python\n")] if prefill else messages


def _base_function(
    base: SourceFile | None, qualname: str, head_text: str, head_span: FunctionSpan
) -> str | None:
    """The function's text before the change (decorators included, dedented), or None when
    it is new or unchanged."""
    span = next((s for s in base.functions if s.qualname == qualname), None) if base else None
    if base is None or span is None:
        return None
    before = _function_text(base.text, span)
    return None if before == _function_text(head_text, head_span) else before


def _function_text(text: str, span: FunctionSpan) -> str:
    lines = text.splitlines()
    try:
        func = find_def(ast.parse(text), span.start, span.qualname.rsplit(".", 1)[-1])
    except SyntaxError:
        func = None
    first = min([span.start, *(d.lineno for d in func.decorator_list)]) if func else span.start
    return textwrap.dedent("\n".join(lines[first - 1 : span.end]))


def _change_of(target: Target, function: str) -> str:
    """For a test the change broke: the change to the function, as diff lines (the model
    sees what was there before; the tests still decide whether going back is the fix)."""
    if target.base is None or not any(f.source is FindingSource.TESTS for f in target.findings):
        return ""
    diff = difflib.unified_diff(
        target.base.splitlines(), function.splitlines(), "before", "after", n=2, lineterm=""
    )
    shown = [line for line in diff if not line.startswith(("---", "+++"))]
    if len(shown) > _MAX_DIFF_LINES:
        shown = [*shown[:_MAX_DIFF_LINES], "..."]
    return "\n".join(shown)


def answer_prefix(func: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> str | None:
    """The fence and the signature at column 0, then a placeholder docstring: the model
    writes only the body. (The docstring is in the prompt already; repeating it in the
    answer would cost its tokens again. The parser puts the original back.)"""
    first_statement = func.body[0]
    if first_statement.lineno == func.lineno:
        return None  # a one-line function
    indent = lines[func.lineno - 1][: func.col_offset]
    head = [line[len(indent) :] if line.startswith(indent) else line for line in
            lines[func.lineno - 1 : first_statement.lineno - 1]]  # fmt: skip
    if ast.get_docstring(func) is not None:
        body_indent = lines[first_statement.lineno - 1][: first_statement.col_offset]
        head.append(body_indent[len(indent) :] + DOCSTRING_PLACEHOLDER)
    return "```python\n" + "\n".join(head) + "\n"


def _problem(finding: Finding, lines: list[str], target: Target, read: SourceReader | None) -> str:
    if finding.rule_id in COMPLEXITY_RULES:
        return f"Problem: {finding.message}"
    start = max(finding.start_line, target.start)
    end = min(finding.end_line, target.end, start + 2)
    quoted = "\n".join(lines[start - 1 : end]).strip()
    at = f"line {start}" if start == end else f"lines {start}-{end}"
    text = f"Problem (`{finding.rule_id}`, reported at {at}: `{quoted}`): {finding.message}"
    test = test_source(finding.test, read) if finding.test else None
    if test:
        text += f"\n\nThe failing test:\n```python\n{test}\n```"
    return text


def test_source(nodeid: str, read: SourceReader | None) -> str | None:
    """The source of the test function a pytest node id names, when it can be read."""
    if read is None:
        return None
    path, _, rest = nodeid.partition("::")
    names = rest.split("[", 1)[0].split("::")
    try:
        text = read(path)
        tree = ast.parse(text) if text else None
    except (SyntaxError, ValueError, OSError):
        return None
    if text is None or tree is None:
        return None
    node: ast.AST = tree
    for name in names:
        found = next(
            (
                child
                for child in ast.iter_child_nodes(node)
                if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and child.name == name
            ),
            None,
        )
        if found is None:
            return None
        node = found
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    lines = text.splitlines()
    called = {
        c.func.id
        for c in ast.walk(node)
        if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
    }
    helpers = [  # module-level helpers of the test file that the test calls (e.g. `check`)
        h
        for h in tree.body
        if isinstance(h, ast.FunctionDef | ast.AsyncFunctionDef) and h.name in called
    ]
    shown = [_source_lines(lines, h, _MAX_TEST_LINES // 2) for h in helpers[:2]]
    return "\n\n".join([*shown, _source_lines(lines, node, _MAX_TEST_LINES)])


def _source_lines(
    lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef, limit: int
) -> str:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    body = lines[first - 1 : node.end_lineno]
    if len(body) > limit:
        body = [*body[:limit], "    ..."]
    return textwrap.dedent("\n".join(body))


def _is_test(path: str, qualname: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
        or (qualname.rsplit(".", 1)[-1].startswith("test_"))
    )


def _note(finding: Finding, message: str) -> Note:
    return Note(finding.path, finding.function, message, (finding.id,))
