def pick(candidates, jobs):
    # ruleid: sorted-for-min
    cheapest = min(candidates, key=lambda c: c.price)
    # ruleid: sorted-for-min
    first_name = min(c.name for c in candidates)
    # ruleid: sorted-for-min
    earliest = min(jobs).start + min(jobs, key=len).start
    # ok: sorted-for-min
    latest = sorted(jobs, key=lambda j: j.start, reverse=True)[0]
    # ok: sorted-for-min
    top3 = sorted(candidates, key=lambda c: c.price)[:3]
    # ok: sorted-for-min
    second = sorted(candidates)[1]
    try:
        # ok: sorted-for-min
        head = sorted(jobs)[0]
    except IndexError:
        head = None
    return cheapest, first_name, earliest, latest, top3, second, head
