def encode(value, other):
    # ruleid: type-comparison-eq
    if type(value) == int:
        return str(value)
    # ruleid: type-comparison-eq
    if type(value) == type(other) or dict == type(other):
        return repr(value)
    # ruleid: type-comparison-eq
    same = [v for v in value if type(v)==float]
    # ok: type-comparison-eq
    if type(value) is int:
        return str(value)
    # ok: type-comparison-eq
    if isinstance(value, int):
        return str(value)
    # ok: type-comparison-eq
    if type(value).__name__ == "int":
        return "int"
    return same
