def process(job, flags):
    # ruleid: comparison-to-bool
    if job.done == True:
        return
    # ruleid: comparison-to-bool
    while job.retry and flags.get("enabled") != False:
        job.run()
    # ruleid: comparison-to-bool
    assert job.valid == True, "invalid job"
    if job.kind == "a":
        pass
    # ruleid: comparison-to-bool
    elif False == job.paused:
        pass
    # ok: comparison-to-bool
    if job.done:
        return
    # ok: comparison-to-bool
    if job.done is True:
        return


def queries(session, User, frame):
    # ok: comparison-to-bool
    active = session.query(User).filter(User.active == True).all()
    # ok: comparison-to-bool
    mask = frame[frame["flag"] == False]
    return active, mask
