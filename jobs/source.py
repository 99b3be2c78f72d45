"""Reading Python source safely: decoding, parsing, and locating functions."""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass


class UnreadableSource(ValueError):
    """A file we cannot analyze; the message is the reason shown under `skipped`."""


@dataclass(frozen=True)
class FunctionSpan:
    qualname: str
    start: int  # first line, decorators excluded
    end: int


@dataclass(frozen=True)
class SourceFile:
    path: str
    text: str
    functions: tuple[FunctionSpan, ...]

    def enclosing_function(self, line: int) -> str | None:
        """Qualified name of the innermost function containing `line`."""
        best: FunctionSpan | None = None
        for span in self.functions:
            if span.start <= line <= span.end and (best is None or span.start >= best.start):
                best = span
        return best.qualname if best else None


def decode(data: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        encoding = "utf-8"  # undecodable first lines: the decode below says where
    if encoding.lower().replace("_", "-") not in {"utf-8", "utf-8-sig"}:
        raise UnreadableSource(f"declares encoding {encoding}; only UTF-8 source is analyzed")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableSource(f"not valid UTF-8 (byte {exc.start})") from None


def parse(path: str, data: bytes) -> SourceFile:
    """Decode and parse; raise UnreadableSource with a user-facing reason."""
    if b"\0" in data:
        raise UnreadableSource("contains NUL bytes")
    text = decode(data)
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise UnreadableSource(f"does not parse: {exc.msg} at line {exc.lineno}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise UnreadableSource(f"does not parse: {exc}") from None
    return SourceFile(path=path, text=text, functions=tuple(_functions(tree)))


def _functions(tree: ast.AST) -> list[FunctionSpan]:
    spans: list[FunctionSpan] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                spans.append(FunctionSpan(name, child.lineno, child.end_lineno or child.lineno))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def normalize_code(code: str) -> str:
    """Code with comments and layout removed, so reformatting keeps a fingerprint."""
    try:
        tokens = [
            tok.string
            for tok in tokenize.generate_tokens(io.StringIO(code).readline)
            if tok.type
            not in {
                tokenize.COMMENT,
                tokenize.NL,
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
                tokenize.ENDMARKER,
            }
        ]
    except (tokenize.TokenError, SyntaxError):
        return " ".join(code.split())
    return " ".join(tokens)
