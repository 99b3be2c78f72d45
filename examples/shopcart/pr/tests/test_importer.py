from shopcart.importer import load_cart, summary, unique_skus


def test_load_cart(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("sku,price,quantity\napple,120,2\npear,200,1\n")
    cart = load_cart(str(path))
    assert cart.total() == 440


def test_unique_skus_keeps_order():
    rows = [{"sku": "b"}, {"sku": "a"}, {"sku": "b"}]
    assert unique_skus(rows) == ["b", "a"]


def test_summary(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("sku,price,quantity\napple,120,2\n")
    assert summary(load_cart(str(path))) == "apple x2\n"
