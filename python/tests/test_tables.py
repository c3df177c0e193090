from __future__ import annotations

from conftest import run_op


def tables(sql, dialect=None):
    res = run_op("sql-table-identifiers", {"sql": sql, "dialect": dialect})
    assert res.code == 0, res
    return res.json["tables"]


def test_catalog_schema_table():
    assert tables("SELECT * FROM analytics.public.orders", "snowflake") == [
        {"catalog": "analytics", "schema": "public", "table": "orders", "qualified": "analytics.public.orders"}
    ]


def test_ctes_excluded_joins_subqueries_deduplicated():
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


def test_bigquery_and_tsql_quoting():
    got = tables("SELECT * FROM `my-proj.ds.tbl` a JOIN `my-proj`.ds.other b USING (id)", "bigquery")
    assert [t["qualified"] for t in got] == ["my-proj.ds.tbl", "my-proj.ds.other"]
    assert got[0]["catalog"] == "my-proj" and got[0]["schema"] == "ds"
    got = tables("SELECT TOP 5 * FROM [db].[dbo].[Orders] o JOIN dbo.Customers c ON c.id = o.cid", "tsql")
    assert [t["qualified"] for t in got] == ["db.dbo.Orders", "dbo.Customers"]


def test_default_dialect_and_errors():
    assert [t["table"] for t in tables("select a from t1, t2")] == ["t1", "t2"]
    res = run_op("sql-table-identifiers", {"sql": "SELECT FROM WHERE (", "dialect": "postgres"})
    assert res.code == 3 and "cannot parse SQL" in res.json["error"]["message"]
    res = run_op("sql-table-identifiers", {"sql": "select 1", "dialect": "klingon"})
    assert res.code == 3 and "klingon" in res.stderr
    res = run_op("sql-table-identifiers", {"sql": 5})
    assert res.code == 1
