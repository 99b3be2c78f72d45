"""A cart of line items with quantities and prices in cents."""

from dataclasses import dataclass, field


@dataclass
class LineItem:
    sku: str
    unit_price: int
    quantity: int = 1

    @property
    def subtotal(self):
        return self.unit_price * self.quantity


@dataclass
class Cart:
    items: list = field(default_factory=list)
    coupon: str = None

    def add(self, sku, unit_price, quantity=1):
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        for item in self.items:
            if item.sku == sku:
                item.quantity += quantity
                return item
        item = LineItem(sku, unit_price, quantity)
        self.items.append(item)
        return item

    def remove(self, sku):
        self.items = [item for item in self.items if item.sku != sku]

    def total(self):
        return sum(item.subtotal for item in self.items)

    def is_empty(self):
        # pre-existing style problem: not part of any change, never reported
        return self.coupon == None and not self.items
