"""The guard's pieces on their own: which Host headers are loopback, and the nesting scan that
runs before any payload parses a body (exact for JSON, linear in time)."""

from __future__ import annotations

import json
import random
import time

import pytest

from ktx_host import guard


@pytest.mark.parametrize(
    "host, ok",
    [
        ("127.0.0.1", True), ("127.0.0.1:8080", True), ("localhost", True), ("LOCALHOST:1", True),
        ("[::1]", True), ("[::1]:99", True), ("127.8.9.10", True),
        ("", False), ("evil.example", False), ("127.0.0.1.evil.example", False), ("localhost:x", False),
        ("::1", False), ("[::1]x", False), ("10.0.0.1", False), ("0.0.0.0", False), ("[::1", False),
    ],
)
def test_only_a_loopback_host_header_passes(host, ok):
    assert guard.is_loopback_host(host) is ok


def nesting(value) -> int:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    return 0


def random_json(rng: random.Random, depth: int):
    if depth <= 0 or rng.random() < 0.2:
        return rng.choice([1, None, "plain", 'tricky ]]} \\" [[{ \\\\', "\\\\"])
    if rng.random() < 0.5:
        return [random_json(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {f'k{i}["{{': random_json(rng, depth - 1) for i in range(rng.randint(0, 3))}


def test_the_nesting_scan_is_exact_for_json_whatever_its_strings_hold():
    rng = random.Random(7)
    for _ in range(2000):
        text = json.dumps(random_json(rng, rng.randint(0, 14))).encode()
        assert guard.json_depth(text) == nesting(json.loads(text)), text
    for text, depth in ((b"", 0), (b"1", 0), (b"[]", 1), (b'"[[["', 0), (b'["\\\\", [[]]]', 3), (b'{"a\\"[": {}}', 2)):
        assert guard.json_depth(text) == depth, text


def test_the_nesting_scan_takes_linear_time_deep_or_wide():
    for body in (b"[" * 8_000_000 + b"]" * 8_000_000, b"[]" * 8_000_000, b'["x", {"y": [1, 2]}], ' * 700_000):
        start = time.monotonic()
        guard.json_depth(body, guard.MAX_JSON_DEPTH)
        assert time.monotonic() - start < 3, len(body)


def test_a_body_over_the_depth_limit_is_refused_with_one_line():
    guard.check_depth(b"[" * 512 + b"]" * 512)
    with pytest.raises(guard.Refusal) as info:
        guard.check_depth(b"[" * 513 + b"]" * 513)
    assert info.value.status == 400
    assert info.value.message == "the request body nests JSON arrays or objects at least 513 levels deep; the limit is 512"
