"""A source's joins, read from the wire, and the join graph the planner walks.

A join's ``on`` must be column equalities joined by AND (``customer_id = customers.id``). As in
KTX, a join of a source to itself and a second join to the same target are kept out of join
paths with a warning naming them (the first join to a target wins), never an error; KTX's
catalogue marks such joins ``source: inferred``, which the warning repeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from sqlglot import exp

from .cancel import checkpoint
from .model_types import Edge, Join, Source, known
from .wire import INVERSE_RELATIONSHIP, JOIN_KEYS, JOIN_PROVENANCES, RELATIONSHIPS, Reporter, lookup

@dataclass(frozen=True)
class JoinEnds:
    """The two sources a join connects, as ``on`` sees them."""

    source: str
    columns: Dict[str, Any]  # the source's columns
    target: str
    target_columns: Dict[str, Any]
    alias: Optional[str]  # another name the target may be qualified with in ``on``


def read_joins(report: Reporter, name: str, raw: Dict[str, Any], where: str, columns: Dict[str, Any], drafts: Dict[str, Dict[str, Any]]) -> List[Join]:
    """The joins of source ``name``: each checked, a self-join and a repeated target left out with a warning."""
    joins: List[Join] = []
    seen_targets: Dict[str, int] = {}
    for i, item in enumerate(report.list_of_objects(raw, "joins", where)):
        checkpoint()
        to = item.get("to")
        if not isinstance(to, str) or not to:
            report.error(where, f"joins[{i}] has no 'to'")
            continue
        jwhere = f"{where}: join to '{to}'"
        report.unknown_keys(item, JOIN_KEYS, name, jwhere)
        relationship = item.get("relationship")
        if relationship not in RELATIONSHIPS:
            report.error(jwhere, f"'relationship' must be one of {', '.join(RELATIONSHIPS)} (got {relationship!r})")
            continue
        on = report.req_str(item, "on", jwhere)
        alias = report.opt_str(item, "alias", jwhere)
        provenance = item.get("source")
        if provenance is not None and provenance not in JOIN_PROVENANCES:
            report.warn(name, jwhere, f"unknown source {provenance!r} (ignored); known: {', '.join(JOIN_PROVENANCES)}")
        marked = " (marked source: inferred)" if provenance == "inferred" else ""
        if to not in drafts:
            report.error(jwhere, f"unknown source '{to}'; known sources: {known(sorted(drafts))}")
            continue
        if to == name:
            # KTX keeps such a join and its paths never use it: a warning, left out of paths
            report.warn(
                name,
                jwhere,
                f"ignored: joins[{i}] joins {name} to itself{marked}; a source cannot join itself "
                "(a self-join needs an alias, which is not supported)",
            )
            continue
        if on is None:
            continue
        ends = JoinEnds(name, columns, to, drafts[to]["columns"], alias)
        pairs = parse_on(report, on, ends, jwhere)
        if pairs is None:
            continue
        if to in seen_targets:
            # KTX takes the first of equal join paths: the later ones are left out
            report.warn(
                name,
                jwhere,
                f"ignored: joins[{seen_targets[to]}] already joins {to}"
                + (f" (aliased joins such as '{alias}' are not supported)" if alias else "")
                + f"; joins[{i}]{marked} is left out of join paths",
            )
            continue
        if alias:
            report.warn(name, jwhere, f"alias '{alias}' is not supported; the join is used under the name '{to}'")
        seen_targets[to] = i
        joins.append(Join(to=to, on=on, relationship=relationship, alias=alias, pairs=tuple(pairs)))
    return joins

def parse_on(report: Reporter, text: str, ends: JoinEnds, where: str) -> Optional[List[Tuple[str, str]]]:
    """The (own column, target column) pairs of a join's ``on``: column equalities joined by AND."""
    name, columns, to, target_columns, alias = ends.source, ends.columns, ends.target, ends.target_columns, ends.alias
    node = report.parse(text, where, "on")
    if node is None:
        return None
    conjuncts: List[exp.Expression] = []
    pending = [node]  # a long AND chain is a deep tree: flattened without recursion
    while pending:
        n = pending.pop().unnest()
        if isinstance(n, exp.And):
            pending.append(n.expression)
            pending.append(n.this)
        else:
            conjuncts.append(n)
    pairs: List[Tuple[str, str]] = []
    target_names = {to} | ({alias} if alias else set())
    for c in conjuncts:
        if not isinstance(c, exp.EQ) or not all(isinstance(s.unnest(), exp.Column) for s in (c.this, c.expression)):
            report.error(
                where,
                f"cannot use on '{text}': it must be column equalities joined by AND "
                f"(e.g. customer_id = {to}.id)",
            )
            return None
        own_side: Optional[str] = None
        target_side: Optional[str] = None
        for side in (c.this.unnest(), c.expression.unnest()):
            qualifier = side.table
            if side.args.get("db") is not None:
                report.error(where, f"bad reference '{side.sql()}' in on '{text}'")
                return None
            if qualifier in target_names and target_side is None:
                found = lookup(target_columns, side.name, bool(side.this.args.get("quoted")))
                if found is None:
                    report.error(
                        where,
                        f"unknown column '{side.name}' of {to} in on '{text}'; "
                        f"known columns of {to}: {known(list(target_columns))}",
                    )
                    return None
                target_side = found.name
            elif qualifier in ("", name) and own_side is None:
                found = lookup(columns, side.name, bool(side.this.args.get("quoted")))
                if found is None:
                    report.error(
                        where,
                        f"unknown column '{side.name}' of {name} in on '{text}'; "
                        f"known columns of {name}: {known(list(columns))}",
                    )
                    return None
                own_side = found.name
            else:
                report.error(
                    where,
                    f"cannot tell the sides of '{c.sql()}' in on '{text}'; qualify the target's column "
                    f"with '{to}.' and leave this source's column bare",
                )
                return None
        if own_side is None or target_side is None:
            report.error(where, f"'{c.sql()}' in on '{text}' must compare a column of {name} with one of {to}")
            return None
        pairs.append((own_side, target_side))
    return pairs

def build_graph(sources: Dict[str, Source]) -> Dict[str, Dict[str, Edge]]:
    """Each source's neighbours: its own joins, and the inverse of the joins pointing at it."""
    graph: Dict[str, Dict[str, Edge]] = {n: {} for n in sources}
    # a source's own declaration wins over the inverse of the other side's
    for name in sources:
        for j in sources[name].joins:
            if j.to in graph:
                graph[name][j.to] = Edge(name, j.to, j.relationship, j.pairs)
    for name in sources:
        for j in sources[name].joins:
            if j.to in graph and name not in graph[j.to]:
                graph[j.to][name] = Edge(
                    j.to, name, INVERSE_RELATIONSHIP[j.relationship], tuple((b, a) for a, b in j.pairs)
                )
    return graph
