"""Coupons and shipping."""

COUPONS = {"WELCOME10": 10, "SPRING25": 25}
FREE_SHIPPING_FROM = 5000


def apply_coupon(total, code):
    """Return the total after the coupon's percentage discount, in cents."""
    percent = COUPONS.get(code, 0)
    return total - total * percent // 100


def shipping_cost(total, country):
    if total >= FREE_SHIPPING_FROM:
        return 0
    if country in ("DE", "AT", "CH"):
        return 490
    return 990
