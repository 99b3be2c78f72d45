import tempfile
from tempfile import mktemp


def scratch(data):
    # ruleid: tempfile-mktemp
    path = tempfile.mktemp(suffix=".json")
    with open(path, "w") as fh:
        fh.write(data)
    # ruleid: tempfile-mktemp
    other = mktemp()
    # ok: tempfile-mktemp
    fd, safe = tempfile.mkstemp(suffix=".json")
    # ok: tempfile-mktemp
    with tempfile.NamedTemporaryFile("w", delete=False) as fh:
        fh.write(data)
    return path, other, fd, safe
