import contextlib
import json


def read_config(path):
    # ruleid: open-without-with
    fh = open(path)
    data = fh.read()
    return json.loads(data)


def dump(path, rows):
    # ruleid: open-without-with
    out = open(path, "w", encoding="utf-8")
    for row in rows:
        out.write(row + "\n")


def one_liners(path):
    # ruleid: open-without-with
    text = open(path).read()
    # ruleid: open-without-with
    open(path + ".bak", "w").write(text)
    # ruleid: open-without-with
    return json.load(open(path))


def bound_method(path, lines):
    # ruleid: open-without-with
    write = open(path, "a").write
    for line in lines:
        write(line)
    # ok: open-without-with
    read = open
    return read


def closed_in_finally(path):
    # ok: open-without-with
    fh = open(path)
    try:
        return fh.read()
    finally:
        fh.close()


def managed(path):
    # ok: open-without-with
    with open(path) as fh:
        return fh.read()


def factory(path):
    # ok: open-without-with
    fh = open(path, "rb")
    return fh


def stacked(paths):
    with contextlib.ExitStack() as stack:
        for p in paths:
            # ok: open-without-with
            fh = open(p)
            stack.enter_context(fh)


class Writer:
    def __init__(self, path):
        # ok: open-without-with
        self._fh = open(path, "a")

    def attach(self, path):
        # ok: open-without-with
        fh = open(path)
        self.source = fh


def download(filename, tempfile, data):
    if filename:
        # ok: open-without-with
        tfp = open(filename, "wb")
    else:
        tfp = tempfile.NamedTemporaryFile(delete=False)
    with tfp:
        tfp.write(data)


def version():
    try:
        # ok: open-without-with
        f = open("/etc/os-release", encoding="utf-8")
    except OSError:
        return None
    else:
        try:
            return f.read()
        finally:
            f.close()


class Mailbox:
    def __init__(self, path):
        try:
            # ok: open-without-with
            f = open(path, "rb+")
        except OSError:
            # ok: open-without-with
            f = open(path, "wb+")
        self._file = f


# ruleid: open-without-with
LOG = open("/tmp/app.log", "a")
