def kind(token):
    if token.isdigit():
        return "number"
    elif token.isidentifier():
        return "name"
    else:
        # ruleid: assert-false
        assert False, f"unexpected token {token!r}"


def state_name(state):
    match state:
        case 0:
            return "idle"
        case 1:
            return "busy"
    # ruleid: assert-false
    assert False


def dispatch(op):
    if op == "+":
        return 1
    # ruleid: assert-false
    assert False, (
        "unknown operator"
    )


def checks(x):
    # ok: assert-false
    assert x, "x must be set"
    # ok: assert-false
    raise AssertionError("unreachable")


def test_kind():
    # ok: assert-false
    assert False, "not written yet"

