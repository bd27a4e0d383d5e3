"""Serialization never raises, masks secrets and stays bounded."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from llmtrace.tracing._serialize import REDACTED, dump_json, mask_text, to_jsonable


def test_common_types() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    class Model:
        def model_dump(self) -> dict[str, Any]:
            return {"id": "chatcmpl-1"}

    value = {"p": Point(1, 2), "m": Model(), "t": (1, 2), "s": {3}, "b": b"abc", 4: "int key"}
    assert to_jsonable(value) == {
        "p": {"x": 1, "y": 2},
        "m": {"id": "chatcmpl-1"},
        "t": [1, 2],
        "s": [3],
        "b": "<3 bytes>",
        "4": "int key",
    }


def test_hostile_objects_never_raise() -> None:
    class BadRepr:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    class BadDump:
        def model_dump(self) -> dict[str, Any]:
            raise RuntimeError("no dump")

        def __repr__(self) -> str:
            return "BadDump()"

    loop: list[Any] = [1]
    loop.append(loop)
    assert to_jsonable(BadRepr()) == "<unrepresentable BadRepr>"
    assert to_jsonable(BadDump()) == "BadDump()"
    assert to_jsonable(loop) == [1, "<circular list>"]
    text, cut = dump_json({"nan": float("nan")}, 1000)
    assert not cut and "NaN" in text


def test_secrets_are_masked() -> None:
    key = "sk-proj-" + "A1b2C3d4" * 4
    value = {
        "api_key": "anything",
        "headers": {"Authorization": "Bearer abc.def.ghi", "X-Api-Key": "k123456"},
        "note": f"use {key} please",
        "organization": "org-abcdefghijklmnopqrst",
        "token": "",
    }
    out = json.dumps(to_jsonable(value))
    assert key not in out and "abc.def.ghi" not in out and "org-abcdef" not in out
    assert to_jsonable(value)["api_key"] == REDACTED
    assert to_jsonable(value)["token"] == ""
    masked = mask_text("Authorization: Bearer abcdefghijk")
    assert "abcdefghijk" not in masked and REDACTED in masked


def test_truncation_keeps_valid_json() -> None:
    text, cut = dump_json({"a": "x" * 1000}, 100)  # 1,009 chars of JSON
    assert cut
    decoded = json.loads(text)
    assert isinstance(decoded, str) and decoded.endswith("...[truncated 909 chars]")
    assert len(decoded) == 100 + len("...[truncated 909 chars]")
