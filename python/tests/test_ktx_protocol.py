"""KTX compatibility: the request KTX's TypeScript client builds is accepted, the answer has
KTX's SemanticLayerQueryResponse shape, and the op table is the spec's."""

from __future__ import annotations

import json
import sys
from typing import Any, Dict, List, Literal, Optional

import pytest
from pydantic import BaseModel, ConfigDict

from conftest import FIXTURES, daemon_exe, demo_rows, norm, run_op

REQUEST = FIXTURES / "semantic-query.request.json"

# The keys zod's resolvedSourceSchema lets through (toResolvedWire), in its order.
RESOLVED_SOURCE_KEYS = [
    "name", "descriptions", "table", "sql", "grain", "columns", "joins", "measures", "segments",
    "default_time_dimension", "tags", "freshness",
]
RESOLVED_COLUMN_KEYS = [
    "name", "type", "role", "visibility", "descriptions", "expr", "natural_granularity", "constraints",
    "enum_values", "tests",
]


class ResponseColumn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    provenance: Literal["verified", "composed", "dimension"]
    expr: Optional[str]
    description: Optional[str] = None
    granularity: Optional[str] = None


class SemanticLayerQueryResponse(BaseModel):
    """KTX's response shape, strict: exactly these four keys."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sql: str
    dialect: str
    columns: List[ResponseColumn]
    plan: Dict[str, Any]


def load_request() -> Dict[str, Any]:
    return json.loads(REQUEST.read_text(encoding="utf-8"))


def test_the_fixture_is_shaped_like_ktxs_typescript_client_builds_it():
    req = load_request()
    assert list(req) == ["sources", "dialect", "query", "projectId"]  # runProcessJson's payload
    for source in req["sources"]:
        keys = list(source)
        assert keys == [k for k in RESOLVED_SOURCE_KEYS if k in source]  # zod's output order
        assert {"name", "grain", "columns", "joins", "measures"} <= set(source)  # joins/measures default to []
        assert ("table" in source) != ("sql" in source)
        for column in source["columns"]:
            assert list(column) == [k for k in RESOLVED_COLUMN_KEYS if k in column] and "type" in column
        for join in source["joins"]:
            assert set(join) <= {"to", "on", "relationship", "alias"}  # no `source`
            assert isinstance(join["on"], str)
    query = req["query"]
    assert list(query) == ["measures", "dimensions", "filters", "segments", "order_by", "limit", "include_empty"]
    assert all(isinstance(o, dict) for o in query["order_by"])


@pytest.mark.parametrize("how", ["console script", "python -m ktx_daemon"])
def test_ktx_daemon_accepts_ktxs_request_and_answers_ktxs_response_shape(how):
    argv = [daemon_exe(), "semantic-query"] if how == "console script" else [sys.executable, "-m", "ktx_daemon", "semantic-query"]
    res = run_op("semantic-query", None, raw=REQUEST.read_text(encoding="utf-8"), argv=argv)
    assert res.code == 0, res
    assert res.stderr == ""
    response = SemanticLayerQueryResponse.model_validate(res.json)
    assert response.dialect == "sqlite"
    assert [(c.name, c.provenance) for c in response.columns] == [
        ("customers.country", "dimension"),
        ("orders.ordered_at", "dimension"),
        ("orders.revenue", "verified"),
        ("orders.completed_revenue", "verified"),
        ("customers.customer_count", "verified"),
        ("avg_unit_price", "composed"),
    ]
    assert response.columns[1].granularity == "year"
    plan = response.plan
    for key in (
        "sources_used", "join_paths", "joins", "anchor_source", "anchor_grain", "has_fan_out", "fan_out_description",
        "measure_groups", "where_filters", "having_filters", "order_by", "limit", "include_empty", "output_columns",
    ):
        assert key in plan, key
    assert plan["output_columns"] == [
        "country", "ordered_at_year", "revenue", "completed_revenue", "customer_count", "avg_unit_price",
    ]
    assert plan["order_by"] == [{"field": "orders.revenue", "direction": "desc"}]
    assert plan["limit"] == 20 and plan["include_empty"] is True

    # and the SQL means what the request says
    rows = demo_rows(response.sql)
    revenue = demo_rows(
        "SELECT c.country, strftime('%Y-01-01', o.ordered_at) y, SUM(o.amount) FROM orders o "
        "JOIN customers c USING (customer_id) WHERE c.segment = 'consumer' AND o.status <> 'cancelled' "
        "GROUP BY 1, 2"
    )
    assert norm([r[:3] for r in rows if r[2] is not None], 2) == norm(revenue, 2)


def test_the_op_table_is_the_specs():
    from ktx_daemon.protocol import BY_NAME, BY_ROUTE, OPS

    assert [(op.name, op.route) for op in OPS] == [
        ("semantic-query", "/semantic-layer/query"),
        ("semantic-validate", "/semantic-layer/validate"),
        ("semantic-generate-sources", "/semantic-layer/generate-sources"),
        ("sql-parse-table-identifier", "/sql/parse-table-identifier"),
        ("sql-table-identifiers", "/sql/table-identifiers"),
        ("embedding-compute", "/embeddings/compute"),
        ("embedding-compute-bulk", "/embeddings/compute-bulk"),
    ]
    assert len(BY_NAME) == len(BY_ROUTE) == len(OPS)


def test_the_app_builds_its_routes_from_the_op_table_only():
    from fastapi.routing import APIRoute

    from ktx_daemon.app import create_app
    from ktx_daemon.protocol import OPS

    # /shutdown is the runtime host's (ktx_host), not the payload's.
    app = create_app()
    routes = sorted((r.path, tuple(sorted(r.methods))) for r in app.routes if isinstance(r, APIRoute))
    expected = sorted([(op.route, ("POST",)) for op in OPS] + [("/health", ("GET",))])
    assert routes == expected
