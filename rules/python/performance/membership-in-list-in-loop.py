def dedupe(items):
    # the list's creation is reported too (a change may turn a set into a list there only)
    # ruleid: membership-in-list-in-loop
    seen = []
    out = []
    for item in items:
        # ruleid: membership-in-list-in-loop
        if item not in seen:
            seen.append(item)
            out.append(item)
    return out


def active_orders(orders, users):
    active_ids = [u.id for u in users if u.active]
    # ruleid: membership-in-list-in-loop
    return [o for o in orders if o.user_id in active_ids]


def missing(required, provided):
    names = list(provided)
    result = []
    for name in required:
        # ruleid: membership-in-list-in-loop
        if name in names:
            continue
        result.append(name)
    return result


def fine(orders, users, text):
    active_ids = {u.id for u in users if u.active}
    # ok: membership-in-list-in-loop
    matched = [o for o in orders if o.user_id in active_ids]
    ids = [u.id for u in users]
    # ok: membership-in-list-in-loop
    first = orders[0].user_id in ids
    words = text.split()
    for w in words:
        # ok: membership-in-list-in-loop
        if w in text:
            print(w)
    return matched, first


def unique_everseen(iterable):
    # ruleid: membership-in-list-in-loop
    seen = []
    seen_add = seen.append  # the bound method stored in a local
    # ruleid: membership-in-list-in-loop
    return [x for x in iterable if not (x in seen or seen_add(x))]


def unique_lazy(iterable):
    seen = [None]
    seen_add = seen.append
    for element in iterable:
        # ruleid: membership-in-list-in-loop
        if element not in seen:
            seen_add(element)
            yield element


def walk(nodes, visited=None):
    if visited is None:
        # ruleid: membership-in-list-in-loop
        visited = []
    for node in nodes:
        # ruleid: membership-in-list-in-loop
        if node in visited:
            continue
        visited.append(node)


def pick(rows, wanted, ordered):
    if ordered:
        names = {r.name for r in rows}
    else:
        names = [r.name for r in rows]
    # ruleid: membership-in-list-in-loop
    return any(w in names for w in wanted)


def _names(rows):
    found = []
    for row in rows:
        found.append(row.name)
    return found


def _sorted_names(rows):
    return sorted(r.name for r in rows)


def known(rows, wanted):
    names = _names(rows)
    # ruleid: membership-in-list-in-loop
    return {w: True for w in wanted if w in names}


def known_sorted(rows, wanted):
    names = _sorted_names(rows)
    # ruleid: membership-in-list-in-loop
    return sum(1 for w in wanted if w in names)


class Registry:
    def _keys(self):
        return [k for k in self.data]

    def _key_set(self):
        return set(self.data)

    def missing(self, wanted):
        keys = self._keys()
        # ruleid: membership-in-list-in-loop
        return [w for w in wanted if w not in keys]

    def present(self, wanted):
        keys = self._key_set()
        # ok: membership-in-list-in-loop
        return [w for w in wanted if w in keys]

    def later(self, wanted):
        keys = self._later()
        # a helper defined after its caller is not followed (the pattern is too slow)
        # todoruleid: membership-in-list-in-loop
        return [w for w in wanted if w in keys]

    def _later(self):
        return list(self.data)


def _name_set(rows):
    return {r.name for r in rows}


def not_lists(rows, wanted, flag):
    names = _name_set(rows)
    # ok: membership-in-list-in-loop
    hits = [w for w in wanted if w in names]
    if flag:
        ids = [r.id for r in rows]
        ids = set(ids)
    else:
        ids = set()
    # ok: membership-in-list-in-loop
    hits += [w for w in wanted if w in ids]
    small = ["a", "b"]
    # ok: membership-in-list-in-loop
    hits += [w for w in wanted if w in small]
    ordered = [r.name for r in rows]
    # ok: membership-in-list-in-loop
    return hits + [w.upper() for w in ordered]


def converted(rows, wanted):
    # ok: membership-in-list-in-loop
    names = []
    for row in rows:
        names.append(row.name)
    names = set(names)
    # ok: membership-in-list-in-loop
    return [w for w in wanted if w in names]


def tested_once(rows, wanted):
    # ok: membership-in-list-in-loop
    names = []
    names.extend(r.name for r in rows)
    return wanted in names
