import re

PATTERNS = [re.compile(p) for p in ("a+", "b+")]


def checks(values, names, text, validators):
    # ruleid: any-all-list-comprehension
    has_negative = any([v < 0 for v in values])
    # ruleid: any-all-list-comprehension
    all_ints = all([isinstance(v, int) for v in values if v is not None])
    # ruleid: any-all-list-comprehension
    private = any([n.startswith("_") or n.lower() in ("self", "cls") for n in names])
    # ruleid: any-all-list-comprehension
    matched = any([
        p.search(text)
        for p in PATTERNS
    ])
    # ok: any-all-list-comprehension
    every_valid = all([validate(v) for v in values])
    # ok: any-all-list-comprehension
    saved = all([v.save() for v in validators])
    # ok: any-all-list-comprehension
    lazy = any(v < 0 for v in values)
    # ok: any-all-list-comprehension
    total = sum([v for v in values])
    return has_negative, all_ints, private, matched, every_valid, saved, lazy, total


def validate(value):
    print("validating", value)
    return value is not None
