"""Generated wire sources of a chosen size, for the limit, timing and cancellation tests.

``sources(n, ...)``: ``n`` sources ``s0``..``s<n-1>`` on tables ``warehouse.t<i>``, each with
an ``id`` grain, ``columns`` columns (every ``expr_every``-th computed with an ``expr``), a
``record_count`` measure plus ``sum``/``avg`` measures (every third filtered when ``filters``), and joins
many_to_one to the ``joins`` previous sources. ``at_caps()`` is a model at the size limits.
"""

from __future__ import annotations

from typing import Any, Dict, List


def source(
    i: int, columns: int = 25, measures: int = 5, joins: int = 1, expr_every: int = 10, filters: bool = True
) -> Dict[str, Any]:
    cols: List[Dict[str, Any]] = [{"name": "id", "type": "number"}, {"name": "parent_id", "type": "number"}]
    for c in range(2, columns):
        col: Dict[str, Any] = {"name": f"c{c}", "type": "number" if c % 2 else "string"}
        if expr_every and c % expr_every == 0:
            col = {"name": f"c{c}", "type": "number", "expr": f"coalesce(c{c - 1}, 0) * 2"}
        cols.append(col)
    numeric = [c["name"] for c in cols[2:] if c["type"] == "number"] or ["id"]
    meas: List[Dict[str, Any]] = [{"name": "record_count", "expr": "count(id)"}]
    for m in range(1, measures):
        column = numeric[m % len(numeric)]
        item: Dict[str, Any] = {"name": f"m{m}", "expr": f"{'sum' if m % 2 else 'avg'}({column})"}
        if filters and m % 3 == 0:
            item["filter"] = f"{column} > {m}"
        meas.append(item)
    js = [
        {"to": f"s{i - j}", "on": f"parent_id = s{i - j}.id", "relationship": "many_to_one"}
        for j in range(1, joins + 1)
        if i - j >= 0
    ]
    return {"name": f"s{i}", "table": f"warehouse.t{i}", "grain": ["id"], "columns": cols, "measures": meas, "joins": js}


def sources(n: int, **kw: Any) -> List[Dict[str, Any]]:
    return [source(i, **kw) for i in range(n)]


def at_caps() -> List[Dict[str, Any]]:
    """A model at the size limits: MAX_SOURCES sources of MAX_COLUMNS columns and MAX_MEASURES
    measures in all, each joined to the previous one (MAX_SNIPPETS SQL snippets, less one)."""
    from semantic_layer import limits

    n = limits.MAX_SOURCES
    return sources(
        n, columns=limits.MAX_COLUMNS // n, measures=limits.MAX_MEASURES // n, joins=1, expr_every=0, filters=False
    )


def wide_chain(n: int = 400, calls: int = 32) -> List[Dict[str, Any]]:
    """One source whose ``n`` measures each add ``calls`` sums to the measure before it (``m<i> =
    m<i-1> + sum(c0) + ...``): 144 KB of JSON at 400 measures, and every measure, once the
    measures it uses are inlined, holds the sums of all before it (quadratic when copied)."""
    cols: List[Dict[str, Any]] = [{"name": "id", "type": "number"}]
    cols += [{"name": f"c{j}", "type": "number"} for j in range(20)]
    sums = " + ".join(f"sum(c{j % 20})" for j in range(calls))
    meas = [{"name": "m0", "expr": sums}]
    meas += [{"name": f"m{i}", "expr": f"m{i - 1} + {sums}"} for i in range(1, n)]
    return [{"name": "s", "table": "warehouse.s", "grain": ["id"], "columns": cols, "measures": meas}]
