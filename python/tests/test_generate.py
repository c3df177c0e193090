"""semantic-generate-sources: KTX's request (tables, links) to wire sources that validate and query."""

from __future__ import annotations

import sqlite3

import pytest

from conftest import DEMO_DB, compile_ok, demo_rows, run_compiled, run_op


def demo_scan() -> dict:
    """The demo database described the way KTX's scanner sends it."""
    conn = sqlite3.connect(str(DEMO_DB))
    try:
        tables, links = [], []
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for name in names:
            cols = conn.execute(f"PRAGMA table_info({name})").fetchall()
            tables.append(
                {
                    "name": name,
                    "columns": [
                        {"name": c[1], "type": c[2], "primary_key": c[5] == 1, "nullable": c[3] == 0} for c in cols
                    ],
                }
            )
            for fk in conn.execute(f"PRAGMA foreign_key_list({name})").fetchall():
                links.append(
                    {
                        "from_table": name,
                        "from_column": fk[3],
                        "to_table": fk[2],
                        "to_column": fk[4],
                        "relationship_type": "MANY_TO_ONE",
                    }
                )
        return {"tables": tables, "links": links, "dialect": "sqlite"}
    finally:
        conn.close()


def generate(payload):
    res = run_op("semantic-generate-sources", payload)
    assert res.code == 0, res
    assert set(res.json) == {"sources", "source_count"}
    assert res.json["source_count"] == len(res.json["sources"])
    return res.json["sources"]


def test_generated_sources_have_grain_types_joins_on_both_sides_and_measures():
    sources = {s["name"]: s for s in generate(demo_scan())}
    assert sorted(sources) == ["customers", "order_items", "orders", "products"]
    orders = sources["orders"]
    assert orders["table"] == "orders" and orders["grain"] == ["order_id"]
    assert {c["name"]: c["type"] for c in orders["columns"]} == {
        "order_id": "number",
        "customer_id": "number",
        "status": "string",
        "ordered_at": "string",  # TEXT in SQLite
        "amount": "number",
    }
    assert orders["joins"] == [
        {"to": "customers", "on": "customer_id = customers.customer_id", "relationship": "many_to_one"},
        {"to": "order_items", "on": "order_id = order_items.order_id", "relationship": "one_to_many"},
    ]
    assert [(m["name"], m["expr"]) for m in orders["measures"]] == [
        ("record_count", "count(order_id)"),
        ("total_amount", "sum(amount)"),
        ("avg_amount", "avg(amount)"),
    ]
    assert all(v is not None for s in sources.values() for v in s.values())


def test_generated_sources_validate_and_answer_queries():
    sources = generate(demo_scan())
    res = run_op("semantic-validate", {"sources": sources, "dialect": "sqlite"})
    assert res.code == 0 and res.json["valid"] is True, res.json
    out = compile_ok(
        {
            "measures": ["orders.total_amount", "order_items.total_quantity"],
            "dimensions": ["products.category"],
            "order_by": ["products.category"],
        },
        sources=sources,
    )
    expected = demo_rows(
        "SELECT p.category, SUM(oi.quantity) FROM order_items oi JOIN products p USING (product_id) "
        "GROUP BY p.category ORDER BY p.category"
    )
    assert [[r[0], r[2]] for r in run_compiled(out)] == expected


def test_column_types_catalog_db_comments_and_odd_column_names():
    payload = {
        "tables": [
            {
                "name": "events",
                "catalog": "lake",
                "db": "raw",
                "comment": "Raw events.",
                "columns": [
                    {"name": "id", "type": "BIGINT", "primary_key": True},
                    {"name": "Happened At", "type": "timestamp with time zone", "comment": "When."},
                    {"name": "is_test", "type": "boolean"},
                    {"name": "price", "type": "NUMERIC(10,2)"},
                    {"name": "user_id", "type": "int"},
                    {"name": "day", "type": "date"},
                    {"name": "payload", "type": "jsonb"},
                    {"name": "ratio", "type": "double precision"},
                ],
            }
        ],
        "links": [{"from_table": "events", "from_column": "user_id", "to_table": "users", "to_column": "id", "relationship_type": "many_to_one"}],
    }
    [src] = generate(payload)
    assert src["table"] == "lake.raw.events" and src["description"] == "Raw events."
    assert src["joins"] == []  # users is not part of the scan
    cols = {c["name"]: c for c in src["columns"]}
    assert cols["Happened At"] == {"name": "Happened At", "type": "time", "role": "time", "description": "When."}
    assert [cols[n]["type"] for n in ("id", "is_test", "price", "user_id", "day", "payload", "ratio")] == [
        "number", "boolean", "number", "number", "time", "string", "number",
    ]
    assert [m["name"] for m in src["measures"]] == ["record_count", "total_price", "avg_price", "total_ratio", "avg_ratio"]
    res = run_op("semantic-validate", {"sources": [src], "dialect": "postgres"})
    assert res.json["valid"] is True, res.json


def test_a_column_name_that_needs_quotes_is_quoted_in_the_generated_snippets():
    payload = {
        "tables": [
            {"name": "a", "columns": [{"name": "Key Col", "type": "int", "primary_key": True}, {"name": "Net Amount", "type": "float"}]},
            {"name": "b", "columns": [{"name": "id", "type": "int", "primary_key": True}, {"name": "a key", "type": "int"}]},
        ],
        "links": [{"from_table": "b", "from_column": "a key", "to_table": "a", "to_column": "Key Col", "relationship_type": "many_to_one"}],
        "dialect": "bigquery",
    }
    sources = {s["name"]: s for s in generate(payload)}
    assert sources["b"]["joins"][0]["on"] == "`a key` = a.`Key Col`"
    assert sources["a"]["measures"][0] == {"name": "record_count", "expr": "count(`Key Col`)", "description": "Number of a records"}
    assert sources["a"]["measures"][1]["name"] == "total_Net_Amount"
    res = run_op("semantic-validate", {"sources": list(sources.values()), "dialect": "bigquery"})
    assert res.json["valid"] is True, res.json


@pytest.mark.parametrize(
    "payload, code, needle",
    [
        ({"tables": [{"name": "my-table", "columns": [{"name": "a", "type": "int"}]}], "links": []}, 3, "table 'my-table'"),
        ({"tables": [{"name": "t", "columns": []}], "links": []}, 3, "it has no columns"),
        (
            {"tables": [{"name": "t", "db": "x", "columns": [{"name": "a", "type": "int"}]}, {"name": "t", "db": "y", "columns": [{"name": "a", "type": "int"}]}], "links": []},
            3,
            "two sources named 't'",
        ),
        (
            {"tables": [{"name": "t", "columns": [{"name": "a", "type": "int"}]}, {"name": "u", "columns": [{"name": "a", "type": "int"}]}],
             "links": [{"from_table": "t", "from_column": "a", "to_table": "u", "to_column": "a", "relationship_type": "MANY_TO_MANY"}]},
            3,
            "unknown relationship_type 'MANY_TO_MANY'",
        ),
        ({"tables": "nope", "links": []}, 1, "'tables' must be a list"),
        ({"tables": [{"name": "t", "columns": [{"name": "a"}]}], "links": []}, 1, "needs 'type'"),
        ({"schema": {}}, 1, "unknown request key 'schema'"),
    ],
)
def test_what_cannot_be_generated_is_refused_naming_it(payload, code, needle):
    res = run_op("semantic-generate-sources", payload)
    assert res.code == code, res
    assert needle in res.stderr and "Traceback" not in res.stderr
