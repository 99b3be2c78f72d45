def filter_names(names, banned, config):
    # ruleid: negated-membership-test
    if not "default" in names:
        names.append("default")
    # ruleid: negated-membership-test
    allowed = [n for n in names if not n.lower() in banned and not n[0] in "_."]
    # ruleid: negated-membership-test
    while not config.key in config.seen:
        config.advance()
    # ok: negated-membership-test
    if "default" not in names:
        names.append("default")
    # ok: negated-membership-test
    if not (names and banned):
        return []
    return allowed


def parenthesized(key, table):
    # ruleid: negated-membership-test
    return not (key in table)
