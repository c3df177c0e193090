"""Test helpers: the real host, started the way ktx starts it (``python -I -m ktx_host serve-http``
with a lock, a state file, a log, a watched directory and the token in the environment), and
interpreters that see a directory of test modules even under ``-I``.

``-I`` keeps the working directory and PYTHONPATH off ``sys.path``, as it must; so a test payload
is made importable the way an install does it: ``python_with(venv, dir)`` makes a venv whose
``.pth`` puts ``dir`` first, then this test venv's packages (the payload, FastAPI, uvicorn, the host).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Dict, Optional

HOST_SRC = Path(__file__).resolve().parents[1] / "src"


def python_with(venv: Path, *directories: Path) -> str:
    """An interpreter (a venv made at ``venv``) whose ``sys.path``, ``-I`` or not, holds
    ``directories`` first, then the packages of the interpreter running the tests."""
    if not venv.exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        scheme = "nt" if os.name == "nt" else "posix_prefix"
        site = Path(sysconfig.get_path("purelib", scheme, vars={"base": str(venv), "platbase": str(venv)}))
        ours = sysconfig.get_paths()["purelib"]
        lines = [str(d) for d in directories] + [f"import site; site.addsitedir({ours!r})"]
        (site / "ktx_test_paths.pth").write_text("\n".join(lines) + "\n")
    return str(venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))


def copy_host(directory: Path, declaration: Optional[Dict] = None) -> Path:
    """A copy of ktx_host in ``directory``, with ``payload.json`` when a declaration is given (what
    ktx-release puts in a wheel)."""
    target = directory / "ktx_host"
    shutil.copytree(HOST_SRC / "ktx_host", target, ignore=shutil.ignore_patterns("__pycache__", "payload.json"))
    if declaration is not None:
        (target / "payload.json").write_text(json.dumps(declaration))
    return target


class Daemon:
    """``python -I -m ktx_host serve-http`` started the way ktx starts it, in ``tmp_path``."""

    def __init__(
        self,
        tmp_path: Path,
        *extra: str,
        python: str = sys.executable,
        wait_for_state: bool = True,
        env: Optional[Dict[str, str]] = None,
    ) -> None:
        self.token = secrets.token_hex(32)
        self.ready_file = tmp_path / "ready.json"
        self.state_file = tmp_path / "daemon.json"
        self.lock_file = tmp_path / ".daemon.lock"
        self.log_path = tmp_path / "daemon.log"
        self.watched = tmp_path / "venv"
        self.watched.mkdir(exist_ok=True)
        self.log = open(self.log_path, "a+")
        full_env = dict(os.environ, KTX_DAEMON_TOKEN=self.token, **(env or {}))
        self.proc = subprocess.Popen(
            [
                python, "-I", "-m", "ktx_host", "serve-http",
                "--host", "127.0.0.1",
                "--port", "0",
                "--ready-file", str(self.ready_file),
                "--state-file", str(self.state_file),
                "--lock-file", str(self.lock_file),
                "--log-file", str(self.log_path),
                "--wheel-sha256", "ab" * 32,
                "--features", "core",
                "--reason", "start",
                "--watch", str(self.watched),
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(tmp_path),
        )
        if not wait_for_state:
            return
        deadline = time.monotonic() + 30
        while not self.ready_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the host did not become ready: {self.output()}")
            time.sleep(0.05)
        self.ready = json.loads(self.ready_file.read_text())
        self.port = self.ready["port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def auth(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
