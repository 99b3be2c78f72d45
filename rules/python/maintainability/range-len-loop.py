def total(prices, names, rows):
    s = 0
    # ruleid: range-len-loop
    for i in range(len(prices)):
        s += prices[i]
    # ruleid: range-len-loop
    for idx in range(len(names)):
        if names[idx].startswith("_"):
            print("private:", names[idx])
    # ok: range-len-loop
    for i in range(len(rows) - 1):
        print(rows[i])
    # ok: range-len-loop
    for i in range(len(rows)):
        print(rows[i], rows[i + 1])
    # ok: range-len-loop
    for i in range(len(rows)):
        print(i)
    # ok: range-len-loop
    for item in prices:
        s += item
    return s
