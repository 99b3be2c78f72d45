def check(items, limit):
    # ruleid: assert-on-tuple
    assert (len(items) <= limit, "too many items")
    for item in items:
        # ruleid: assert-on-tuple
        assert (item is not None, f"missing item in {items!r}")
    # ruleid: assert-on-tuple
    assert (
        limit > 0,
        "limit must be positive",
    )
    # ok: assert-on-tuple
    assert len(items) <= limit, "too many items"
    # ok: assert-on-tuple
    assert (len(items) <= limit), "too many items"
    # ok: assert-on-tuple
    assert items == (1, 2)
