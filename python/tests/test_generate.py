from __future__ import annotations

import sqlite3

import yaml

from conftest import DEMO_DB, demo_rows, run_op


def demo_schema() -> dict:
    conn = sqlite3.connect(str(DEMO_DB))
    try:
        tables = []
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for name in names:
            cols = conn.execute(f"PRAGMA table_info({name})").fetchall()
            fks = conn.execute(f"PRAGMA foreign_key_list({name})").fetchall()
            tables.append(
                {
                    "name": name,
                    "columns": [{"name": c[1], "type": c[2].lower()} for c in cols],
                    "primary_key": next(c[1] for c in cols if c[5] == 1),
                    "foreign_keys": [
                        {"column": fk[3], "references": {"table": fk[2], "column": fk[4]}} for fk in fks
                    ],
                }
            )
        return {"tables": tables}
    finally:
        conn.close()


def test_generate_shapes():
    res = run_op("semantic-generate-sources", {"schema": demo_schema()})
    assert res.code == 0, res
    sources = res.json["sources"]
    assert sorted(sources) == ["customers", "order_items", "orders", "products"]
    orders = yaml.safe_load(sources["orders"])
    assert orders["name"] == "orders" and orders["primary_key"] == "order_id"
    dims = {d["name"]: d["type"] for d in orders["dimensions"]}
    assert dims == {"order_id": "number", "customer_id": "number", "status": "string", "ordered_at": "string"}
    measures = {m["name"]: (m["agg"], m.get("expr")) for m in orders["measures"]}
    assert measures == {"order_count": ("count", None), "total_amount": ("sum", "amount")}
    assert orders["joins"] == [
        {"to": "customers", "relationship": "many_to_one", "on": {"customer_id": "customer_id"}}
    ]


def test_generate_round_trip_validates_and_queries(tmp_path):
    res = run_op("semantic-generate-sources", {"schema": demo_schema()})
    (tmp_path / "sources").mkdir()
    (tmp_path / "ktx.yaml").write_text(
        yaml.safe_dump({"name": "gen", "dialect": "sqlite", "connection": {"type": "sqlite", "path": str(DEMO_DB)}})
    )
    for name, text in res.json["sources"].items():
        (tmp_path / "sources" / f"{name}.yaml").write_text(text)
    val = run_op("semantic-validate", {"project_dir": str(tmp_path)})
    assert val.code == 0, val
    q = run_op(
        "semantic-query",
        {
            "project_dir": str(tmp_path),
            "query": {
                "measures": ["orders.total_amount", "order_items.total_quantity"],
                "dimensions": ["products.category"],
                "order_by": [{"field": "products.category"}],
            },
            "execute": True,
        },
    )
    assert q.code == 0, q
    expected = demo_rows(
        "SELECT p.category, SUM(oi.quantity) FROM order_items oi JOIN products p USING (product_id) "
        "GROUP BY p.category ORDER BY p.category"
    )
    assert [[r[0], r[2]] for r in q.json["rows"]] == expected


def test_generate_types_schema_names_and_types():
    schema = {
        "tables": [
            {
                "name": "events",
                "schema": "raw",
                "columns": [
                    {"name": "id", "type": "bigint"},
                    {"name": "Happened At", "type": "timestamp with time zone"},
                    {"name": "is_test", "type": "boolean"},
                    {"name": "price", "type": "numeric(10,2)"},
                ],
                "primary_key": "id",
                "foreign_keys": [{"column": "user_id", "references": {"table": "users", "column": "id"}}],
            }
        ]
    }
    res = run_op("semantic-generate-sources", {"schema": schema})
    assert res.code == 0, res
    src = yaml.safe_load(res.json["sources"]["events"])
    assert src["table"] == "raw.events"
    dims = {d["name"]: d for d in src["dimensions"]}
    assert dims["happened_at"] == {"name": "happened_at", "expr": '"Happened At"', "type": "time"}
    assert dims["is_test"]["type"] == "boolean"
    assert {"name": "total_price", "agg": "sum", "expr": "price"} in src["measures"]
    assert "joins" not in src  # users is not part of the description
    bad = run_op("semantic-generate-sources", {"schema": {"tables": "nope"}})
    assert bad.code == 1
