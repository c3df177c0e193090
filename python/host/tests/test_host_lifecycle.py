"""The daemon's life as files say it: the lock held for life, the state written 0600 and
atomically, the watchdog's reasons to stop, the log that rotates at its cap."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ktx_host import lifecycle


def holder(lock: Path) -> subprocess.Popen:
    """Another process holding the lock until killed."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from ktx_host import lifecycle
        fd = lifecycle.hold_lock({str(lock)!r})
        print("held", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_lock_held_by_another_process_cannot_be_taken(tmp_path: Path) -> None:
    lock = tmp_path / ".daemon.lock"
    proc = holder(lock)
    try:
        with pytest.raises(lifecycle.LockHeld, match="another daemon holds"):
            lifecycle.hold_lock(str(lock))
    finally:
        proc.kill()
        proc.wait()
    fd = lifecycle.hold_lock(str(lock))  # released by the OS when the holder died
    os.close(fd)


def test_the_state_file_is_written_whole_and_private(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text("old")
    lifecycle.write_state(str(path), {"pid": os.getpid(), "token": "t"})
    assert json.loads(path.read_text()) == {"pid": os.getpid(), "token": "t"}
    if os.name != "nt":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["daemon.json"], "no temp file left"


def test_the_state_file_is_removed_only_when_it_names_this_process(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"pid": os.getpid() + 1}))
    assert not lifecycle.remove_state_if_mine(str(path))
    assert path.exists()
    path.write_text(json.dumps({"pid": os.getpid()}))
    assert lifecycle.remove_state_if_mine(str(path))
    assert not path.exists()


def test_the_watchdog_says_why_the_daemon_should_stop(tmp_path: Path) -> None:
    state = tmp_path / "daemon.json"
    venv = tmp_path / "venv"
    venv.mkdir()
    dog = lifecycle.Watchdog(str(state), [str(tmp_path), str(venv)])
    assert dog.reason_to_exit() is not None and "is gone" in dog.reason_to_exit()
    state.write_text(json.dumps({"pid": os.getpid()}))
    assert dog.reason_to_exit() is None
    state.write_text(json.dumps({"pid": os.getpid() + 1}))
    assert "no longer names this daemon" in (dog.reason_to_exit() or "")
    state.write_text(json.dumps({"pid": os.getpid()}))
    venv.rmdir()
    assert dog.reason_to_exit() == f"{venv} is gone"


def test_the_log_rotates_at_its_cap_and_the_daemon_writes_to_the_fresh_one(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    code = textwrap.dedent(
        f"""
        import sys
        from ktx_host import lifecycle
        cap = lifecycle.LogCap({str(log)!r}, cap=1000)
        print("x" * 600, flush=True)
        assert not cap.check()
        print("y" * 600, flush=True)
        assert cap.check()
        print("after", flush=True)
        sys.stderr.write("err after\\n")
        """
    )
    with open(log, "ab") as fh:
        subprocess.run([sys.executable, "-c", code], stdout=fh, stderr=fh, check=True)
    old = (tmp_path / "daemon.log.1").read_text()
    assert "x" * 600 in old and "y" * 600 in old
    fresh = log.read_text()
    assert "log rotated" in fresh and "after" in fresh and "err after" in fresh
    assert "x" * 600 not in fresh


def test_resident_memory_is_reported() -> None:
    rss = lifecycle.rss_bytes()
    assert rss is not None and rss > 1 << 20
