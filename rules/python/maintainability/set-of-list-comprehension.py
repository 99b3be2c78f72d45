def tags(posts, banned):
    # ruleid: set-of-list-comprehension
    names = set([tag.lower() for post in posts for tag in post.tags])
    # ruleid: set-of-list-comprehension
    allowed = set([t for t in names if t not in banned])
    # ruleid: set-of-list-comprehension
    pairs = set([
        (a, b)
        for a, b in zip(names, allowed)
    ])
    # ok: set-of-list-comprehension
    unique = {t.strip() for t in names}
    # ok: set-of-list-comprehension
    from_list = set(list(names))
    # ok: set-of-list-comprehension
    from_gen = set(t.upper() for t in names)
    return names, allowed, pairs, unique, from_list, from_gen
