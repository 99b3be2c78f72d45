"""Shopping cart and pricing rules."""

from shopcart.cart import Cart, LineItem
from shopcart.pricing import apply_coupon, shipping_cost

__all__ = ["Cart", "LineItem", "apply_coupon", "shipping_cost"]
