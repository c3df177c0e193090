"""The daemon's life, as ktx sees it from files: the lock it holds, the state it writes, the
checks that end it, and its bounded log.

- ``hold_lock``: an exclusive lock on ``--lock-file`` held until the process ends (flock on
  POSIX, msvcrt.locking on Windows; both interoperate with ktx's std::fs::File::try_lock). A
  held lock means "a daemon of this version runs", on every OS, with no pid or /proc check.
- ``write_state``: ``--state-file`` written atomically (0600 before the rename) before the
  daemon reports ready, so a ktx interrupted at any moment finds either no daemon or one it
  can list and stop.
- ``Watchdog``: every ``PERIOD`` seconds, the state file must still name this process and
  every ``--watch`` path must exist, or the daemon stops by itself.
- ``LogCap``: when the log passes ``cap`` bytes it becomes ``<log>.1`` and a fresh log takes
  over stdout and stderr (dup2), so at most about twice the cap exists.
- ``rss_bytes``: the daemon's resident memory, for ``/health``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional

PERIOD = 2.0
LOG_CAP = 1 << 20
LOCK_RETRY_SECONDS = 1.0


class LockHeld(Exception):
    """Another process holds the daemon lock."""


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _try_lock(fd: int) -> bool:
    if os.name == "nt":  # pragma: no cover - Windows
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def hold_lock(path: str) -> int:
    """Lock ``path`` exclusively; return the raw descriptor, which is never closed.

    A raw descriptor, not a file object: Python closes file objects while it finalizes, tens of
    milliseconds before the process is gone, and the lock must mean "the daemon is there" until
    the OS ends the process. ktx probes the lock by taking and releasing it at once, so a
    failed attempt is retried for ``LOCK_RETRY_SECONDS`` before it means another daemon."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_RETRY_SECONDS
    while not _try_lock(fd):
        if time.monotonic() >= deadline:
            os.close(fd)
            raise LockHeld(f"another daemon holds {path}")
        time.sleep(0.02)
    os.set_inheritable(fd, False)
    return fd


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed over it), mode 0600."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_state(path: str, data: Dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` atomically, readable by its owner only."""
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def names_me(path: Optional[str]) -> bool:
    """Whether the state file at ``path`` names this process."""
    if not path:
        return False
    try:
        with open(path, "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("pid") == os.getpid()


def remove_state_if_mine(path: Optional[str]) -> bool:
    """Delete the state file only when it names this process."""
    if not names_me(path):
        return False
    try:
        os.unlink(path)  # type: ignore[arg-type]
        return True
    except OSError:
        return False


class Watchdog:
    """Why the daemon should stop by itself now, or None."""

    def __init__(self, state_file: Optional[str], watch: List[str]) -> None:
        self.state_file = state_file
        self.watch = list(watch)

    def reason_to_exit(self) -> Optional[str]:
        if self.state_file and not names_me(self.state_file):
            if os.path.exists(self.state_file):
                return f"{self.state_file} no longer names this daemon (pid {os.getpid()})"
            return f"{self.state_file} is gone"
        for path in self.watch:
            if not os.path.exists(path):
                return f"{path} is gone"
        return None


class LogCap:
    """Keep ``path`` under ``cap`` bytes by rotating it to ``<path>.1``; stdout and stderr are
    pointed at the fresh file (the daemon was started with both appended to ``path``)."""

    def __init__(self, path: Optional[str], cap: int = LOG_CAP) -> None:
        self.path = path
        self.cap = cap

    def check(self) -> bool:
        """Rotate if the log passed the cap; whether it did."""
        if not self.path:
            return False
        try:
            if os.path.getsize(self.path) <= self.cap:
                return False
        except OSError:
            return False
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        try:
            os.replace(self.path, self.path + ".1")
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError:
            return False
        try:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
        finally:
            os.close(fd)
        sys.stderr.write(f"ktx-host: {utc_now()} log rotated (the previous one is {self.path}.1)\n")
        sys.stderr.flush()
        return True


def rss_bytes() -> Optional[int]:
    """The resident memory of this process (its peak where the current one cannot be read)."""
    try:
        with open("/proc/self/statm", "r", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except (ImportError, OSError):  # pragma: no cover - Windows
        return None
