"""Serialization never raises, masks secrets, repairs invalid text and stays bounded."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest

from llmtrace.tracing import _serialize
from llmtrace.tracing._serialize import (
    REDACTED,
    Notes,
    clean_text,
    dump_json,
    is_secret_key,
    mask_text,
    to_jsonable,
)


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


def test_a_base_exception_from_a_user_object_is_contained_and_noted() -> None:
    class Interrupting:
        def __getattr__(self, name: str) -> Any:
            raise KeyboardInterrupt

        def __repr__(self) -> str:
            raise SystemExit(3)

    class Str(str):
        def lower(self) -> str:  # a str subclass's methods are user code too
            raise KeyboardInterrupt

    notes = Notes()
    out = to_jsonable({"a": Interrupting(), "b": Str("fine"), Str("k"): 1}, notes=notes)
    assert out == {"a": "<unrepresentable Interrupting>", "b": "fine", "k": 1}
    assert notes.error == "KeyboardInterrupt"
    notes = Notes()
    text, _ = dump_json({"q": "hi", "bad": Interrupting()}, 1000, notes=notes)
    assert json.loads(text) == {"q": "hi", "bad": "<unrepresentable Interrupting>"}
    assert notes.error is not None


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


@pytest.mark.parametrize(
    "key",
    [
        "api_key", "API-KEY", "apiKey", "x-goog-api-key", "X_Api_Key", "Authorization",
        "proxy-authorization", "token", "access_token", "refreshToken", "session_token",
        "auth_token", "aws_secret_access_key", "AWS_SESSION_TOKEN", "private_key", "privateKey",
        "password", "db_password", "passwd", "pwd", "secret", "client_secret", "credentials",
        "jwt", "cookie", "Set-Cookie", "x-amz-security-token", "http.request.header.authorization",
    ],
)  # fmt: skip
def test_secret_key_names(key: str) -> None:
    assert is_secret_key(key)
    assert to_jsonable({"deep": [{"deeper": {key: "opaque-value-1234"}}]}) == {
        "deep": [{"deeper": {key: REDACTED}}]
    }


@pytest.mark.parametrize(
    "key",
    [
        "max_tokens", "gen_ai.usage.input_tokens", "tokens", "tokenizer", "session.id",
        "user.id", "author", "monkey", "primary_key", "cache_key", "secretary", "keywords",
        "mlflow.spanInputs", "mlflow.chat.tokenUsage", "key",
    ],
)  # fmt: skip
def test_ordinary_names_are_not_secret(key: str) -> None:
    assert not is_secret_key(key)


def test_secret_values_in_every_shape() -> None:
    opaque = "Zq8Xv3Lm9Tn2Rb7Wc4Hy"
    value = {
        "headers": [("Authorization", f"Bearer {opaque}1"), ("Accept", "json")],
        "pairs": ["token", f"{opaque}2"],
        "json": json.dumps({"api_key": f"{opaque}3", "nested": {"Password": f"{opaque}4"}}),
        "repr": str({"auth_token": f"{opaque}5"}),
        "query": f"https://x.io/v1?api-key={opaque}6&q=1&access_token={opaque}7",
        "keyed": f"https://maps.example.com/geo?key={opaque}8",
        "url": f"postgresql://app:{opaque}9@db:5432/prod",
        "line": f"password = {opaque}A; user = bob",
        f"sk-{opaque}B": "a secret as a key",
    }
    out = json.dumps(to_jsonable(value))
    for i in "123456789AB":
        assert f"{opaque}{i}" not in out, i
    data = to_jsonable(value)
    assert data["headers"][1] == ["Accept", "json"] and "q=1" in data["query"]
    assert "user = bob" in data["line"] and "db:5432/prod" in data["url"]


def test_masked_keys_and_ids_stay_distinct() -> None:
    a, b = "sk-" + "a1" * 12, "sk-" + "b2" * 12
    out = to_jsonable({a: 1, b: 2})
    assert len(out) == 2 and all(k.startswith("[REDACTED:") for k in out)
    first = clean_text(f"sess-{a}", hashed=True)
    assert first == clean_text(f"sess-{a}", hashed=True) != clean_text(f"sess-{b}", hashed=True)
    assert first.startswith("sess-[REDACTED:") and a not in first


def test_truncation_keeps_valid_json() -> None:
    text, cut = dump_json(["x" * 1000], 100)  # 1,006 chars of JSON
    assert cut
    decoded = json.loads(text)
    assert isinstance(decoded, str) and decoded.startswith('["xxx')
    assert decoded.endswith("chars]") and len(decoded) < 140
    text, cut = dump_json("x" * 500, 100)  # a string: its JSON text cut, as before
    assert cut and text.endswith('...[truncated 402 chars]"')


def test_a_mapping_keeps_its_top_level_keys() -> None:
    class Unprintable:
        def __repr__(self) -> str:
            raise ValueError("no")

    value = {
        "query": "short",
        "n": 10**5000,  # over Python's 4,300-digit str limit: json.dumps alone would raise
        "doc": "x" * 200_000,
        "bad": Unprintable(),
        "k": 3,
    }
    notes = Notes()
    text, cut = dump_json(value, 1000, notes=notes)
    data = json.loads(text)
    assert cut and notes.truncated
    assert list(data) == ["query", "n", "doc", "bad", "k"]
    assert data["query"] == "short" and data["k"] == 3
    assert data["n"].startswith("<int of ") and data["bad"] == "<unrepresentable Unprintable>"
    assert data["doc"].startswith("xxx") and data["doc"].endswith("chars]")
    assert len(text) < 1100


def test_lone_surrogates_are_repaired() -> None:
    notes = Notes()
    out = to_jsonable({"q\udc00": "a\ud800b", "pair": "\ud83d\ude00"}, notes=notes)
    assert out == {"q\ufffd": "a\ufffdb", "pair": "\U0001f600"} and notes.repaired
    text, _ = dump_json({"x": "\ud800"}, 100)
    text.encode("utf-8")  # no UnicodeEncodeError: it can be stored
    assert clean_text("ok") == "ok"


def test_strings_are_cut_before_they_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    spans = _serialize._secret_spans

    def spy(text: str, literals: Any = ()) -> list[tuple[int, int]]:
        seen.append(len(text))
        return spans(text, literals)

    monkeypatch.setattr(_serialize, "_secret_spans", spy)
    big = "word " * 100_000
    clean_text(big, 1000)
    dump_json({"doc": big, "more": [big, {"k": big}]}, 1000)
    dump_json(big, 1000)
    assert seen and max(seen) <= 1000 + _serialize._LOOKAHEAD


def test_a_huge_value_costs_work_bounded_by_the_limit() -> None:
    start = time.perf_counter()
    text, cut = dump_json({"rows": list(range(1_000_000)), "s": ["y" * 1000] * 10_000}, 2000)
    assert cut and time.perf_counter() - start < 1.0  # the walk stops once the budget is spent
    assert len(text) < 2200 and list(json.loads(text)) == ["rows", "s"]
    assert "more items]" in json.dumps(to_jsonable(list(range(1_000_000)), 2000))


SECRETS = {
    "openai": "sk-proj-" + "Qw3rTy7uI9oP1aS5dF8gH2jK4lZ6xC0vB" * 2,
    "password": "password=Tr0ub4dor-3xkcd-Horse-Battery",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFsaWNlIn0"
    ".Xk2vQw7rT9yU1iO3pA5sD7fG9hJ1kL3zX5cV7bN9mQ0",
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7Vq3Xb9Lp2\n"
    "Kd8Wm4Zr6Tn1Yc5Hs3Gf7Jq9\n-----END RSA PRIVATE KEY-----",
    "github": "github_pat_11ABCDEFG0123456789abc_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp" * 2,
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_a_secret_crossing_the_cut_is_masked_whole(kind: str) -> None:
    secret = SECRETS[kind]
    body = secret.split("=", 1)[-1] if kind == "password" else secret
    start = len(secret) - len(body)
    filler = "x " * 200
    for inside in range(2, len(body)):  # the cut falls `inside` characters into the secret
        text = filler + secret + " and more text after it"
        limit = len(filler) + start + inside
        out = clean_text(text, limit)
        assert body[:inside] not in out, (kind, inside, out[-80:])
        assert out.endswith("chars]") and REDACTED in out, (kind, inside)
