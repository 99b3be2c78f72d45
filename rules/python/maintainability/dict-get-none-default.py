import os


def settings(config, overrides):
    # ruleid: dict-get-none-default
    token = os.environ.get("API_TOKEN", None)
    # ruleid: dict-get-none-default
    timeout = config.get("timeout", None) or overrides.get(
        "timeout",
        None,
    )
    # ok: dict-get-none-default
    retries = config.get("retries", 3)
    # ok: dict-get-none-default
    mode = config.get("mode")
    # ok: dict-get-none-default
    proxy = getattr(config, "proxy", None)
    return token, timeout, retries, mode, proxy


def resolve(names, table):
    lookup = table.get  # the bound method stored in a local
    # ruleid: dict-get-none-default
    found = [lookup(name, None) for name in names]
    # ok: dict-get-none-default
    defaults = [lookup(name, 0) for name in names]
    return found, defaults
