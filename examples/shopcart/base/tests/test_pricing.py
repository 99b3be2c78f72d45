from shopcart import apply_coupon, shipping_cost


def test_coupon_discount():
    assert apply_coupon(10000, "WELCOME10") == 9000


def test_unknown_coupon():
    assert apply_coupon(10000, "NOPE") == 10000


def test_free_shipping_threshold():
    assert shipping_cost(5000, "FR") == 0
    assert shipping_cost(4999, "FR") == 990
    assert shipping_cost(100, "DE") == 490
