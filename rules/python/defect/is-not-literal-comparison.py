def check(mode, retries, flags):
    # ruleid: is-not-literal-comparison
    if mode is not "fast":
        return 1
    # ruleid: is-not-literal-comparison
    if retries is not 0 and flags is not []:
        return 2
    # ok: is-not-literal-comparison
    if mode is not None:
        return 3
    # ok: is-not-literal-comparison
    if mode != "fast" and mode is "slow":
        return 4
    return 0
