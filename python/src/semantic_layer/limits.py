"""Every bound on what the payload accepts, in one place, each value with the reason for it.

Users point ktx at whatever project they find, so every input has a bound. Going over one is
a refusal (``LimitError``, a ``RejectedError``: exit 3, HTTP 400) in one line naming the input
and the limit, never a crash, a hang or gigabytes of memory. The values are generous for real
projects: KTX's demo has 4 sources, the tour fixture 8, KTX's real demo about 35, and a very
large semantic layer a few thousand. What the size limits buy was measured with sqlglot 30 on
CPython 3.11, one core of a 2-CPU VM: a source costs 0.2 ms (its table name is parsed), a plain
column 17 us, a SQL snippet 0.2-0.3 ms, a character of SQL 4-11 us. A model at every model
limit at once (``tests/bigmodel.py``'s ``at_caps``: 2,000 sources, 50,000 columns, 10,000
measures, 11,999 snippets, 2.5 MB of JSON) answers its first one-shot query in 4.5 s and
140 MB; 500,000 characters of SQL in sql sources take 3.4 s. The daemon builds a model once
and answers later queries from its cache. Before these limits, 700,000 columns took 57 s and
1.9 GB; they are now refused in 0.75 s.

Model (the wire ``sources``), counted before anything is parsed; going over one is the
model's one error (``ktx sl validate`` lists it, a query is refused with it):

- ``MAX_SOURCES`` 2,000: more than the modelled tables of most warehouses (a semantic layer
  covers the curated tables, not every staging table).
- ``MAX_COLUMNS_PER_SOURCE`` 2,000: the widest real tables (CRM objects, event tables) have a
  few hundred to a thousand columns.
- ``MAX_MEASURES_PER_SOURCE`` 1,000: generated sources have two measures per numeric column.
- ``MAX_COLUMNS`` 50,000 and ``MAX_MEASURES`` 10,000 in the whole model: 2,000 sources of 25
  columns and 5 measures.
- ``MAX_SNIPPETS`` 12,000 SQL snippets in the whole model (column exprs, measure exprs and
  filters, segments, join conditions, sql sources): each is parsed, 0.2-0.3 ms; the measures
  at their limit plus one join per source.
- ``MAX_SNIPPET_CHARS`` 100,000 characters in one snippet (a sql source of 2,000 lines, about
  1 s to parse and check) and ``MAX_SQL_CHARS`` 500,000 in the whole model (3.4 s).
- ``MAX_DEPTH`` 256 levels of nesting: in one snippet (parentheses, brackets, CASE ... END,
  counted on the tokens before the recursive parser runs), in a measure once the measures,
  filter and segments it uses are inlined, and in measures built on measures. Real SQL rarely
  nests 20 levels; the deepest real pattern, a value mapping written as nested IF or CASE,
  nests one level per value.

- ``MAX_MEASURE_NODES`` 10,000 SQL syntax-tree nodes in one measure once the measures,
  columns, filter and segments it uses are inlined (a measure is compiled as one expression).
  Inlining copies: a chain of 400 measures each adding 32 sums to the one before (144 KB of
  JSON) held 7.5 million nodes, took 43 s and 1.2 GB. Real derived measures hold tens to a few
  hundred nodes; a CASE of 500 branches about 3,000. The count stops at the limit, so a
  refusal costs at most the limit's worth of copying (3 us a node, about 30 ms).
- ``MAX_MODEL_MEASURE_NODES`` 200,000 such nodes over all the measures of the model (the
  model at every count limit holds about 60,000; building 200,000 takes about 1.5 s). Going over
  it stops the build: the model's one error, of no source, and nothing is kept.

Query (KTX's SemanticQuery): ``MAX_QUERY_MEASURES`` 200, ``MAX_QUERY_DIMENSIONS`` 50,
``MAX_QUERY_FILTERS`` 100, ``MAX_QUERY_SEGMENTS`` 100, ``MAX_QUERY_ORDER_BY`` 250 (one per
output column); ``MAX_QUERY_MEASURE_SOURCES`` 50 sources owning the measures and
``MAX_QUERY_MEASURE_NODES`` 100,000 syntax-tree nodes in the query's measures once inlined
(with the query's segments applied: each measure at most ``MAX_MEASURE_NODES``; ad-hoc
measures are counted as they are analysed) and
``MAX_QUERY_JOINS`` 1,000 joins in the compiled SQL (every measure source is joined along its
path to the dimensions' and filters' sources). A dashboard asks for a handful of each; the
SQL's size grows with measure sources times dimensions and with joins, and a query at these
limits compiles in about 2 s (50 measure sources by 50 dimensions with 100 filters), where 200
sources by 100 dimensions took 13 s and 200 paths of 1,000 joins 60 s. ``MAX_LIMIT`` is
2**53 - 1, the largest integer KTX's TypeScript client holds exactly (a JavaScript number);
SQLite, Postgres, BigQuery and T-SQL take up to 2**63 - 1 (SQLite answers "datatype
mismatch" above it), DuckDB up to 2**62.

Other ops: ``MAX_REQUEST_BYTES`` 64 MiB of JSON per request (the Rust CLI reads project files
of at most 4 MiB each; a model at the limits is 2.5 MB); ``MAX_SQL_TEXT_CHARS`` 1,000,000
characters for ``sql-table-identifiers``; ``MAX_TABLE_ITEMS`` 10,000 names for
``sql-parse-table-identifier``; generate-sources takes the model's source and column limits
(and ``MAX_SNIPPETS`` links): what the model would refuse is not generated. ``MAX_BULK_TEXTS``
100 texts per ``embedding-compute-bulk`` is KTX's protocol (a request of another shape is
malformed, exit 1 / 422, as in KTX).

Process: ``RECURSION_LIMIT`` 20,000 Python frames. Parsing takes about 25 frames per level of
nesting (6,500 at ``MAX_DEPTH``), writing SQL up to 13, a measure built on a measure 5 (5,000
for the 1,000 measures of a source). ``THREAD_STACK_BYTES`` 64 MiB of stack for the threads ops
run in: CPython 3.9 and 3.10 spend up to about 1 KiB of C stack per frame (12 KiB per level of
nested calls), 3.11+ far less, and a main thread has 1-8 MB. Both transports set both. A
RecursionError that still happens (unbracketed chains such as ``NOT NOT ...`` the count does
not see, or a CPython whose own C recursion limit is lower, as 3.12.1) is a refusal
naming ``MAX_DEPTH``, and an OverflowError a refusal too, never an internal error.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Dict, List, Optional

from .errors import RejectedError

MAX_SOURCES = 2_000
MAX_COLUMNS_PER_SOURCE = 2_000
MAX_MEASURES_PER_SOURCE = 1_000
MAX_COLUMNS = 50_000
MAX_MEASURES = 10_000
MAX_SNIPPETS = 12_000
MAX_SNIPPET_CHARS = 100_000
MAX_SQL_CHARS = 500_000
MAX_DEPTH = 256
MAX_MEASURE_NODES = 10_000
MAX_MODEL_MEASURE_NODES = 200_000

MAX_QUERY_MEASURES = 200
MAX_QUERY_DIMENSIONS = 50
MAX_QUERY_FILTERS = 100
MAX_QUERY_SEGMENTS = 100
MAX_QUERY_ORDER_BY = 250
MAX_QUERY_MEASURE_SOURCES = 50
MAX_QUERY_JOINS = 1_000
MAX_QUERY_MEASURE_NODES = 100_000
MAX_LIMIT = 2**53 - 1

MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_SQL_TEXT_CHARS = 1_000_000
MAX_TABLE_ITEMS = 10_000
MAX_BULK_TEXTS = 100

RECURSION_LIMIT = 20_000
THREAD_STACK_BYTES = 64 * 1024 * 1024


class LimitError(RejectedError):
    """An input over one of this module's limits (a refusal: exit 3, HTTP 400)."""


class SnippetLimit(ValueError):
    """A SQL snippet over a limit; ``describe`` names it. A ValueError, like a parse error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def describe(self, what: str, text: str) -> str:
        return f"{what} '{clip(text)}' {self.reason}"


class NodeLimit(ValueError):
    """A count of syntax-tree nodes went over its limit (``NodeBudget.charge``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} SQL syntax nodes")
        self.limit = limit


class NodeBudget:
    """Counts the syntax-tree nodes a build copies, before it copies them; ``NodeLimit`` once
    the count goes over ``limit``, so the work done before a refusal stays bounded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def charge(self, nodes: int) -> None:
        self.used += nodes
        if self.used > self.limit:
            raise NodeLimit(self.limit)


def too_long(text: str, limit: int = MAX_SNIPPET_CHARS) -> Optional[SnippetLimit]:
    """The refusal of a snippet longer than ``limit`` characters; None when it is not."""
    if len(text) > limit:
        return SnippetLimit(f"is {len(text):,} characters long; the limit is {limit:,}")
    return None


def too_deep(depth: Optional[int]) -> SnippetLimit:
    """The refusal of a snippet nesting ``depth`` levels (None: too deep for the parser)."""
    if depth is None:
        return SnippetLimit(f"nests too deeply to parse; the limit is {MAX_DEPTH} levels")
    return SnippetLimit(f"nests {depth:,} levels deep; the limit is {MAX_DEPTH}")


def clip(text: Any, width: int = 60) -> str:
    """A long input shortened for a message: its first characters and ' ...' (a short one as is)."""
    text = str(text)
    if len(text) <= width:
        return text
    return " ".join(text[: 2 * width].split())[: width - 4].rstrip() + " ..."


def clip_number(value: int) -> str:
    """A number for a message; a very long one as its first digits and its length."""
    text = str(value)
    return text if len(text) <= 30 else f"{text[:12]}... ({len(text)} digits)"


def check_count(count: int, limit: int, what: str, where: str = "") -> None:
    """LimitError ``<where> has <count> <what>; the limit is <limit>`` when count > limit."""
    if count > limit:
        subject = where or "the request"
        raise LimitError(f"{subject} has {count:,} {what}; the limit is {limit:,}")


# --------------------------------------------------------------------------- the model's size


def _objects(value: Any) -> List[Dict[str, Any]]:
    """The objects of a list (anything else is the model builder's shape error, not ours)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _sql(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value.strip() else None


def model_size_error(sources: Any, snippets: bool = True) -> Optional[str]:
    """The first size limit the wire sources go over, as one line; None when within all.

    Cheap (counts, no parsing), so that an oversized model is refused before any work; with
    ``snippets`` false only the counts of sources, columns and measures (a few microseconds,
    for a model the cache may already hold).
    """
    if not isinstance(sources, list):
        return None
    if len(sources) > MAX_SOURCES:
        return f"the model has {len(sources):,} sources; the limit is {MAX_SOURCES:,}"
    columns = measures = 0
    raw = [s for s in sources if isinstance(s, dict)]
    for s in raw:
        label = f"source '{clip(s.get('name'), 40)}'"
        ncols = len(s["columns"]) if isinstance(s.get("columns"), list) else 0
        nmeas = len(s["measures"]) if isinstance(s.get("measures"), list) else 0
        if ncols > MAX_COLUMNS_PER_SOURCE:
            return f"{label} has {ncols:,} columns; the limit is {MAX_COLUMNS_PER_SOURCE:,} per source"
        if nmeas > MAX_MEASURES_PER_SOURCE:
            return f"{label} has {nmeas:,} measures; the limit is {MAX_MEASURES_PER_SOURCE:,} per source"
        columns += ncols
        measures += nmeas
    if columns > MAX_COLUMNS:
        return f"the model has {columns:,} columns; the limit is {MAX_COLUMNS:,}"
    if measures > MAX_MEASURES:
        return f"the model has {measures:,} measures; the limit is {MAX_MEASURES:,}"
    if not snippets:
        return None
    count = chars = 0
    for s in raw:
        label = f"source '{clip(s.get('name'), 40)}'"
        texts: List[Optional[str]] = [_sql(s.get("sql"))]
        texts.extend(_sql(c.get("expr")) for c in _objects(s.get("columns")))
        for m in _objects(s.get("measures")):
            texts.append(_sql(m.get("expr")))
            texts.append(_sql(m.get("filter")))
        texts.extend(_sql(g.get("expr")) for g in _objects(s.get("segments")))
        texts.extend(_sql(j.get("on")) for j in _objects(s.get("joins")))
        for text in texts:
            if text is None:
                continue
            count += 1
            chars += len(text)
            if len(text) > MAX_SNIPPET_CHARS:
                return (
                    f"{label} has a SQL snippet of {len(text):,} characters ('{clip(text)}'); "
                    f"the limit is {MAX_SNIPPET_CHARS:,}"
                )
    if count > MAX_SNIPPETS:
        return (
            f"the model has {count:,} SQL snippets (column exprs, measure exprs and filters, segments, "
            f"join conditions, sql sources); the limit is {MAX_SNIPPETS:,}"
        )
    if chars > MAX_SQL_CHARS:
        return f"the model has {chars:,} characters of SQL; the limit is {MAX_SQL_CHARS:,}"
    return None


# --------------------------------------------------------------------------- the process


def ensure_recursion_limit() -> None:
    """Raise Python's recursion limit to ``RECURSION_LIMIT`` (never lower it)."""
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)


def use_big_thread_stacks() -> None:
    """Threads started from now on get ``THREAD_STACK_BYTES`` of stack (where settable)."""
    try:
        threading.stack_size(THREAD_STACK_BYTES)
    except (ValueError, RuntimeError):  # pragma: no cover - platform without settable stacks
        pass
