"""``python -I -m ktx_host check``: the install check for any payload. It imports every package
the declaration names and requires ``python -I -m <oneshot> --help`` to exit 0; one JSON object
on stdout either way, exit 1 with one line in ``error`` on a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

from hostproc import copy_host, python_with


def check(python: str, cwd: Path) -> tuple:
    proc = subprocess.run(
        [python, "-I", "-m", "ktx_host", "check"], capture_output=True, text=True, timeout=120, cwd=str(cwd)
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    return proc.returncode, json.loads(lines[0]), proc.stderr


def write_package(site: Path, name: str, init: str = "", main: str = "") -> None:
    (site / name).mkdir()
    (site / name / "__init__.py").write_text(textwrap.dedent(init))
    if main:
        (site / name / "__main__.py").write_text(textwrap.dedent(main))


def payload_site(tmp_path: Path, declaration: dict) -> tuple:
    site = tmp_path / "site"
    site.mkdir()
    copy_host(site, declaration)
    return site, python_with(tmp_path / "venv", site)


ARGPARSE_MAIN = """
    import argparse
    parser = argparse.ArgumentParser(prog="ktx-daemon")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("semantic-query")
    parser.parse_args()
"""


def test_the_check_passes_for_our_payload_and_names_what_it_ran(tmp_path):
    import ktx_daemon
    import ktx_host

    code, report, _ = check(sys.executable, tmp_path)
    assert code == 0, report
    assert "error" not in report
    assert report["version"] == version("kaelio-ktx")
    assert report["packages"] == {
        "ktx_host": os.path.realpath(os.path.dirname(ktx_host.__file__)),
        "ktx_daemon": os.path.realpath(os.path.dirname(ktx_daemon.__file__)),
    }
    assert report["oneshot"]["argv"] == [sys.executable, "-I", "-m", "ktx_daemon", "--help"]
    assert report["oneshot"]["exit"] == 0 and report["oneshot"]["output"].startswith("usage: ktx-daemon")


def test_a_ktx_shaped_payload_whose_help_exits_0_passes_and_printing_on_import_does_not_spoil_stdout(tmp_path):
    site, python = payload_site(tmp_path, {"app": "kpay.app:create_app", "oneshot": "kpay", "packages": ["kpay", "ksl"]})
    write_package(site, "kpay", init="print('kpay imported')\n", main=ARGPARSE_MAIN)
    write_package(site, "ksl")
    code, report, stderr = check(python, tmp_path)
    assert code == 0, report
    assert report["packages"] == {
        "ktx_host": os.path.realpath(site / "ktx_host"),
        "kpay": os.path.realpath(site / "kpay"),
        "ksl": os.path.realpath(site / "ksl"),
    }
    assert "usage: ktx-daemon" in report["oneshot"]["output"]
    assert "kpay imported" in stderr


def test_a_payload_whose_oneshot_help_exits_2_fails_with_one_line(tmp_path):
    site, python = payload_site(tmp_path, {"app": "kpay.app:create_app", "oneshot": "kpay", "packages": ["kpay"]})
    write_package(site, "kpay", main="import sys\nsys.stderr.write('usage: kpay\\nkpay: error: no --help here\\n')\nsys.exit(2)\n")
    code, report, _ = check(python, tmp_path)
    assert code == 1
    assert report["error"] == "python -I -m kpay --help exited 2: kpay: error: no --help here"
    assert report["oneshot"]["exit"] == 2 and "no --help here" in report["oneshot"]["output"]
    assert report["packages"]["kpay"] == os.path.realpath(site / "kpay")


def test_a_package_that_does_not_import_fails_before_the_oneshot_runs(tmp_path):
    site, python = payload_site(tmp_path, {"oneshot": "kpay", "packages": ["kpay", "gone"]})
    write_package(site, "kpay", main=ARGPARSE_MAIN)
    code, report, _ = check(python, tmp_path)
    assert code == 1 and report["oneshot"] is None
    assert report["error"] == "cannot import gone: ModuleNotFoundError: No module named 'gone'"


def test_a_broken_declaration_fails_with_one_line(tmp_path):
    site, python = payload_site(tmp_path, {"app": "no colon", "packages": []})
    code, report, _ = check(python, tmp_path)
    assert code == 1
    assert report["error"].endswith("'app' must be \"MODULE:FACTORY\", got 'no colon'; reinstall the runtime: ktx runtime install --force")


def test_the_users_directory_never_reaches_the_check(tmp_path):
    """A planted ktx_daemon where the user stands is not what the check imports or runs."""
    planted = tmp_path / "ktx_daemon"
    planted.mkdir()
    (planted / "__init__.py").write_text("raise SystemExit('planted code ran')\n")
    (planted / "__main__.py").write_text("raise SystemExit('planted code ran')\n")
    code, report, _ = check(sys.executable, tmp_path)
    assert code == 0, report
    assert report["packages"]["ktx_daemon"] != os.path.realpath(planted)
