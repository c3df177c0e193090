"""semantic-validate: KTX's report (valid, errors, warnings, per_source_warnings), exit 0 even
when the model is invalid; unknown keys are warnings, never errors."""

from __future__ import annotations

import pytest

from conftest import demo_sources, run_op


def validate(sources, **extra):
    res = run_op("semantic-validate", {"sources": sources, "dialect": "sqlite", **extra})
    assert res.code == 0, res
    assert set(res.json) == {"valid", "errors", "warnings", "per_source_warnings"}
    return res.json


def col(name, type_="string", **kw):
    return {"name": name, "type": type_, **kw}


def src(name, **kw):
    base = {"name": name, "table": name, "grain": ["id"], "columns": [col("id", "number")]}
    base.update(kw)
    return base


def test_the_demo_is_valid_without_warnings():
    assert validate(demo_sources()) == {"valid": True, "errors": [], "warnings": [], "per_source_warnings": {}}


def test_unknown_keys_anywhere_are_warnings_naming_the_source_and_field():
    sources = demo_sources()
    orders = sources[2]
    orders["owner"] = "data team"
    orders["columns"][0]["pii"] = False
    orders["joins"][0]["kind"] = "left"
    orders["measures"][0]["format"] = "0,0"
    orders["segments"] = [{"name": "done", "expr": "status = 'completed'", "color": "green"}]
    out = validate(sources)
    assert out["valid"] is True and out["errors"] == []
    text = " | ".join(out["warnings"])
    assert "source 'orders': unknown key 'owner' (ignored)" in text
    assert "source 'orders': column 'order_id': unknown key 'pii' (ignored)" in text
    assert "source 'orders': join to 'customers': unknown key 'kind' (ignored)" in text
    assert "source 'orders': measure 'order_count': unknown key 'format' (ignored)" in text
    assert "source 'orders': segment 'done': unknown key 'color' (ignored)" in text
    assert out["per_source_warnings"] == {"orders": out["warnings"]}


def test_structural_errors_name_the_source_and_field():
    sources = [
        {"table": "x", "grain": ["id"], "columns": [col("id")]},  # no name
        {"name": "no_table", "grain": ["id"], "columns": [col("id")]},
        {"name": "both", "table": "t", "sql": "select 1 as id", "grain": ["id"], "columns": [col("id")]},
        {"name": "no_grain", "table": "t", "columns": [col("id")]},
        {"name": "no_columns", "table": "t", "grain": ["id"]},
        src("bad_types", columns=[col("id", "integer"), col("at", "time", role="clock", visibility="secret")]),
        src("dup_cols", columns=[col("id", "number"), col("id", "number")]),
        src("dup_measures", measures=[{"name": "n", "expr": "count(*)"}, {"name": "n", "expr": "count(*)"}]),
        src("dup_measures"),
        src("grain_missing", grain=["nope", "x.id"]),
        src("bad_join", joins=[{"to": "nowhere", "on": "id = nowhere.id", "relationship": "many_to_one"}]),
        src("bad_rel", joins=[{"to": "dup_cols", "on": "id = dup_cols.id", "relationship": "many_to_many"}]),
        src("join_cols", joins=[{"to": "dup_cols", "on": "idx = dup_cols.nope", "relationship": "many_to_one"}]),
        src("join_self", joins=[{"to": "join_self", "on": "id = join_self.id", "relationship": "one_to_one"}]),
        src("join_shape", joins=[{"to": "dup_cols", "on": "id > dup_cols.id", "relationship": "one_to_one"}]),
        {"name": "not-an-identifier", "table": "t", "grain": ["id"], "columns": [col("id")]},
        "not an object",
    ]
    out = validate(sources)
    assert out["valid"] is False
    text = " | ".join(out["errors"])
    for needle in [
        "sources[0]: 'name' is required",
        "source 'no_table': one of 'table' or 'sql' is required",
        "source 'both': 'table' and 'sql' are mutually exclusive",
        "source 'no_grain': 'grain' is required",
        "source 'no_columns': 'columns' is required and must not be empty",
        "source 'bad_types': column 'id': unknown type 'integer'; known types: string, number, time, boolean",
        "source 'bad_types': column 'at': unknown role 'clock'",
        "source 'bad_types': column 'at': unknown visibility 'secret'",
        "source 'dup_cols': column 'id': duplicate column name",
        "source 'dup_measures': measure 'n': duplicate measure name",
        "source 'dup_measures': duplicate source name (sources[7] and sources[8])",
        "source 'grain_missing': grain column 'nope' is not among the columns (id)",
        "source 'grain_missing': grain entry 'x.id' must be an unqualified column name",
        "source 'bad_join': join to 'nowhere': unknown source 'nowhere'",
        "source 'bad_rel': join to 'dup_cols': 'relationship' must be one of many_to_one, one_to_many, one_to_one",
        "source 'join_cols': join to 'dup_cols': unknown column 'idx' of join_cols in on 'idx = dup_cols.nope'",
        "source 'join_shape': join to 'dup_cols': cannot use on 'id > dup_cols.id'",
        "source 'not-an-identifier': the name must be an identifier",
        "sources[16]: a source must be an object",
    ]:
        assert needle in text, needle


def test_expression_errors_name_the_source_the_field_and_the_snippet():
    orders = src(
        "orders",
        columns=[
            col("id", "number"),
            col("amount", "number"),
            col("status"),
            col("total", "number", expr="sum(amount)"),
            col("broken", expr="amount +* 2"),
            col("foreign", expr="customers.amount"),
        ],
        measures=[
            {"name": "no_agg", "expr": "amount * 2"},
            {"name": "nested", "expr": "sum(count(amount))"},
            {"name": "unknown_col", "expr": "sum(amout)"},
            {"name": "bad_filter", "expr": "count(*)", "filter": "status = = 1"},
            {"name": "agg_filter", "expr": "count(*)", "filter": "sum(amount) > 1"},
            {"name": "bad_segment", "expr": "count(*)", "segments": ["nope"]},
            {"name": "loop_a", "expr": "loop_b + 1"},
            {"name": "loop_b", "expr": "loop_a + 1"},
            {"name": "literal", "expr": "42"},
            {"name": "window", "expr": "sum(amount) over ()"},
            {"name": "median", "expr": "median(amount)"},
        ],
        segments=[{"name": "big", "expr": "amont > 1"}],
    )
    bad_sql = {"name": "bad_sql", "sql": "selec 1", "grain": ["id"], "columns": [col("id")]}
    not_select = {"name": "not_select", "sql": "delete from t", "grain": ["id"], "columns": [col("id")]}
    out = validate([orders, bad_sql, not_select])
    text = " | ".join(out["errors"])
    for needle in [
        "source 'orders': column 'total': expr 'sum(amount)' must not aggregate",
        "source 'orders': column 'broken': cannot parse expr 'amount +* 2' (sqlite)",
        "source 'orders': column 'foreign': expr 'customers.amount' references 'customers.amount'",
        "source 'orders': measure 'no_agg': column 'amount' is used outside an aggregate (e.g. sum(amount))",
        "source 'orders': measure 'nested': nested aggregate in 'SUM(COUNT(amount))'",
        "source 'orders': measure 'unknown_col': unknown column 'amout'; known columns of orders: id, amount",
        "source 'orders': measure 'bad_filter': cannot parse filter 'status = = 1'",
        "source 'orders': measure 'agg_filter': filter 'sum(amount) > 1' must be a row-level condition",
        "source 'orders': measure 'bad_segment': unknown segment 'nope'; known segments of orders: (none)",
        "source 'orders': measure 'loop_b': circular measure reference loop_a -> loop_b -> loop_a",
        "source 'orders': measure 'loop_a': uses measure 'loop_b', which is invalid",
        "source 'orders': measure 'literal': no aggregate",
        "source 'orders': measure 'window': window functions and FILTER clauses are not supported",
        "source 'orders': measure 'median': unsupported aggregate",
        "source 'orders': segment 'big': unknown column 'amont'",
        "source 'bad_sql': cannot parse sql (sqlite)",
        "source 'not_select': cannot parse sql (sqlite): expected a SELECT statement",
    ]:
        assert needle in text, needle


def test_an_aliased_or_second_join_to_one_target_is_a_warning():
    a = src("a", columns=[col("id", "number"), col("b_id", "number"), col("b2_id", "number")])
    a["joins"] = [
        {"to": "b", "on": "b_id = b.id", "relationship": "many_to_one", "alias": "main_b"},
        {"to": "b", "on": "b2_id = b.id", "relationship": "many_to_one", "alias": "other_b"},
    ]
    out = validate([a, src("b")])
    assert out["valid"] is True
    text = " | ".join(out["warnings"])
    assert "source 'a': join to 'b': alias 'main_b' is not supported; the join is used under the name 'b'" in text
    assert "source 'a': join to 'b': ignored: joins[0] already joins b (aliased joins such as 'other_b' are not supported)" in text


def test_sources_without_joins_between_them_are_a_warning_and_recently_touched_ones_a_per_source_warning():
    out = validate(demo_sources() + [src("weather")], recently_touched=["weather", "orders"])
    assert out["valid"] is True
    assert any("2 groups of sources without joins between them" in w and "[weather]" in w for w in out["warnings"])
    assert list(out["per_source_warnings"]) == ["weather"]
    assert "joins no other source" in out["per_source_warnings"]["weather"][0]


def test_a_measure_named_like_a_column_is_a_warning():
    out = validate([src("t", measures=[{"name": "id", "expr": "count(id)"}])])
    assert out["valid"] is True
    assert "source 't': measure 'id': has the name of a column" in out["warnings"][0]


@pytest.mark.parametrize(
    "payload, needle",
    [
        ({"sources": {}}, "'sources' must be a list"),
        ({}, "'sources' is required"),
        ({"sources": [], "recently_touched": "x"}, "'recently_touched' must be a list of strings"),
        ({"sources": [], "project_dir": "."}, "unknown request key 'project_dir'"),
    ],
)
def test_a_malformed_validate_request_exits_1(payload, needle):
    res = run_op("semantic-validate", payload)
    assert res.code == 1, res
    assert needle in res.stderr


def test_ktx_validate_request_without_dialect_defaults_to_postgres():
    res = run_op("semantic-validate", {"sources": demo_sources(), "recently_touched": None})
    assert res.code == 0 and res.json["valid"] is True
