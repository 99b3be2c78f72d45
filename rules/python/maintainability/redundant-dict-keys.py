import os
import sqlite3
from collections import defaultdict


def merge(defaults: dict[str, int], overrides, **options):
    result = {}
    # ruleid: redundant-dict-keys
    for key in defaults.keys():
        result[key] = overrides.get(key, defaults[key])
    # ruleid: redundant-dict-keys
    unknown = [k for k in options.keys() if k not in result]
    # ruleid: redundant-dict-keys
    if "debug" in result.keys():
        result.pop("debug")
    counts = defaultdict(int)
    # ruleid: redundant-dict-keys
    missing = {name for name in counts.keys() if name not in os.environ}
    # os.environ and other mappings not created in the same scope are not recognized
    # todoruleid: redundant-dict-keys
    env_names = [name for name in os.environ.keys()]
    return result, unknown, missing, env_names


def unknown_objects(row: sqlite3.Row, query_result, series):
    # ok: redundant-dict-keys
    for column in row.keys():
        print(column)
    # ok: redundant-dict-keys
    names = [name for name in query_result.keys()]
    # ok: redundant-dict-keys
    if "a" in series.keys():
        return names
    return None


def snapshot(table: dict):
    # ok: redundant-dict-keys
    for key in list(table.keys()):
        if key.startswith("_"):
            del table[key]
    # ok: redundant-dict-keys
    keys = list(table.keys())
    # ok: redundant-dict-keys
    for k in table:
        print(k)
    return keys
