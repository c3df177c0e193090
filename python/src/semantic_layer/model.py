"""The semantic model's entry points: ``build_model`` and ``get_model``, the same through a
small LRU cache, so that a long-lived daemon builds a model once.

The layer's model lives in modules by job: ``model_types`` (the frozen types), ``wire`` (the
wire format's vocabulary and the reporter of its problems), ``measures`` (measure analysis),
``joins`` (joins and the join graph) and ``build`` (the wire sources -> ``Model``). The names
callers use are re-exported here. The cache is bounded in slots and in the syntax-tree nodes
its models hold; nothing else outlives a request.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Optional

from . import limits
from .build import _build, _refused, build_model
from .errors import MalformedError
from .measures import RefError, analyse_measure, substitute_columns
from .model_types import AggCall, Column, Edge, Join, Measure, MeasureForm, Model, Segment, Source, known

__all__ = [
    "AggCall", "Column", "Edge", "Join", "Measure", "MeasureForm", "Model", "RefError", "Segment", "Source",
    "analyse_measure", "build_model", "clear_cache", "get_model", "known", "substitute_columns",
]

CACHE_SIZE = 8
# the cached models together hold at most this many syntax-tree nodes in their columns and
# measures (about two models at the size limits, 150-300 MB), however many of the 8 slots that
# takes; the newest model is kept whatever its weight, the ones before it go first
CACHE_WEIGHT = 2 * (3 * limits.MAX_COLUMNS + limits.MAX_MODEL_MEASURE_NODES)
_cache: "OrderedDict[str, Model]" = OrderedDict()
_cache_lock = threading.Lock()


def cache_key(sources: Any, dialect: str) -> Optional[str]:
    try:
        return json.dumps([sources, dialect], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None


def _weight(model: Model) -> int:
    """The syntax-tree nodes a model holds in its columns and measures (what its memory grows with)."""
    return sum(
        sum(c.size for c in s.columns.values()) + sum(m.size for m in s.measures.values())
        for s in model.sources.values()
    ) + 1


def get_model(sources: Any, dialect: str) -> Model:
    """``build_model`` through a small LRU keyed by the canonical JSON of (sources, dialect)."""
    too_big = limits.model_size_error(sources, snippets=False)
    if too_big is not None:  # refused before the key (a JSON dump of the whole input) is made
        return _refused(dialect, too_big)
    if not isinstance(sources, list):
        raise MalformedError("'sources' must be a list of source objects")
    key = cache_key(sources, dialect)
    if key is not None:
        with _cache_lock:
            model = _cache.get(key)
            if model is not None:
                _cache.move_to_end(key)
                return model
    too_big = limits.model_size_error(sources)
    if too_big is not None:  # not cached: the check costs less than the key
        return _refused(dialect, too_big)
    model = _build(sources, dialect)
    if key is not None:
        with _cache_lock:
            _cache[key] = model
            _cache.move_to_end(key)
            total = sum(_weight(m) for m in _cache.values())
            while len(_cache) > 1 and (len(_cache) > CACHE_SIZE or total > CACHE_WEIGHT):
                total -= _weight(_cache.popitem(last=False)[1])
    return model


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
