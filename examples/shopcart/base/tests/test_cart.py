import pytest

from shopcart import Cart


def test_add_merges_same_sku():
    cart = Cart()
    cart.add("apple", 120, 2)
    cart.add("apple", 120, 3)
    assert len(cart.items) == 1
    assert cart.items[0].quantity == 5


def test_total_sums_subtotals():
    cart = Cart()
    cart.add("apple", 120, 2)
    cart.add("pear", 200)
    assert cart.total() == 440


def test_remove():
    cart = Cart()
    cart.add("apple", 120)
    cart.remove("apple")
    assert cart.is_empty()


def test_rejects_non_positive_quantity():
    with pytest.raises(ValueError):
        Cart().add("apple", 120, 0)
