USERS = ["ann", "bob"]


def group(records):
    # ruleid: dict-fromkeys-mutable-value
    by_user = {key: [] for key in USERS}
    for user, item in records:
        by_user[user].append(item)
    # ruleid: dict-fromkeys-mutable-value
    seen = {key: set() for key in (r[0] for r in records)}
    # ruleid: dict-fromkeys-mutable-value
    meta = {key: {} for key in sorted(by_user, key=len)}
    return by_user, seen, meta


def fine(records):
    # ok: dict-fromkeys-mutable-value
    counts = dict.fromkeys(USERS, 0)
    # ok: dict-fromkeys-mutable-value
    flags = dict.fromkeys(USERS)
    # ok: dict-fromkeys-mutable-value
    frozen = dict.fromkeys(USERS, ())
    # ok: dict-fromkeys-mutable-value
    by_user = {user: [] for user in USERS}
    return counts, flags, frozen, by_user


def made(keys, make):
    # ok: dict-fromkeys-mutable-value
    return dict.fromkeys(keys, make([]))
