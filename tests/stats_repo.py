"""The `stats` repository the App and Action end-to-end tests share: its pull request
brings one problem (`== None`) that a bundled rule's autofix repairs."""

BASE = """def mean(values):
    total = 0
    for v in values:
        total = total + v
    return total / len(values)


def is_missing(value):
    return value is None
"""
HEAD = BASE.replace("    return value is None\n", "    result = value == None\n    return result\n")
TESTS = """from stats import is_missing, mean


def test_mean():
    assert mean([1, 2, 3]) == 2


def test_missing():
    assert is_missing(None) and not is_missing(0)
"""
RULE = "comparison-to-none-eq"
