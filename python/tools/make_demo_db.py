#!/usr/bin/env python3
"""Generate the KTX demo SQLite database (deterministic: fixed seed, no current time).

Usage: python python/tools/make_demo_db.py [--out PATH]
Default output: npm/assets/demo/data/demo.sqlite (relative to the repository root).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO_ROOT / "npm" / "assets" / "demo" / "data" / "demo.sqlite"

SEED = 42
N_CUSTOMERS = 300
N_ORDERS = 1500
BASE_DATE = dt.datetime(2024, 1, 1)

COUNTRIES = [("US", 30), ("GB", 14), ("DE", 14), ("FR", 12), ("CA", 10), ("JP", 8), ("BR", 6), ("AU", 6)]
SEGMENTS = [("consumer", 55), ("small_business", 30), ("enterprise", 15)]
STATUSES = [("completed", 62), ("shipped", 16), ("processing", 8), ("cancelled", 9), ("returned", 5)]
FIRST = ["Ada", "Ben", "Chloe", "Dev", "Elena", "Felix", "Grace", "Hiro", "Ines", "Jonas", "Kira", "Liam",
         "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wes", "Yara", "Zoe"]
LAST = ["Adams", "Brown", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Kim",
        "Lopez", "Muller", "Nakamura", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka", "Weber"]
CATEGORIES = {
    "Books": (["Atlas", "Cookbook", "Novel", "Field Guide", "Poetry Collection", "Biography", "Travel Guide"], (8, 45)),
    "Electronics": (["Headphones", "Keyboard", "Webcam", "Charger", "Speaker", "Mouse", "Monitor Arm"], (15, 220)),
    "Home": (["Mug", "Lamp", "Throw Blanket", "Vase", "Candle", "Cutting Board", "Plant Pot"], (6, 90)),
    "Outdoors": (["Tent", "Water Bottle", "Headlamp", "Backpack", "Camp Stove", "Trekking Poles"], (12, 260)),
    "Toys": (["Puzzle", "Kite", "Board Game", "Building Set", "Plush Bear", "Yo-yo"], (5, 70)),
    "Beauty": (["Soap Bar", "Face Cream", "Shampoo", "Lip Balm", "Perfume", "Hand Lotion", "Bath Salts"], (4, 80)),
}

SCHEMA = """
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    segment TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price REAL NOT NULL
);
CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    status TEXT NOT NULL,
    ordered_at TEXT NOT NULL,
    amount REAL NOT NULL
);
CREATE TABLE order_items (
    order_item_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(order_id),
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL
);
CREATE INDEX orders_customer_id ON orders(customer_id);
CREATE INDEX order_items_order_id ON order_items(order_id);
CREATE INDEX order_items_product_id ON order_items(product_id);
"""


def _weighted(rng: random.Random, pairs):
    values = [v for v, _ in pairs]
    weights = [w for _, w in pairs]
    return rng.choices(values, weights=weights, k=1)[0]


def _ts(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def generate_rows(seed: int = SEED):
    rng = random.Random(seed)

    customers = []
    for cid in range(1, N_CUSTOMERS + 1):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        created = BASE_DATE - dt.timedelta(days=rng.randint(0, 720), seconds=rng.randint(0, 86399))
        customers.append((cid, name, _weighted(rng, COUNTRIES), _weighted(rng, SEGMENTS), _ts(created)))

    products = []
    pid = 0
    for category in sorted(CATEGORIES):
        names, (lo, hi) = CATEGORIES[category]
        for pname in names:
            pid += 1
            price = round(rng.uniform(lo, hi), 2)
            products.append((pid, pname, category, price))

    orders = []
    items = []
    item_id = 0
    for oid in range(1, N_ORDERS + 1):
        customer = customers[rng.randrange(len(customers))]
        created = dt.datetime.strptime(customer[4], "%Y-%m-%d %H:%M:%S")
        ordered = max(created, BASE_DATE) + dt.timedelta(days=rng.randint(0, 500), seconds=rng.randint(0, 86399))
        n_items = rng.choices([1, 2, 3, 4, 5], weights=[15, 25, 25, 20, 15], k=1)[0]
        total = 0.0
        for _ in range(n_items):
            item_id += 1
            product = products[rng.randrange(len(products))]
            quantity = rng.choices([1, 2, 3, 4], weights=[60, 25, 10, 5], k=1)[0]
            discount = rng.choice([1.0, 1.0, 1.0, 0.9, 0.8])
            unit_price = round(product[3] * discount, 2)
            total += quantity * unit_price
            items.append((item_id, oid, product[0], quantity, unit_price))
        orders.append((oid, customer[0], _weighted(rng, STATUSES), _ts(ordered), round(total, 2)))
    return {"customers": customers, "products": products, "orders": orders, "order_items": items}


def write_db(out: Path, seed: int = SEED) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = generate_rows(seed)
    fd, tmp = tempfile.mkstemp(prefix=".demo-", suffix=".sqlite.tmp", dir=str(out.parent))
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript(SCHEMA)
            for table in ("customers", "products", "orders", "order_items"):
                width = len(rows[table][0])
                conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})", rows[table])
            conn.commit()
            conn.execute("VACUUM")
        finally:
            conn.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = write_db(args.out, args.seed)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
