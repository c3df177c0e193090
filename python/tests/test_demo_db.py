"""The demo database: regenerating it is deterministic, and its shape is what the tests assume."""

from __future__ import annotations

import importlib.util
import sqlite3

from conftest import DEMO_DB, REPO

TABLES = {"customers": "customer_id", "orders": "order_id", "order_items": "order_item_id", "products": "product_id"}


def _load_tool():
    spec = importlib.util.spec_from_file_location("make_demo_db", REPO / "python" / "tools" / "make_demo_db.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dump(path):
    conn = sqlite3.connect(str(path))
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY {pk}").fetchall() for t, pk in TABLES.items()}
    finally:
        conn.close()


def test_regenerating_the_demo_database_gives_the_same_rows(tmp_path):
    tool = _load_tool()
    out = tool.write_db(tmp_path / "demo.sqlite")
    assert _dump(out) == _dump(DEMO_DB)


def test_the_demo_has_300_customers_1500_orders_40_products_and_consistent_amounts():
    data = _dump(DEMO_DB)
    assert len(data["customers"]) == 300 and len(data["orders"]) == 1500 and len(data["products"]) == 40
    assert 3500 < len(data["order_items"]) < 5500
    items = {}
    for _, order_id, _, qty, price in data["order_items"]:
        items[order_id] = items.get(order_id, 0.0) + qty * price
    for order_id, _, _, _, amount in data["orders"]:
        assert abs(amount - round(items[order_id], 2)) < 1e-6
    assert len({c[2] for c in data["customers"]}) >= 5
    assert len({p[2] for p in data["products"]}) >= 5
