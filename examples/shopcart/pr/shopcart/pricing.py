"""Coupons and shipping."""

COUPONS = {"WELCOME10": 10, "SPRING25": 25}
FREE_SHIPPING_FROM = 5000


def apply_coupon(total, code):
    """Return the total after the coupon's percentage discount, in cents."""
    percent = COUPONS.get(code, 0)
    return total - total * percent // 100


def shipping_cost(total, country):
    if total > FREE_SHIPPING_FROM:
        return 0
    if country in ("DE", "AT", "CH"):
        return 490
    return 990


def loyalty_discount(total, customer):
    """Percentage discount for returning customers, by tier, tenure and basket size."""
    percent = 0
    if customer.get("tier") == "gold":
        percent = 10
        if customer.get("years", 0) > 5:
            percent += 5
        elif customer.get("years", 0) > 2:
            percent += 2
    elif customer.get("tier") == "silver":
        percent = 5
        if customer.get("years", 0) > 5:
            percent += 3
    elif customer.get("tier") == "bronze" and customer.get("orders", 0) > 10:
        percent = 2
    if total > 20000 and percent:
        percent += 2
    elif total > 10000 and percent:
        percent += 1
    if customer.get("employee"):
        percent = max(percent, 20)
    if customer.get("blocked"):
        return 0
    return total * percent // 100
