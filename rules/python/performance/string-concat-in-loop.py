def render(rows, sep):
    out = ""
    for row in rows:
        # ruleid: string-concat-in-loop
        out += ",".join(row) + "\n"
    html = f"<ul>"
    i = 0
    while i < len(rows):
        # ruleid: string-concat-in-loop
        html = html + "<li>" + str(rows[i]) + "</li>"
        i += 1
    return out + html


def fine(rows):
    # ok: string-concat-in-loop
    out = "".join(",".join(r) + "\n" for r in rows)
    total = 0
    for r in rows:
        # ok: string-concat-in-loop
        total += len(r)
    header = "rows: "
    # ok: string-concat-in-loop
    header += str(len(rows))
    return out, header, total


def numbers(values):
    parts = []
    for v in values:
        # ok: string-concat-in-loop
        parts += [str(v)]
    return "".join(parts)
