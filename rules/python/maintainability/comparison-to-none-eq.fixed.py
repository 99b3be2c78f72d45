from sqlalchemy import and_, select


def lookup(cache, key, session, User):
    value = cache.get(key)
    # ruleid: comparison-to-none-eq
    if value is None:
        return None
    # ruleid: comparison-to-none-eq
    missing = [k for k in cache if cache[k] is None]
    # ruleid: comparison-to-none-eq
    both = (value.parent is None) and (value.child is None)
    # ok: comparison-to-none-eq
    active = session.query(User).filter(User.deleted_at == None).all()
    # ok: comparison-to-none-eq
    stmt = select(User).where(and_(User.email == None, User.id > 3))
    # ok: comparison-to-none-eq
    blanks = frame[frame["name"] == None]
    # ok: comparison-to-none-eq
    if value is None:
        return None
    return missing, both, active, stmt, blanks


def first_unset(values):
    # ruleid: comparison-to-none-eq
    return [k for k, v in values.items() if v is None][0]
