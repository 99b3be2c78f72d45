def resolve(node, default):
    # ruleid: negated-identity-test
    if node.parent is not None:
        return node.parent
    # ruleid: negated-identity-test
    ready = node.value is not default and node.kind is not type(default)
    # ok: negated-identity-test
    if node.parent is not None:
        return node.parent
    # ok: negated-identity-test
    return not ready
