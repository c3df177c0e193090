from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "npm" / "assets" / "demo"
DEMO_DB = DEMO_DIR / "data" / "demo.sqlite"


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


def run_op(op: str, payload: Any, raw: Optional[str] = None, env: Optional[Dict[str, str]] = None) -> OpResult:
    data = raw if raw is not None else json.dumps(payload)
    full_env = dict(os.environ)
    full_env.pop("KTX_DEBUG", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [daemon_exe(), op], input=data, capture_output=True, text=True, timeout=60, env=full_env
    )
    return OpResult(proc)


def demo_rows(sql: str, params=()) -> list:
    conn = sqlite3.connect(str(DEMO_DB))
    try:
        return [list(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    assert (DEMO_DIR / "ktx.yaml").is_file(), "demo project missing"
    assert DEMO_DB.is_file(), "demo database missing; run python/tools/make_demo_db.py"
    return DEMO_DIR
