"""From a model's answer to a minimal candidate, or to a note saying why not.

The answer must hold the complete function: in a fenced code block, or as the
whole answer when that parses. The function with the target's name is taken
out of it, re-indented to the original's indentation, put in place of the
original, and the patched file is parse-checked. The candidate covers only
the lines that differ (whole lines; the same line endings as the file).
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from provenfix.jobs.generation.code_model.context import find_def
from provenfix.jobs.generation.code_model.prompt import Target
from provenfix.jobs.generation.edits import candidate_id, parse_error
from provenfix.jobs.report import Candidate, SuggestionKind

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.M | re.S)
_CODE_LANGS = {"", "python", "py", "python3", "py3"}
UNCHANGED = "the answer is the unchanged function"  # dropped before validation, re-sampled


@dataclass(frozen=True)
class Rewrite:
    """The target function as the model rewrote it, already placed in the file."""

    lines: list[str]  # the new function's lines (def .. end), re-indented, with line endings
    patched: str  # the whole file with the rewrite in place
    key: str  # normalized AST of the new function, for deduplication
    signature_changed: bool


def code_blocks(answer: str) -> list[str]:
    """Python code in the answer: its fenced blocks, else the whole answer when it parses."""
    blocks = [m.group(2) for m in _FENCE.finditer(answer) if m.group(1).lower() in _CODE_LANGS]
    if blocks:
        return blocks
    if "```" not in answer and answer.strip():
        try:
            ast.parse(textwrap.dedent(answer))
        except (SyntaxError, ValueError):
            return []
        return [textwrap.dedent(answer)]
    return []


def rewrite(answer: str, target: Target) -> Rewrite | str:
    """The answer's version of the target function in place, or why it is unusable."""
    blocks = code_blocks(answer)
    if not blocks:
        return "the answer holds no Python code"
    problems: list[str] = []
    for block in blocks:
        found = _function_in(block, target.name)
        if isinstance(found, str):
            problems.append(found)
            continue
        result = _place(*found, target)
        if isinstance(result, str):
            problems.append(result)
            continue
        return result
    return problems[0] if len(set(problems)) == 1 else "; ".join(dict.fromkeys(problems))


def _parse_block(block: str) -> tuple[ast.Module, list[str]] | str:
    """The block's AST and the lines its positions refer to; indented code is wrapped.

    Text the model wrote after the code without closing the fence ("This works
    because ...") fails to parse at a line at column 0 after the function: the code
    before that line is kept (a function's body never reaches column 0)."""
    dedented = textwrap.dedent(block)
    lines = dedented.splitlines()
    first_error: str | None = None
    for _ in range(3):
        try:
            return ast.parse("\n".join(lines)), lines
        except SyntaxError as exc:
            first_error = first_error or f"the code does not parse: {exc.msg} at line {exc.lineno}"
            bad = (exc.lineno or 0) - 1
            if (
                not (0 < bad < len(lines))
                or lines[bad][:1].isspace()
                or not any(line.startswith(("def ", "async def ")) for line in lines[:bad])
            ):
                break
            lines = lines[:bad]  # drop the prose after the function
        except (ValueError, RecursionError) as exc:
            return f"the code does not parse: {exc}"
    if not dedented[:1].isspace():
        return first_error or "the code does not parse"
    wrapped = "if True:\n" + dedented  # indented code whose strings reach column 0
    try:
        return ast.parse(wrapped), wrapped.splitlines()
    except (SyntaxError, ValueError, RecursionError):
        return first_error or "the code does not parse"


def _function_in(
    block: str, name: str
) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, list[str]] | str:
    parsed = _parse_block(block)
    if isinstance(parsed, str):
        return parsed
    tree, lines = parsed
    defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    matches = [n for n in defs if n.name == name]
    if not matches:
        named = ", ".join(f"`{n.name}`" for n in defs[:4]) or "no function"
        return f"the answer defines {named}, not `{name}`"
    return matches[0], lines  # ast.walk is breadth-first: the outermost definition of that name


def _place(
    func: ast.FunctionDef | ast.AsyncFunctionDef, source_lines: list[str], target: Target
) -> Rewrite | str:
    body = source_lines[func.lineno - 1 : func.end_lineno]
    protected = _string_interiors(func, offset=func.lineno)
    file_lines = target.text.splitlines(keepends=True)
    def_line = file_lines[target.start - 1]
    indent = def_line[: len(def_line) - len(def_line.lstrip())]
    newline = "\r\n" if def_line.endswith("\r\n") else "\n"
    own = func.col_offset
    placed = []
    for index, line in enumerate(body):
        if index in protected:
            placed.append(line)
        elif line.strip():
            stripped = line[own:] if line[:own].strip() == "" else line.lstrip()
            placed.append(indent + stripped.rstrip())
        else:
            placed.append("")
    new_lines = [line + newline for line in placed]
    original = find_def(ast.parse(target.text), target.start, target.name)
    if original is None:
        return "the original function could not be found in the file"
    new_lines = _keep_docstring(original, func, file_lines, new_lines, newline)
    last_original = file_lines[target.end - 1]
    if not last_original.endswith("\n") and new_lines:
        new_lines[-1] = new_lines[-1].rstrip("\r\n")
    patched = "".join([*file_lines[: target.start - 1], *new_lines, *file_lines[target.end :]])
    error = parse_error(target.path, patched)
    if error is not None:
        return f"the rewritten file {error}"
    new = find_def(ast.parse(patched), target.start, target.name)
    if new is None:
        return "the rewritten function could not be found again in the file"
    key = normalized(new)
    if key == normalized(original):
        return UNCHANGED
    return Rewrite(
        lines=new_lines,
        patched=patched,
        key=key,
        signature_changed=ast.dump(original.args) != ast.dump(new.args),
    )


def _docstring(func: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Expr | None:
    first = func.body[0] if func.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


def _docstring_text(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    doc = _docstring(func)
    return str(doc.value.value) if doc is not None and isinstance(doc.value, ast.Constant) else None


def _keep_docstring(
    original: ast.FunctionDef | ast.AsyncFunctionDef,
    new: ast.FunctionDef | ast.AsyncFunctionDef,
    file_lines: list[str],
    new_lines: list[str],
    newline: str,
) -> list[str]:
    """Put the original docstring back where the answer left it out or kept the begun
    answer's placeholder docstring (`...`): the prompt never asks for it to be rewritten."""
    doc = _docstring(original)
    if doc is None or new.body[0].lineno == new.lineno:
        return new_lines
    placeholder = _docstring(new)
    if placeholder is not None and (_docstring_text(new) or "").strip() not in ("...", ""):
        return new_lines  # the answer has a docstring of its own
    at = new.body[0].lineno - new.lineno  # index of the first statement in new_lines
    after = at + 1 + ((placeholder.end_lineno or 0) - placeholder.lineno) if placeholder else at
    first_statement = new_lines[at]
    want = first_statement[: len(first_statement) - len(first_statement.lstrip())]
    lines = [line.rstrip("\r\n") for line in file_lines[doc.lineno - 1 : doc.end_lineno]]
    have = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
    moved = [want + line[len(have) :] if line.startswith(have) else line for line in lines]
    return [*new_lines[:at], *(line + newline for line in moved), *new_lines[after:]]


def normalized(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The function's AST without positions, decorators or docstring: equal for equal code."""
    body = func.body
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        body = body[1:] if isinstance(first.value.value, str) else body
    return ast.dump(ast.Module(body=[*body], type_ignores=[])) + ast.dump(func.args)


def _string_interiors(func: ast.AST, *, offset: int) -> set[int]:
    """Indexes (from the def line) of lines inside multi-line strings other than docstrings."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(func)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    lines: set[int] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Constant | ast.JoinedStr) and id(node) not in docstrings:
            end = node.end_lineno or node.lineno
            lines.update(range(node.lineno + 1 - offset, end + 1 - offset))
    return lines


def minimal_candidate(
    target: Target,
    new_lines: list[str],
    *,
    kind: SuggestionKind,
    source: str,
    description: str,
) -> Candidate:
    """The smallest whole-line replacement that turns the original function into the new one."""
    file_lines = target.text.splitlines(keepends=True)
    old = file_lines[target.start - 1 : target.end]
    prefix = 0
    while prefix < min(len(old), len(new_lines)) and old[prefix] == new_lines[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(old), len(new_lines)) - prefix
        and old[len(old) - 1 - suffix] == new_lines[len(new_lines) - 1 - suffix]
    ):
        suffix += 1
    if prefix + suffix >= len(old):  # pure insertion: anchor it on a neighbouring line
        if prefix > 0:
            prefix -= 1
        else:
            suffix -= 1
    start = target.start + prefix
    original = "".join(old[prefix : len(old) - suffix])
    replacement = "".join(new_lines[prefix : len(new_lines) - suffix])
    end = start + len(old) - prefix - suffix - 1
    return Candidate(
        id=candidate_id(target.path, start, original, replacement, source),
        finding_ids=tuple(f.id for f in target.findings),
        kind=kind,
        source=source,
        path=target.path,
        start_line=start,
        end_line=end,
        original=original,
        replacement=replacement,
        description=description,
    )
