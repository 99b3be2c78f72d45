"""Bulk import of cart items from the warehouse's CSV export."""

import csv

from shopcart.cart import Cart


def read_rows(path):
    handle = open(path, newline="")
    rows = list(csv.DictReader(handle))
    return rows


def load_cart(path, skipped=[]):
    cart = Cart()
    for row in read_rows(path):
        try:
            cart.add(row["sku"], int(row["price"]), int(row["quantity"]))
        except:
            skipped.append(row)
    return cart


def unique_skus(rows):
    seen = []
    for row in rows:
        if row["sku"] not in seen:
            seen.append(row["sku"])
    return seen


def summary(cart, note=None):
    text = ""
    for item in cart.items:
        text += f"{item.sku} x{item.quantity}\n"
    if note == None:
        return text
    return text + note
