def describe(user, session, Order):
    # ruleid: comparison-to-none-ne
    if user.email is not None and user.name is not None:
        return user.email
    # ruleid: comparison-to-none-ne
    while user.parent is not None:
        user = user.parent
    # ok: comparison-to-none-ne
    paid = session.query(Order).filter(Order.paid_at != None).count()
    # ok: comparison-to-none-ne
    if user.email is not None:
        return user.email
    return paid


def first_set(values, frame):
    first = [v for v in values
             # ruleid: comparison-to-none-ne
             if v is not None][0]
    # ok: comparison-to-none-ne
    present = frame[frame["name"] != None]
    return first, present
