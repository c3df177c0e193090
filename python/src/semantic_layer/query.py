"""The query (KTX's SemanticQuery), checked for shape from a plain JSON object (no sqlglot).

Shape errors (wrong types, unknown keys) raise MalformedError; a query over the size limits
of ``semantic_layer.limits`` (items per list, the range of ``limit``) raises LimitError; the
meaning of the references is the planner's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

from . import limits
from .errors import MalformedError, RejectedError

QUERY_KEYS = ("measures", "dimensions", "filters", "segments", "order_by", "limit", "include_empty")
DEFAULT_LIMIT = 1000  # KTX's default


@dataclass(frozen=True)
class AdHocMeasure:
    expr: str
    name: Optional[str] = None


@dataclass(frozen=True)
class DimensionSpec:
    field: str
    granularity: Optional[str] = None


@dataclass(frozen=True)
class OrderSpec:
    field: str
    descending: bool = False

    @property
    def direction(self) -> str:
        return "desc" if self.descending else "asc"


@dataclass(frozen=True)
class Query:
    measures: Tuple[Union[str, AdHocMeasure], ...]
    dimensions: Tuple[DimensionSpec, ...] = ()
    filters: Tuple[str, ...] = ()
    segments: Tuple[str, ...] = ()
    order_by: Tuple[OrderSpec, ...] = ()
    limit: Optional[int] = DEFAULT_LIMIT
    include_empty: bool = True


_MAX_ITEMS = {
    "measures": limits.MAX_QUERY_MEASURES,
    "dimensions": limits.MAX_QUERY_DIMENSIONS,
    "filters": limits.MAX_QUERY_FILTERS,
    "segments": limits.MAX_QUERY_SEGMENTS,
    "order_by": limits.MAX_QUERY_ORDER_BY,
}


def _list(data: Dict[str, Any], key: str) -> List[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedError(f"query.{key} must be a list")
    limits.check_count(len(value), _MAX_ITEMS[key], "order_by items" if key == "order_by" else key, "the query")
    return value


def _strings(data: Dict[str, Any], key: str) -> Tuple[str, ...]:
    items = _list(data, key)
    if not all(isinstance(v, str) for v in items):
        raise MalformedError(f"query.{key} must be a list of strings")
    return tuple(items)


def _check_keys(item: Dict[str, Any], allowed: Tuple[str, ...], what: str) -> None:
    for key in item:
        if key not in allowed:
            raise MalformedError(f"unknown key '{key}' in {what}; allowed: {', '.join(allowed)}")


def _measure(item: Any) -> Union[str, AdHocMeasure]:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        _check_keys(item, ("name", "expr"), "a query measure")
        expr, name = item.get("expr"), item.get("name")
        if not isinstance(expr, str) or not expr.strip():
            raise MalformedError('a query measure object needs "expr" (a string), e.g. {"name": "n", "expr": "count(orders.order_id)"}')
        if name is not None and not isinstance(name, str):
            raise MalformedError("a query measure's name must be a string")
        return AdHocMeasure(expr=expr, name=name or None)
    raise MalformedError('query.measures items must be strings or {"name", "expr"} objects')


def _dimension(item: Any) -> DimensionSpec:
    if isinstance(item, str):
        return DimensionSpec(item)
    if isinstance(item, dict):
        _check_keys(item, ("field", "granularity"), "a query dimension")
        field, gran = item.get("field"), item.get("granularity")
        if not isinstance(field, str):
            raise MalformedError('a query dimension object needs "field" (a string)')
        if gran is not None and not isinstance(gran, str):
            raise MalformedError("a query dimension's granularity must be a string")
        return DimensionSpec(field, gran.lower() if gran else None)
    raise MalformedError('query.dimensions items must be strings or {"field", "granularity"} objects')


def _order(item: Any) -> OrderSpec:
    if isinstance(item, str):
        name, sep, direction = item.rpartition(":")
        if not sep or direction.strip().lower() not in ("asc", "desc"):
            name, direction = item, "asc"
        item = {"field": name.strip(), "direction": direction.strip()}
    if not isinstance(item, dict) or not isinstance(item.get("field"), str):
        raise MalformedError('query.order_by items must be "field", "field:desc" or {"field", "direction"}')
    _check_keys(item, ("field", "direction"), "a query order_by item")
    direction = item.get("direction") or "asc"
    if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
        raise MalformedError(f"order_by direction must be 'asc' or 'desc', got {direction!r}")
    return OrderSpec(item["field"], direction.lower() == "desc")


def parse_query(data: Any) -> Query:
    if not isinstance(data, dict):
        raise MalformedError("'query' must be an object")
    _check_keys(data, QUERY_KEYS, "the query")
    limit = data.get("limit", DEFAULT_LIMIT)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise MalformedError("query.limit must be an integer")
    if limit is not None and limit < 0:
        raise RejectedError(f"limit must be >= 0, got {limits.clip_number(limit)}")
    if limit is not None and limit > limits.MAX_LIMIT:
        raise limits.LimitError(
            f"limit {limits.clip_number(limit)} is too large; the limit is {limits.MAX_LIMIT:,} (2**53 - 1)"
        )
    include_empty = data.get("include_empty", True)
    if include_empty is None:
        include_empty = True
    if not isinstance(include_empty, bool):
        raise MalformedError("query.include_empty must be a boolean")
    return Query(
        measures=tuple(_measure(m) for m in _list(data, "measures")),
        dimensions=tuple(_dimension(d) for d in _list(data, "dimensions")),
        filters=_strings(data, "filters"),
        segments=_strings(data, "segments"),
        order_by=tuple(_order(o) for o in _list(data, "order_by")),
        limit=limit,
        include_empty=include_empty,
    )
