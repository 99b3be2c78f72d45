def resolve(node, default):
    # ruleid: negated-identity-test
    if not node.parent is None:
        return node.parent
    # ruleid: negated-identity-test
    ready = not node.value is default and not node.kind is type(default)
    # ok: negated-identity-test
    if node.parent is not None:
        return node.parent
    # ok: negated-identity-test
    return not ready
