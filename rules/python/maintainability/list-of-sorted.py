def order(users, scores):
    # ruleid: list-of-sorted
    by_name = list(sorted(users, key=lambda u: u.name))
    # ruleid: list-of-sorted
    top = list(sorted(scores.items(), key=lambda kv: kv[1], reverse=True))[:10]
    # ok: list-of-sorted
    plain = sorted(users)
    # ok: list-of-sorted
    backwards = list(reversed(sorted(users)))
    return by_name, top, plain, backwards
