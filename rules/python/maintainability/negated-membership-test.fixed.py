def filter_names(names, banned, config):
    # ruleid: negated-membership-test
    if "default" not in names:
        names.append("default")
    # ruleid: negated-membership-test
    allowed = [n for n in names if n.lower() not in banned and n[0] not in "_."]
    # ruleid: negated-membership-test
    while config.key not in config.seen:
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
    return (key not in table)
