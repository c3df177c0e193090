from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DEMO_DIR, run_op
from semantic_layer.errors import RejectedError
from semantic_layer.model import load_project, load_project_collect
from semantic_layer.planner import compile_query
from semantic_layer.query import parse_query


def make_project(root: Path, sources: dict, config: str = "name: t\ndialect: duckdb\n") -> str:
    (root / "sources").mkdir(parents=True, exist_ok=True)
    (root / "ktx.yaml").write_text(config)
    for fname, text in sources.items():
        (root / "sources" / fname).write_text(text)
    return str(root)


def errors_of(root: Path, sources: dict) -> list:
    _, errors = load_project_collect(make_project(root, sources))
    return errors


def test_demo_validates_via_cli(demo_dir):
    res = run_op("semantic-validate", {"project_dir": str(DEMO_DIR)})
    assert res.code == 0, res
    assert res.json == {
        "valid": True,
        "sources": ["customers", "order_items", "orders", "products"],
        "errors": [],
    }


def test_duplicate_source_names(tmp_path):
    errs = errors_of(
        tmp_path,
        {
            "a.yaml": "name: orders\ntable: t1\nmeasures: [{name: n, agg: count}]\n",
            "b.yaml": "name: orders\ntable: t2\nmeasures: [{name: n, agg: count}]\n",
        },
    )
    assert any("duplicate source name 'orders'" in e and "sources/b.yaml" in e and "sources/a.yaml" in e for e in errs)


def test_duplicate_field_and_dimension_measure_clash(tmp_path):
    errs = errors_of(
        tmp_path,
        {
            "orders.yaml": (
                "name: orders\ntable: orders\n"
                "dimensions: [{name: status}, {name: status}, {name: amount}]\n"
                "measures: [{name: amount, agg: sum, expr: amount}, {name: n, agg: count}, {name: n, agg: count}]\n"
            )
        },
    )
    text = " | ".join(errs)
    assert "sources/orders.yaml: dimension 'orders.status': duplicate dimension name" in text
    assert "sources/orders.yaml: measure 'orders.amount': name clashes with dimension 'orders.amount'" in text
    assert "sources/orders.yaml: measure 'orders.n': duplicate measure name" in text


def test_unknown_join_target_and_agg(tmp_path):
    errs = errors_of(
        tmp_path,
        {
            "orders.yaml": (
                "name: orders\ntable: orders\nmeasures: [{name: revenue, agg: summ, expr: amount}]\n"
                "joins: [{to: custmers, relationship: many_to_one, on: {customer_id: customer_id}}]\n"
            ),
            "customers.yaml": "name: customers\ntable: customers\ndimensions: [{name: country}]\n",
        },
    )
    text = " | ".join(errs)
    assert "sources/orders.yaml: join 'orders' -> 'custmers': unknown source 'custmers'; known sources: customers, orders" in text
    assert "measure 'orders.revenue': unknown agg 'summ'" in text


def test_bad_expressions(tmp_path):
    errs = errors_of(
        tmp_path,
        {
            "orders.yaml": (
                "name: orders\ntable: orders\ndimensions: [{name: d, expr: 'a +* b'}]\n"
                "measures: [{name: m, agg: sum, expr: 'SUM(amount)'}]\n"
            )
        },
    )
    text = " | ".join(errs)
    assert "dimension 'orders.d': cannot parse expr" in text
    assert "measure 'orders.m': expr must be a row-level expression" in text


def test_invalid_model_is_refused_by_cli(tmp_path):
    root = make_project(
        tmp_path,
        {
            "orders.yaml": (
                "name: orders\ntable: orders\ndimensions: [{name: x}]\nmeasures: [{name: x, agg: count}]\n"
                "joins: [{to: nowhere, on: {a: b}}]\n"
            )
        },
    )
    res = run_op("semantic-validate", {"project_dir": root})
    assert res.code == 3, res
    message = res.json["error"]["message"]
    assert "; " in message and "nowhere" in message and "clashes" in message
    assert len(res.stderr.splitlines()) == 1
    # a query on an invalid model is refused too
    res = run_op("semantic-query", {"project_dir": root, "query": {"measures": ["orders.x"]}})
    assert res.code == 3


def test_yaml_syntax_error_names_the_file(tmp_path):
    errs = errors_of(tmp_path, {"bad.yaml": "name: [unclosed\n"})
    assert any(e.startswith("sources/bad.yaml: invalid YAML") for e in errs)


def test_disconnected_sources_ok_but_query_needing_path_refused(tmp_path):
    root = make_project(
        tmp_path,
        {
            "orders.yaml": "name: orders\ntable: orders\nmeasures: [{name: n, agg: count}]\n",
            "weather.yaml": "name: weather\ntable: weather\ndimensions: [{name: city}]\n",
        },
    )
    project = load_project(root)  # disconnected pieces are fine
    with pytest.raises(RejectedError) as info:
        compile_query(project, parse_query({"measures": ["orders.n"], "dimensions": ["weather.city"]}))
    assert "no join path from 'orders' to 'weather'" in str(info.value)


def test_fan_out_without_primary_key_is_refused(tmp_path):
    root = make_project(
        tmp_path,
        {
            "customers.yaml": "name: customers\ntable: customers\nmeasures: [{name: n, agg: count}]\n",
            "orders.yaml": (
                "name: orders\ntable: orders\ndimensions: [{name: status}]\n"
                "joins: [{to: customers, relationship: many_to_one, on: {customer_id: id}}]\n"
            ),
        },
    )
    project = load_project(root)
    with pytest.raises(RejectedError, match="no primary_key"):
        compile_query(project, parse_query({"measures": ["customers.n"], "dimensions": ["orders.status"]}))


def test_a_project_edited_after_loading_is_loaded_again(tmp_path):
    """The daemon caches loaded projects; an edit to a source must be seen at once."""
    import shutil

    from semantic_layer import model

    proj = tmp_path / "p"
    shutil.copytree(DEMO_DIR, proj)
    first = model.load_project(str(proj))
    assert model.load_project(str(proj)) is first
    src = proj / "sources" / "orders.yaml"
    src.write_text(src.read_text().replace("name: revenue", "name: turnover"))
    second = model.load_project(str(proj))
    assert second is not first
    assert "turnover" in second.sources["orders"].measures
