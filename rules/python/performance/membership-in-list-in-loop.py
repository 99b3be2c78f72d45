def dedupe(items):
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
