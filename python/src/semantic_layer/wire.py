"""The wire format of sources: its vocabulary (names, types, roles, keys) and the ``Reporter``
that reads its fields, collecting errors and warnings instead of raising them.

Each message names where it was found (``source 'orders': column 'id': ...``) and is
reported once; an error is filed under the source being built (``Reporter.current``, None for
an error that stops every query).
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from sqlglot import exp

from .expressions import parse_expression
from .limits import SnippetLimit, clip

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
COLUMN_TYPES = ("string", "number", "time", "boolean")
COLUMN_ROLES = ("time", "default")
VISIBILITIES = ("public", "internal", "hidden")
RELATIONSHIPS = ("many_to_one", "one_to_many", "one_to_one")
INVERSE_RELATIONSHIP = {"many_to_one": "one_to_many", "one_to_many": "many_to_one", "one_to_one": "one_to_one"}
AGGREGATES = ("sum", "count", "count_distinct", "avg", "min", "max")
DESCRIPTION_PRIORITY = ("user", "ai", "dbt", "db")

SOURCE_KEYS = (
    "name", "description", "descriptions", "table", "sql", "grain", "columns", "joins", "measures",
    "segments", "default_time_dimension", "tags", "freshness",
)
COLUMN_KEYS = (
    "name", "type", "role", "visibility", "description", "descriptions", "expr", "natural_granularity",
    "constraints", "enum_values", "tests",
)
JOIN_KEYS = ("to", "on", "relationship", "alias", "source")
JOIN_PROVENANCES = ("formal", "inferred", "manual")  # a join's ``source``: KTX's catalogue says how it was found
MEASURE_KEYS = ("name", "expr", "filter", "segments", "description")
SEGMENT_KEYS = ("name", "expr", "description")


def resolve_description(description: Any, descriptions: Any) -> Optional[str]:
    """``description`` if set, else the first of descriptions user, ai, dbt, db, then any other."""
    if isinstance(description, str) and description:
        return description
    if isinstance(descriptions, dict):
        for key in DESCRIPTION_PRIORITY:
            text = descriptions.get(key)
            if isinstance(text, str) and text:
                return text
        for text in descriptions.values():
            if isinstance(text, str) and text:
                return text
    return None


def lookup(columns: Dict[str, Any], name: str, quoted: bool) -> Optional[Any]:
    """The column ``name`` of ``columns``; an unquoted name also matches case-insensitively once."""
    if name in columns:
        return columns[name]
    if not quoted:
        folded = [c for c in columns if c.lower() == name.lower()]
        if len(folded) == 1:
            return columns[folded[0]]
    return None


class Reporter:
    """Reads wire fields and collects what is wrong with them (errors and warnings)."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.errors: List[str] = []
        self.errors_of: Dict[Optional[str], List[str]] = {}
        self.warnings: List[Tuple[Optional[str], str]] = []
        self.current: Optional[str] = None  # the source being built
        self.seen: set = set()  # every error and warning reported so far

    def error(self, where: str, message: str) -> None:
        text = f"{where}: {message}"
        if text in self.seen:  # each problem is reported once
            return
        self.seen.add(text)
        self.errors.append(text)
        self.errors_of.setdefault(self.current, []).append(text)

    def warn(self, source: Optional[str], where: str, message: str) -> None:
        text = f"{where}: {message}"
        if text in self.seen:
            return
        self.seen.add(text)
        self.warnings.append((source, text))

    def unknown_keys(self, data: Dict[str, Any], allowed: Tuple[str, ...], source: Optional[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                self.warn(source, where, f"unknown key '{key}' (ignored); known keys: {', '.join(allowed)}")

    def opt_str(self, data: Dict[str, Any], key: str, where: str) -> Optional[str]:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(where, f"'{key}' must be a string")
            return None
        return value

    def req_str(self, data: Dict[str, Any], key: str, where: str) -> Optional[str]:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            self.error(where, f"'{key}' is required")
            return None
        if not isinstance(value, str):
            self.error(where, f"'{key}' must be a string")
            return None
        return value

    def list_of_objects(self, data: Dict[str, Any], key: str, where: str) -> List[Dict[str, Any]]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.error(where, f"'{key}' must be a list of objects")
            return []
        return value

    def parse(self, text: str, where: str, what: str, allow_count_star: bool = False) -> Optional[exp.Expression]:
        try:
            return parse_expression(text, self.dialect, allow_count_star=allow_count_star)
        except SnippetLimit as exc:
            self.error(where, exc.describe(what, text))
            return None
        except ValueError as exc:
            self.error(where, f"cannot parse {what} '{clip(text, 200)}' ({self.dialect}): {exc}")
            return None
