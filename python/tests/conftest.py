"""Test helpers: the real ktx-daemon console script, the demo's wire sources, the demo database."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "npm" / "assets" / "demo"
DEMO_SOURCES_DIR = DEMO_DIR / "semantic-layer" / "warehouse"
DEMO_DB = DEMO_DIR / "data" / "demo.sqlite"
FIXTURES = REPO / "fixtures" / "ktx-protocol"


def daemon_exe() -> str:
    exe_name = "ktx-daemon.exe" if os.name == "nt" else "ktx-daemon"
    beside = Path(sys.executable).parent / exe_name
    if beside.exists():
        return str(beside)
    found = shutil.which("ktx-daemon")
    if not found:
        pytest.fail("ktx-daemon console script not found; pip install -e './python[test]' first")
    return found


class OpResult:
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        self.json: Optional[Dict[str, Any]] = json.loads(lines[0]) if len(lines) == 1 else None

    def __repr__(self) -> str:
        return f"OpResult(code={self.code}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def run_op(
    op: str,
    payload: Any,
    raw: Optional[str] = None,
    env: Optional[Dict[str, str]] = None,
    argv: Optional[List[str]] = None,
) -> OpResult:
    """Run ``ktx-daemon <op>`` (or ``argv``) with the payload as JSON on stdin."""
    data = raw if raw is not None else json.dumps(payload)
    full_env = dict(os.environ)
    full_env.pop("KTX_DEBUG", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        argv or [daemon_exe(), op], input=data, capture_output=True, text=True, timeout=60, env=full_env
    )
    return OpResult(proc)


def demo_sources() -> List[Dict[str, Any]]:
    """The demo's sources as wire dicts: each standalone YAML file as it is (the CLI's job)."""
    out = []
    for path in sorted(DEMO_SOURCES_DIR.glob("*.yaml")):
        with open(path, encoding="utf-8") as fh:
            out.append(yaml.safe_load(fh))
    assert [s["name"] for s in out] == ["customers", "order_items", "orders", "products"]
    return out


def query_request(query: Dict[str, Any], dialect: str = "sqlite", sources: Optional[list] = None, **extra: Any) -> Dict[str, Any]:
    req = {"sources": demo_sources() if sources is None else sources, "query": query, "dialect": dialect}
    req.update(extra)
    return req


def compile_ok(query: Dict[str, Any], dialect: str = "sqlite", sources: Optional[list] = None, **extra: Any) -> Dict[str, Any]:
    """semantic-query through the console script; asserts exit 0 and KTX's four keys."""
    res = run_op("semantic-query", query_request(query, dialect, sources, **extra))
    assert res.code == 0, res
    assert res.stderr == "", res
    assert set(res.json) == {"sql", "dialect", "columns", "plan"}
    return res.json


def demo_rows(sql: str, params=()) -> list:
    conn = sqlite3.connect(str(DEMO_DB))
    try:
        return [list(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def run_compiled(out: Dict[str, Any]) -> list:
    """Execute the SQL semantic-query returned against the demo database (what the CLI does)."""
    assert out["dialect"] == "sqlite"
    return demo_rows(out["sql"])


def norm(rows, ndims: int):
    """Rows as tuples with rounded floats, sorted by their dimensions (NULLs first)."""
    out = [tuple(round(v, 4) if isinstance(v, float) else v for v in row) for row in rows]
    return sorted(out, key=lambda r: tuple((v is not None, v) for v in r[:ndims]))


def one_line_error(res: OpResult, code: int) -> str:
    """Assert a one-shot failure: the exit code, one stderr line, no traceback; that line."""
    assert res.code == code, res
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("ktx-daemon: error: ")
    assert res.json is not None and set(res.json) == {"error"}
    assert lines[0] == f"ktx-daemon: error: {res.json['error']['message']}"
    return lines[0]


@pytest.fixture(scope="session", autouse=True)
def demo_present() -> None:
    assert DEMO_SOURCES_DIR.is_dir(), "demo semantic layer missing"
    assert DEMO_DB.is_file(), "demo database missing; run python/tools/make_demo_db.py"
