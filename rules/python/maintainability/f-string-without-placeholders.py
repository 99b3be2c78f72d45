import logging

log = logging.getLogger(__name__)


def wrapped(name, count):
    return (
        # ok: f-string-without-placeholders
        f"could not load {name}: "
        # ok: f-string-without-placeholders
        f"the file is empty. "
        # ok: f-string-without-placeholders
        f"Tried {count} times."
    )


def report(user, count):
    # ruleid: f-string-without-placeholders
    log.info(f"user logged in")
    # ruleid: f-string-without-placeholders
    title = f'Report' + f" for {user}"
    # ruleid: f-string-without-placeholders
    header = F'Report' + f" for {user}"
    # ruleid: f-string-without-placeholders
    path = rf"C:\data" if count else "."
    # parts of an implicit concatenation are left alone
    # ok: f-string-without-placeholders
    msg = f"total: " f"{count}" f" items"
    # ok: f-string-without-placeholders
    greeting = f"hello {user}"
    # ok: f-string-without-placeholders
    braces = f"{{literal braces}}"
    # ok: f-string-without-placeholders
    plain = "no prefix"
    # ok: f-string-without-placeholders
    text = f"""
    multi-line template
    """
    return title, header, path, msg, greeting, braces, plain, text


def escapes():
    # ruleid: f-string-without-placeholders
    quoted = f"say \"hi\"\n"
    # ruleid: f-string-without-placeholders
    dash = f"\u2014"
    return quoted, dash

