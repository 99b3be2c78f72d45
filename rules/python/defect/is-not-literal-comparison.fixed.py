def check(mode, retries, flags):
    # ruleid: is-not-literal-comparison
    if mode != "fast":
        return 1
    # ruleid: is-not-literal-comparison
    if retries != 0 and flags != []:
        return 2
    # ok: is-not-literal-comparison
    if mode is not None:
        return 3
    # ok: is-not-literal-comparison
    if mode != "fast" and mode is "slow":
        return 4
    return 0
