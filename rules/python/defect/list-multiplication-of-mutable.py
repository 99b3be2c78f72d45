def grid(rows, cols):
    # ruleid: list-multiplication-of-mutable
    board = [[0] * cols] * rows
    # ruleid: list-multiplication-of-mutable
    buckets = [[]] * (rows + 1)
    # ruleid: list-multiplication-of-mutable
    tables = 3 * [{}]
    # ruleid: list-multiplication-of-mutable
    pairs = [[None, None]] * len(board)
    return board, buckets, tables, pairs


def fine(rows, cols):
    # ok: list-multiplication-of-mutable
    board = [[0] * cols for _ in range(rows)]
    # ok: list-multiplication-of-mutable
    zeros = [0] * cols
    # ok: list-multiplication-of-mutable
    names = [""] * rows
    # ok: list-multiplication-of-mutable
    frozen = [(0, 0)] * rows
    # ok: list-multiplication-of-mutable
    labels = [[_("none")]] * rows
    return board, zeros, names, frozen, labels


def _(text):
    return text


def made(n, make):
    # ok: list-multiplication-of-mutable
    return [make([])] * n
