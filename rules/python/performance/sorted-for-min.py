def pick(candidates, jobs):
    # ruleid: sorted-for-min
    cheapest = sorted(candidates, key=lambda c: c.price)[0]
    # ruleid: sorted-for-min
    first_name = sorted(c.name for c in candidates)[0]
    # ruleid: sorted-for-min
    earliest = sorted(jobs)[0].start + sorted(jobs, key=len)[0].start
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
