def check(node, expected):
    # ruleid: type-comparison-ne
    if type(node) != expected.kind:
        raise TypeError(node)
    # ruleid: type-comparison-ne
    if type(node.parent) != type(node):
        return False
    # ok: type-comparison-ne
    if type(node) is not expected.kind:
        raise TypeError(node)
    # ok: type-comparison-ne
    return node.kind != expected.kind
