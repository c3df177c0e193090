"""Names that are not identifiers (``.``, ``..``, ``a..b..c``, ``../../x``) are refused input
(exit 3 one-shot, HTTP 400), in one line naming the bad name; never an internal error."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import one_line_error, OpResult

HOSTILE = [".", "..", "a..b..c", "../../x"]


def source(name: str, **extra):
    base = {
        "name": name,
        "table": "t",
        "grain": ["id"],
        "columns": [{"name": "id", "type": "number"}],
        "measures": [{"name": "n", "expr": "count(id)"}],
    }
    base.update(extra)
    return base


def one_shot(op: str, payload, cwd) -> OpResult:
    """``python -m ktx_daemon <op>`` with the payload as JSON on stdin (what the ktx CLI runs)."""
    proc = subprocess.run(
        [sys.executable, "-m", "ktx_daemon", op],
        input=json.dumps(payload), capture_output=True, text=True, timeout=60, cwd=cwd,
    )
    return OpResult(proc)


def in_process(op_name: str, payload):
    """What both transports run for a request, and how its failure is classified."""
    from ktx_daemon import protocol

    op = protocol.BY_NAME[op_name]
    try:
        return protocol.handle(op, json.dumps(payload).encode(), "stdin"), None
    except Exception as exc:  # classified below, as the transports do
        return None, protocol.classify(exc, op.name)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_source_name_that_is_not_an_identifier_is_refused_one_shot_naming_it(name, tmp_path):
    for measure in (f"{name}.n", "n"):
        req = {"sources": [source(name)], "query": {"measures": [measure]}, "dialect": "sqlite"}
        res = one_shot("semantic-query", req, tmp_path)
        line = one_line_error(res, 3)
        assert res.json["error"]["kind"] == "rejected"
        assert f"source '{name}': the name must be an identifier" in line, line


@pytest.mark.parametrize("name", HOSTILE)
def test_a_source_name_that_is_not_an_identifier_is_a_400_in_process(name):
    req = {"sources": [source("ok"), source(name)], "query": {"measures": ["ok.n"]}, "dialect": "sqlite"}
    out, failure = in_process("semantic-query", req)
    assert out is None
    assert (failure.kind, failure.exit_code, failure.http_status) == ("rejected", 3, 400)
    assert failure.message == (
        f"invalid semantic model (1 error): source '{name}': the name must be an identifier (letters, digits, _)"
    )


@pytest.mark.parametrize("name", HOSTILE)
def test_validation_lists_a_bad_source_name_as_one_error(name):
    out, failure = in_process("semantic-validate", {"sources": [source(name)], "dialect": "sqlite"})
    assert failure is None
    assert out["valid"] is False
    assert out["errors"] == [f"source '{name}': the name must be an identifier (letters, digits, _)"]


@pytest.mark.parametrize(
    "edit, needle",
    [
        ({"measures": [{"name": "..", "expr": "count(id)"}]}, "source 's': measure '..': the name must be an identifier"),
        ({"segments": [{"name": "../../x", "expr": "id > 1"}]}, "source 's': segment '../../x': the name must be an identifier"),
        ({"columns": [{"name": "id", "type": "number"}, {"name": "a..b..c", "type": "number"}]},
         "source 's': column 'a..b..c': a column name must be unqualified"),
        ({"grain": [".."]}, "source 's': grain entry '..' must be an unqualified column name"),
        ({"joins": [{"to": "../../x", "on": "id = x.id", "relationship": "many_to_one"}]},
         "source 's': join to '../../x': unknown source '../../x'"),
    ],
    ids=["measure", "segment", "column", "grain", "join target"],
)
def test_a_field_name_that_is_not_an_identifier_is_refused_naming_it(edit, needle, tmp_path):
    req = {"sources": [source("s", **edit)], "query": {"measures": ["count(s.id)"]}, "dialect": "sqlite"}
    line = one_line_error(one_shot("semantic-query", req, tmp_path), 3)
    assert needle in line, line
    _, failure = in_process("semantic-query", req)
    assert (failure.exit_code, failure.http_status) == (3, 400) and needle in failure.message


@pytest.mark.parametrize(
    "query, needle",
    [
        ({"measures": ["s.n"], "dimensions": ["a..b..c"]}, "bad dimension reference 'a..b..c'"),
        ({"measures": ["s.n"], "order_by": ["../../x"]}, "bad order_by reference '../../x'"),
        ({"measures": ["s.n"], "segments": [".."]}, "bad segment reference '..'"),
        ({"measures": ["a..b..c"]}, "cannot parse measure 'a..b..c'"),
        ({"measures": ["s.n"], "filters": ["../../x = 1"]}, "cannot parse filter '../../x = 1'"),
    ],
    ids=["dimension", "order_by", "segment", "measure", "filter"],
)
def test_a_query_reference_that_is_not_a_name_is_refused_naming_it(query, needle):
    out, failure = in_process("semantic-query", {"sources": [source("s")], "query": query, "dialect": "sqlite"})
    assert out is None
    assert (failure.kind, failure.exit_code, failure.http_status) == ("rejected", 3, 400)
    assert needle in failure.message, failure.message
