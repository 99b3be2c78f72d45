def describe(status, code, payload, name):
    # ruleid: is-literal-comparison
    if status is "ok":
        return 1
    # ruleid: is-literal-comparison
    if code is 404 or code is -1:
        return 2
    # ruleid: is-literal-comparison
    while payload.get("kind") is b"raw":
        payload = payload["next"]
    # ruleid: is-literal-comparison
    empty = payload is {}
    # ok: is-literal-comparison
    if status is None or status is True or payload is ...:
        return 3
    # ok: is-literal-comparison
    if status == "ok":
        return 4
    # ok: is-literal-comparison
    if status is not "ok":
        return 5
    # ok: is-literal-comparison
    if name is SENTINEL:
        return 6
    return empty


SENTINEL = object()
