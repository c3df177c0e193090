"""The query shape, parsed from a plain JSON object (no sqlglot, no pydantic)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple


class MalformedQuery(ValueError):
    """The query object has the wrong shape (not a refusal: a caller bug)."""


QUERY_KEYS = ("measures", "dimensions", "filters", "order_by", "limit")


@dataclass
class OrderBy:
    field: str
    descending: bool = False


@dataclass
class Query:
    measures: List[str]
    dimensions: List[str] = field(default_factory=list)
    filters: List[str] = field(default_factory=list)
    order_by: List[OrderBy] = field(default_factory=list)
    limit: Optional[int] = None


def _str_list(data: dict, key: str) -> List[str]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedQuery(f"query.{key} must be a list of strings")
    return list(value)


def parse_query(data: Any) -> Query:
    if not isinstance(data, dict):
        raise MalformedQuery("query must be a JSON object")
    unknown = [k for k in data if k not in QUERY_KEYS]
    if unknown:
        raise MalformedQuery(f"unknown query key '{unknown[0]}'; allowed: {', '.join(QUERY_KEYS)}")
    order_by: List[OrderBy] = []
    raw_order = data.get("order_by")
    if raw_order is not None:
        if not isinstance(raw_order, list):
            raise MalformedQuery("query.order_by must be a list of {field, direction}")
        for item in raw_order:
            if isinstance(item, str):
                name, _, direction = item.partition(":")
                item = {"field": name, "direction": direction or "asc"}
            if not isinstance(item, dict) or not isinstance(item.get("field"), str):
                raise MalformedQuery("query.order_by items must be {\"field\": str, \"direction\": \"asc\"|\"desc\"}")
            extra = [k for k in item if k not in ("field", "direction")]
            if extra:
                raise MalformedQuery(f"unknown order_by key '{extra[0]}'; allowed: field, direction")
            direction = item.get("direction") or "asc"
            if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
                raise MalformedQuery(f"order_by direction must be 'asc' or 'desc', got {direction!r}")
            order_by.append(OrderBy(item["field"], direction.lower() == "desc"))
    limit = data.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise MalformedQuery("query.limit must be an integer or null")
    return Query(
        measures=_str_list(data, "measures"),
        dimensions=_str_list(data, "dimensions"),
        filters=_str_list(data, "filters"),
        order_by=order_by,
        limit=limit,
    )


def split_ref(ref: str) -> Tuple[str, str]:
    parts = ref.strip().split(".")
    if len(parts) != 2 or not all(parts):
        from .errors import RejectedError

        raise RejectedError(f"bad field reference '{ref}'; use source.field (e.g. orders.revenue)")
    return parts[0], parts[1]
