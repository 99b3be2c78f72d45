def describe(status, code, payload, name):
    # ruleid: is-literal-comparison
    if status == "ok":
        return 1
    # ruleid: is-literal-comparison
    if code == 404 or code == -1:
        return 2
    # ruleid: is-literal-comparison
    while payload.get("kind") == b"raw":
        payload = payload["next"]
    # ruleid: is-literal-comparison
    empty = payload == {}
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
