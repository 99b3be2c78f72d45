def classify(tokens, codes):
    kinds = []
    for tok in tokens:
        # ruleid: membership-in-list-literal-in-loop
        if tok.lower() in {"if", "else", "elif", "while", "for"}:
            kinds.append("keyword")
        # ruleid: membership-in-list-literal-in-loop
        elif tok not in {'+', '-', '*', '/'}:
            kinds.append("name")
    # ruleid: membership-in-list-literal-in-loop
    errors = [c for c in codes if (c in {500, 502, 503, 504})]
    # ok: membership-in-list-literal-in-loop
    if tokens[0] in ["if", "else", "elif", "while"]:
        kinds.append("first")
    for tok in tokens:
        # ok: membership-in-list-literal-in-loop
        if tok in ["a", "b"]:
            kinds.append("short")
        # ok: membership-in-list-literal-in-loop
        if tok in [codes[0], codes[1], codes[2], codes[3]]:
            kinds.append("dynamic")
        # ok: membership-in-list-literal-in-loop
        if tok in {"if", "else", "elif", "while"}:
            kinds.append("set")
    return kinds, errors
