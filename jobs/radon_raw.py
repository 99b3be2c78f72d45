"""radon's raw metrics (`radon.raw.analyze`) from one tokenization of the file.

radon counts chunk by chunk: from each line it tokenizes one more stripped line at
a time until the text tokenizes cleanly, so a chunk is a logical line, and every
multi-line statement or docstring is read again for each of its lines (on click,
4.9 times the text: half of the complexity stage). Here the whole file is
tokenized once and cut into the same logical lines; each one's tokens, without
the INDENT and DEDENT tokens a stripped chunk cannot have and with the
ENDMARKER it ends with, go through radon's own counting. The numbers are
radon's (tests/test_complexity.py, and files of the standard library and
site-packages compared); text that `str.splitlines` cuts where tokenize does
not, or that tokenize refuses or marks as an error, is left to radon itself.
"""

from __future__ import annotations

import io
import tokenize

from radon.raw import Module, _logical, analyze, is_single_token

# Line breaks of str.splitlines() that tokenize does not break lines at ("\r" alone too).
_OTHER_BREAKS = frozenset("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_LAYOUT = (tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
_ENDMARKER = tokenize.TokenInfo(tokenize.ENDMARKER, "", (0, 0), (0, 0), "")


def raw_metrics(source: str) -> Module:
    """What `radon.raw.analyze(source)` returns."""
    if _OTHER_BREAKS.intersection(source) or "\r" in source.replace("\r\n", ""):
        return analyze(source)
    try:
        chunks = _logical_lines(source)
    except (tokenize.TokenError, SyntaxError):
        return analyze(source)
    lines = [line.strip() for line in source.splitlines()]
    if chunks and chunks[-1][0] != len(lines) - 1:
        return analyze(source)  # text after the last logical line: radon says what it is
    lloc = comments = single_comments = multi = blank = sloc = 0
    first = 0
    for last, tokens in chunks:
        parsed_lines = lines[first : last + 1]
        first = last + 1
        comments += sum(1 for t in tokens if t[0] == tokenize.COMMENT)
        if is_single_token(tokenize.COMMENT, tokens):
            single_comments += 1
        elif is_single_token(tokenize.STRING, tokens):
            _, _, (start_row, _), (end_row, _), _ = tokens[0]
            if end_row == start_row:
                single_comments += 1
            else:
                multi += sum(1 for line in parsed_lines if line)
                blank += sum(1 for line in parsed_lines if not line)
        else:
            for line in parsed_lines:
                if line:
                    sloc += 1
                else:
                    blank += 1
        lloc += _logical(tokens)
    loc = sloc + blank + multi + single_comments
    return Module(loc, lloc, sloc, comments, multi, blank, single_comments)


def _logical_lines(source: str) -> list[tuple[int, list[tokenize.TokenInfo]]]:
    """Each logical line: the 0-based index of its last physical line, and its tokens as
    radon sees them in the stripped chunk (ENDMARKER last)."""
    chunks: list[tuple[int, list[tokenize.TokenInfo]]] = []
    tokens: list[tokenize.TokenInfo] = []
    depth = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in _LAYOUT:
            continue
        if token.type == tokenize.ERRORTOKEN:  # radon's chunk would never end clean
            raise tokenize.TokenError("error token", token.start)
        tokens.append(token)
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        elif token.type == tokenize.NEWLINE or (token.type == tokenize.NL and depth == 0):
            chunks.append((token.start[0] - 1, [*tokens, _ENDMARKER]))
            tokens = []
    if tokens:  # tokenize ends every logical line; anything left is not one
        raise tokenize.TokenError("unterminated logical line", (0, 0))
    return chunks
