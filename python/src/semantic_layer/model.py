"""The semantic model: a project directory with ktx.yaml and one YAML file per source."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .errors import RejectedError

AGGREGATIONS = ("count", "count_distinct", "sum", "avg", "min", "max")
DIMENSION_TYPES = ("string", "number", "time", "boolean")
RELATIONSHIPS = ("many_to_one", "one_to_one", "one_to_many")
INVERSE_RELATIONSHIP = {
    "many_to_one": "one_to_many",
    "one_to_many": "many_to_one",
    "one_to_one": "one_to_one",
}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PROJECT_FILE = "ktx.yaml"


@dataclass
class Dimension:
    name: str
    expr: str
    type: str = "string"
    description: Optional[str] = None


@dataclass
class Measure:
    name: str
    agg: str
    expr: Optional[str] = None
    description: Optional[str] = None


@dataclass
class Join:
    to: str
    relationship: str
    on: List[Tuple[str, str]]  # (this source's column, the other source's column)


@dataclass
class Source:
    name: str
    table: str
    file: str  # path relative to the project dir, for messages
    primary_key: List[str] = field(default_factory=list)
    description: Optional[str] = None
    dimensions: Dict[str, Dimension] = field(default_factory=dict)
    measures: Dict[str, Measure] = field(default_factory=dict)
    joins: List[Join] = field(default_factory=list)

    def field_kind(self, name: str) -> Optional[str]:
        if name in self.dimensions:
            return "dimension"
        if name in self.measures:
            return "measure"
        return None


@dataclass
class Project:
    dir: str
    name: str
    dialect: str
    connection: Dict[str, Any]
    sources: Dict[str, Source]

    def source(self, name: str) -> Source:
        try:
            return self.sources[name]
        except KeyError:
            raise RejectedError(
                f"unknown source '{name}'; known sources: {_names(self.sources)}"
            ) from None


def _names(items) -> str:
    names = list(items)
    return ", ".join(names) if names else "(none)"


def _yaml_load(path: str, rel: str, errors: List[str]) -> Any:
    import yaml

    try:
        with open(path, "r", encoding="utf-8") as fh:
            # libyaml's loader when PyYAML has it (its wheels do): several times faster.
            return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        errors.append(f"{rel}: invalid YAML{where}: {problem}")
    except OSError as exc:
        errors.append(f"{rel}: cannot read: {exc.strerror or exc}")
    return None


def _opt_str(value: Any, what: str, rel: str, errors: List[str]) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        errors.append(f"{rel}: {what} must be a string")
        return None
    return str(value)


def _check_keys(data: Dict[str, Any], allowed: Tuple[str, ...], what: str, rel: str, errors: List[str]) -> None:
    for key in data:
        if key is True and "on" in allowed:  # YAML 1.1 reads a bare `on` key as True
            continue
        if key not in allowed:
            errors.append(f"{rel}: {what}: unknown key '{key}'; allowed: {', '.join(allowed)}")


def _parse_source(data: Any, rel: str, default_name: str, errors: List[str]) -> Optional[Source]:
    if not isinstance(data, dict):
        errors.append(f"{rel}: a source file must contain a mapping (name, table, dimensions, measures, joins)")
        return None
    _check_keys(
        data,
        ("name", "table", "primary_key", "description", "dimensions", "measures", "joins"),
        "source",
        rel,
        errors,
    )
    name = _opt_str(data.get("name"), "name", rel, errors) or default_name
    if not NAME_RE.match(name):
        errors.append(f"{rel}: source name '{name}' must be an identifier (letters, digits, _)")
    table = _opt_str(data.get("table"), "table", rel, errors) or name
    pk_raw = data.get("primary_key")
    if pk_raw is None:
        primary_key: List[str] = []
    elif isinstance(pk_raw, list) and all(isinstance(k, str) for k in pk_raw):
        primary_key = list(pk_raw)
    elif isinstance(pk_raw, str):
        primary_key = [pk_raw]
    else:
        errors.append(f"{rel}: source '{name}': primary_key must be a column name or a list of column names")
        primary_key = []
    src = Source(
        name=name,
        table=table,
        file=rel,
        primary_key=primary_key,
        description=_opt_str(data.get("description"), "description", rel, errors),
    )

    seen: Dict[str, str] = {}

    def list_of_mappings(key: str) -> List[Dict[str, Any]]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            errors.append(f"{rel}: source '{name}': {key} must be a list of mappings")
            return []
        return value

    for item in list_of_mappings("dimensions"):
        _check_keys(item, ("name", "expr", "type", "description"), "dimension", rel, errors)
        dname = _opt_str(item.get("name"), "dimension name", rel, errors)
        if not dname:
            errors.append(f"{rel}: source '{name}': a dimension has no name")
            continue
        where = f"{rel}: dimension '{name}.{dname}'"
        if not NAME_RE.match(dname):
            errors.append(f"{where}: name must be an identifier (letters, digits, _)")
        dtype = _opt_str(item.get("type"), "type", rel, errors) or "string"
        if dtype not in DIMENSION_TYPES:
            errors.append(f"{where}: unknown type '{dtype}'; known types: {', '.join(DIMENSION_TYPES)}")
        if dname in seen:
            if seen[dname] == "dimension":
                errors.append(f"{where}: duplicate dimension name")
            else:
                errors.append(f"{where}: name clashes with measure '{name}.{dname}'")
            continue
        seen[dname] = "dimension"
        expr = _opt_str(item.get("expr"), "expr", rel, errors) or dname
        src.dimensions[dname] = Dimension(dname, expr, dtype, _opt_str(item.get("description"), "description", rel, errors))

    for item in list_of_mappings("measures"):
        _check_keys(item, ("name", "agg", "expr", "description"), "measure", rel, errors)
        mname = _opt_str(item.get("name"), "measure name", rel, errors)
        if not mname:
            errors.append(f"{rel}: source '{name}': a measure has no name")
            continue
        where = f"{rel}: measure '{name}.{mname}'"
        if not NAME_RE.match(mname):
            errors.append(f"{where}: name must be an identifier (letters, digits, _)")
        agg = _opt_str(item.get("agg"), "agg", rel, errors)
        if agg is None:
            errors.append(f"{where}: missing agg; known aggs: {', '.join(AGGREGATIONS)}")
        elif agg not in AGGREGATIONS:
            errors.append(f"{where}: unknown agg '{agg}'; known aggs: {', '.join(AGGREGATIONS)}")
        expr = _opt_str(item.get("expr"), "expr", rel, errors)
        if expr is None and agg is not None and agg != "count":
            errors.append(f"{where}: agg '{agg}' needs an expr")
        if mname in seen:
            if seen[mname] == "measure":
                errors.append(f"{where}: duplicate measure name")
            else:
                errors.append(f"{where}: name clashes with dimension '{name}.{mname}'")
            continue
        seen[mname] = "measure"
        src.measures[mname] = Measure(mname, agg or "count", expr, _opt_str(item.get("description"), "description", rel, errors))

    for item in list_of_mappings("joins"):
        _check_keys(item, ("to", "relationship", "on"), "join", rel, errors)
        to = _opt_str(item.get("to"), "join target", rel, errors)
        if not to:
            errors.append(f"{rel}: source '{name}': a join has no 'to'")
            continue
        where = f"{rel}: join '{name}' -> '{to}'"
        rel_kind = _opt_str(item.get("relationship"), "relationship", rel, errors) or "many_to_one"
        if rel_kind not in RELATIONSHIPS:
            errors.append(f"{where}: unknown relationship '{rel_kind}'; known: {', '.join(RELATIONSHIPS)}")
            continue
        on = item.get("on")
        pairs: List[Tuple[str, str]] = []
        # PyYAML reads a bare `on:` key as the boolean True (YAML 1.1); accept both spellings.
        if on is None and True in item:
            on = item.get(True)
        if isinstance(on, dict) and on and all(isinstance(k, str) and isinstance(v, str) for k, v in on.items()):
            pairs = list(on.items())
        else:
            errors.append(f"{where}: 'on' must be a non-empty mapping of this source's column to {to}'s column")
            continue
        src.joins.append(Join(to, rel_kind, pairs))
    return src


_CACHE: Dict[Any, Project] = {}
_CACHE_SIZE = 8


def _fingerprint(project_dir: str) -> Optional[Tuple[Any, ...]]:
    """Name, size and mtime of every YAML file of a project (the daemon's cache key)."""
    entries = []
    try:
        for root, dirs, files in os.walk(project_dir):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for f in sorted(files):
                if f.endswith((".yaml", ".yml")):
                    st = os.stat(os.path.join(root, f))
                    entries.append((os.path.join(root, f), st.st_size, st.st_mtime_ns))
    except OSError:
        return None
    return tuple(entries)


def load_project(project_dir: str, check_expressions: bool = True) -> Project:
    """Load and validate a project; raise RejectedError listing every problem.

    A long-lived process (the HTTP daemon) reuses a project it loaded before as long as none
    of its YAML files changed (same names, sizes and modification times).
    """
    key = None
    if isinstance(project_dir, str) and os.path.isdir(project_dir):
        fp = _fingerprint(project_dir)
        if fp is not None:
            key = (os.path.abspath(project_dir), check_expressions, fp)
            cached = _CACHE.get(key)
            if cached is not None:
                return cached
    project, errors = load_project_collect(project_dir, check_expressions=check_expressions)
    if errors:
        raise RejectedError("invalid semantic model: " + "; ".join(errors))
    if key is not None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = project
    return project


def load_project_collect(project_dir: str, check_expressions: bool = True) -> Tuple[Project, List[str]]:
    errors: List[str] = []
    if not isinstance(project_dir, str) or not project_dir:
        raise RejectedError("project_dir is empty")
    if not os.path.isdir(project_dir):
        raise RejectedError(f"project directory not found: {project_dir}")
    config_path = os.path.join(project_dir, PROJECT_FILE)
    if not os.path.isfile(config_path):
        raise RejectedError(f"no {PROJECT_FILE} in project directory {project_dir}")
    config = _yaml_load(config_path, PROJECT_FILE, errors)
    if config is None and not errors:
        config = {}
    if not isinstance(config, dict):
        if not errors:
            errors.append(f"{PROJECT_FILE}: must contain a mapping (name, dialect, connection, sources_dir)")
        config = {}
    _check_keys(config, ("name", "dialect", "connection", "sources_dir", "description"), "project", PROJECT_FILE, errors)
    connection = config.get("connection") or {}
    if not isinstance(connection, dict):
        errors.append(f"{PROJECT_FILE}: connection must be a mapping (type, path)")
        connection = {}
    dialect = _opt_str(config.get("dialect"), "dialect", PROJECT_FILE, errors)
    if not dialect:
        dialect = "sqlite" if connection.get("type") == "sqlite" else "postgres"
    name = _opt_str(config.get("name"), "name", PROJECT_FILE, errors) or os.path.basename(os.path.abspath(project_dir))
    sources_dir = _opt_str(config.get("sources_dir"), "sources_dir", PROJECT_FILE, errors) or "sources"

    project = Project(dir=project_dir, name=name, dialect=dialect.lower(), connection=connection, sources={})
    src_dir = os.path.join(project_dir, sources_dir)
    if not os.path.isdir(src_dir):
        errors.append(f"{PROJECT_FILE}: sources directory '{sources_dir}' not found")
        return project, errors
    files = sorted(f for f in os.listdir(src_dir) if f.endswith((".yaml", ".yml")))
    for fname in files:
        rel = f"{sources_dir}/{fname}"
        data = _yaml_load(os.path.join(src_dir, fname), rel, errors)
        if data is None:
            if not any(e.startswith(rel + ":") for e in errors):
                errors.append(f"{rel}: empty source file")
            continue
        src = _parse_source(data, rel, os.path.splitext(fname)[0], errors)
        if src is None:
            continue
        if src.name in project.sources:
            errors.append(
                f"{rel}: duplicate source name '{src.name}' (already defined in {project.sources[src.name].file})"
            )
            continue
        project.sources[src.name] = src
    if not project.sources and not errors:
        errors.append(f"{sources_dir}/: no source files (*.yaml)")

    for src in project.sources.values():
        for j in src.joins:
            if j.to not in project.sources:
                errors.append(
                    f"{src.file}: join '{src.name}' -> '{j.to}': unknown source '{j.to}'; "
                    f"known sources: {_names(project.sources)}"
                )
            elif j.to == src.name:
                errors.append(f"{src.file}: join '{src.name}' -> '{j.to}': a source cannot join itself")

    if check_expressions:
        from . import expressions

        errors.extend(expressions.check_project(project))
    return project, errors
