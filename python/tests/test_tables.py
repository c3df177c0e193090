"""sql-table-identifiers (the tables a SQL text reads) and sql-parse-table-identifier (KTX's batch)."""

from __future__ import annotations

import pytest

from conftest import run_op


def tables(sql, dialect=None):
    res = run_op("sql-table-identifiers", {"sql": sql, "dialect": dialect})
    assert res.code == 0, res
    return res.json["tables"]


def test_a_three_part_name_gives_catalog_schema_and_table():
    assert tables("SELECT * FROM analytics.public.orders", "snowflake") == [
        {"catalog": "analytics", "schema": "public", "table": "orders", "qualified": "analytics.public.orders"}
    ]


def test_cte_names_are_excluded_and_tables_listed_once_in_order_of_appearance():
    sql = """
    WITH recent AS (SELECT * FROM raw.events WHERE ts > 1),
         users AS (SELECT * FROM dim.users)
    SELECT r.*, u.name
    FROM recent r
    JOIN users u ON u.id = r.user_id
    LEFT JOIN sales.orders o ON o.user_id = u.id
    WHERE o.id IN (SELECT order_id FROM sales.refunds)
      AND EXISTS (SELECT 1 FROM raw.events e2 WHERE e2.id = r.id)
    """
    got = tables(sql, "postgres")
    assert [t["qualified"] for t in got] == ["raw.events", "dim.users", "sales.orders", "sales.refunds"]
    assert got[2] == {"catalog": None, "schema": "sales", "table": "orders", "qualified": "sales.orders"}


def test_bigquery_and_tsql_quoted_names_are_unquoted():
    got = tables("SELECT * FROM `my-proj.ds.tbl` a JOIN `my-proj`.ds.other b USING (id)", "bigquery")
    assert [t["qualified"] for t in got] == ["my-proj.ds.tbl", "my-proj.ds.other"]
    assert got[0]["catalog"] == "my-proj" and got[0]["schema"] == "ds"
    got = tables("SELECT TOP 5 * FROM [db].[dbo].[Orders] o JOIN dbo.Customers c ON c.id = o.cid", "tsql")
    assert [t["qualified"] for t in got] == ["db.dbo.Orders", "dbo.Customers"]


def test_no_dialect_works_and_bad_sql_or_dialect_is_refused():
    assert [t["table"] for t in tables("select a from t1, t2")] == ["t1", "t2"]
    res = run_op("sql-table-identifiers", {"sql": "SELECT FROM WHERE (", "dialect": "postgres"})
    assert res.code == 3 and "cannot parse SQL" in res.json["error"]["message"]
    res = run_op("sql-table-identifiers", {"sql": "select 1", "dialect": "klingon"})
    assert res.code == 3 and "klingon" in res.stderr
    res = run_op("sql-table-identifiers", {"sql": 5})
    assert res.code == 1


def parse_ids(*items):
    payload = {"items": [{"key": str(i), "sql_table_name": name, "dialect": dialect} for i, (name, dialect) in enumerate(items)]}
    res = run_op("sql-parse-table-identifier", payload)
    assert res.code == 0, res
    results = res.json["results"]
    assert list(results) == [str(i) for i in range(len(items))]
    for r in results.values():
        assert set(r) == {"ok", "catalog", "schema", "name", "canonical_table", "reason", "detail"}
    return [results[str(i)] for i in range(len(items))]


def test_parse_table_identifier_splits_names_into_catalog_schema_and_name():
    a, b, c, d = parse_ids(
        ("analytics.public.orders", "postgres"),
        ("`my-proj.ds.tbl`", "bigquery"),
        ("[db].[dbo].[Orders]", "tsql"),
        ("orders", "sqlite"),
    )
    assert a == {
        "ok": True,
        "catalog": "analytics",
        "schema": "public",
        "name": "orders",
        "canonical_table": "analytics.public.orders",
        "reason": None,
        "detail": None,
    }
    assert (b["catalog"], b["schema"], b["name"], b["canonical_table"]) == ("my-proj", "ds", "tbl", "my-proj.ds.tbl")
    assert (c["ok"], c["canonical_table"]) == (True, "db.dbo.Orders")
    assert (d["catalog"], d["schema"], d["name"]) == (None, None, "orders")


@pytest.mark.parametrize(
    "name, dialect, reason",
    [
        ("${TABLE}.orders", "postgres", "looker_template_unresolved"),
        ("@{schema}.orders", "postgres", "looker_template_unresolved"),
        ("(SELECT * FROM orders) AS o", "postgres", "derived_table_not_supported"),
        ("SELECT id FROM orders", "postgres", "derived_table_not_supported"),
        ("", "postgres", "no_physical_table"),
        ("unnest(x)", "postgres", "no_physical_table"),
        ("a, b", "postgres", "multiple_table_references"),
        ("a JOIN b ON a.id = b.id", "postgres", "multiple_table_references"),
        ("orders", "klingon", "unsupported_dialect"),
        ("a b c", "postgres", "parse_error"),
        ("a.b.c.d", "postgres", "parse_error"),
        ("orders WHERE 1 = 1", "postgres", "parse_error"),
    ],
)
def test_parse_table_identifier_says_why_a_name_is_not_a_table(name, dialect, reason):
    [r] = parse_ids((name, dialect))
    assert r["ok"] is False and r["reason"] == reason, r
    assert r["name"] is None and r["canonical_table"] is None


@pytest.mark.parametrize(
    "payload, needle",
    [
        ({}, "'items' is required"),
        ({"items": {}}, "'items' must be a list"),
        ({"items": [{"key": "a", "sql_table_name": "t"}]}, "items[0].dialect must be a string"),
        ({"items": [{"key": "a", "sql_table_name": "t", "dialect": "postgres", "x": 1}]}, "unknown key 'x' in items[0]"),
    ],
)
def test_a_malformed_parse_table_identifier_request_exits_1(payload, needle):
    res = run_op("sql-parse-table-identifier", payload)
    assert res.code == 1 and needle in res.stderr
