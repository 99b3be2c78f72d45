import collections
from collections import defaultdict


# ruleid: mutable-default-arg
def append_item(item, items=[]):
    items.append(item)
    return items


# ruleid: mutable-default-arg
def merge(base, extra={}):
    base.update(extra)
    return base


def tags(
    name,
    # ruleid: mutable-default-arg
    seen=set(),
    *,
    # ruleid: mutable-default-arg
    counts=defaultdict(int),
):
    seen.add(name)
    counts[name] += 1


class Registry:
    # ruleid: mutable-default-arg
    def register(self, key, aliases=list()):
        aliases.append(key)

    # ruleid: mutable-default-arg
    async def fetch(self, keys=[1, 2, 3]):
        return keys


# ruleid: mutable-default-arg
def window(size, buf=collections.deque()):
    return buf


# ok: mutable-default-arg
def append_item_safe(item, items=None):
    if items is None:
        items = []
    items.append(item)
    return items


# ok: mutable-default-arg
def immutable_defaults(a=(), b="", c=0, d=frozenset(), e=None):
    return a, b, c, d, e


# ok: mutable-default-arg
def memoised(n, _cache={}):
    if n not in _cache:
        _cache[n] = n * n
    return _cache[n]


# ruleid: mutable-default-arg
def with_set_literal(x, allowed={"a", "b"}):
    return x in allowed


# ok: mutable-default-arg
def frozen(x, allowed=frozenset({"a", "b"}), pair=tuple([1, 2])):
    return x in allowed, pair
