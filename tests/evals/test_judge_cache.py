"""The judge's SQLite cache: reruns make zero API calls, across judges, threads and processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest
import respx

from evals.judge._cache import JudgeCache, cache_key
from tests.evals import judge_api
from tests.evals.judge_api import ask, completion, make_judge

api = judge_api.api  # fixtures
spans = judge_api.spans

pytestmark = pytest.mark.usefixtures("spans")

QUESTIONS = ["Is the sky blue?", "Is grass green?", "Is snow black?"]


def _answer(request: object) -> object:
    return completion({"score": 3, "reason": "canned"}, prompt_tokens=40, completion_tokens=8)


def test_rerun_makes_zero_calls_also_with_a_new_judge(
    api: respx.MockRouter, tmp_path: Path
) -> None:
    api["chat"].side_effect = _answer
    first = make_judge(tmp_path)
    replies = [ask(first, q) for q in QUESTIONS]
    assert api["chat"].call_count == 3
    assert not any(r.cached for r in replies)

    again = [ask(first, q) for q in QUESTIONS]  # same judge
    assert api["chat"].call_count == 3
    assert all(r.cached and r.cost_usd == 0.0 for r in again)
    assert [r.data for r in again] == [r.data for r in replies]
    assert again[0].prompt_tokens == 40  # what the reply took when it was made

    second = make_judge(tmp_path)  # a new judge (a new run) on the same file
    assert [ask(second, q).data for q in QUESTIONS] == [r.data for r in replies]
    assert api["chat"].call_count == 3
    usage = second.usage()
    assert (usage["calls"], usage["cached_calls"], usage["prompt_tokens"]) == (0, 3, 0)
    assert usage["cost_usd"] == 0.0
    assert first.usage()["calls"] == 3 and first.usage()["cached_calls"] == 3


@pytest.mark.parametrize(
    "change",
    [
        {"version": "2"},
        {"question": "Is the sky BLUE?"},
        {"judge": {"temperature": 0.7}},
        {"judge": {"seed": 1}},
        {"judge": {"model": "gpt-4o"}},
    ],
)
def test_a_changed_request_is_not_answered_from_the_cache(
    api: respx.MockRouter, tmp_path: Path, change: dict
) -> None:
    api["chat"].side_effect = _answer
    ask(make_judge(tmp_path), "Is the sky blue?", version="1")
    judge = make_judge(tmp_path, **change.get("judge", {}))
    reply = ask(
        judge, change.get("question", "Is the sky blue?"), version=change.get("version", "1")
    )
    assert not reply.cached
    assert api["chat"].call_count == 2


def test_cache_off(api: respx.MockRouter, tmp_path: Path) -> None:
    api["chat"].side_effect = _answer
    judge = make_judge(tmp_path, cache=False)
    ask(judge)
    ask(judge)
    assert api["chat"].call_count == 2
    assert not judge.cache_path.exists()  # never even opened
    judge.cache_enabled = True  # what evaluate(cache=...) sets
    ask(judge)
    ask(judge)
    assert api["chat"].call_count == 3


def test_default_cache_file_is_in_the_working_folder(
    api: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api["chat"].side_effect = _answer
    monkeypatch.chdir(tmp_path)
    judge = make_judge(tmp_path, cache_path=None)
    ask(judge)
    assert judge.cache_path == tmp_path / ".llmtrace" / "judge_cache.sqlite"
    assert judge.cache_path.exists()
    monkeypatch.setenv("LLMTRACE_JUDGE_CACHE", str(tmp_path / "elsewhere.sqlite"))
    assert make_judge(tmp_path, cache_path=None).cache_path == tmp_path / "elsewhere.sqlite"


def test_cache_key_is_canonical() -> None:
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})
    assert len(cache_key({"a": 1})) == 64


def test_cache_is_wal_and_thread_safe(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path / "c.sqlite")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(100):
                cache.put(f"{n}-{i}", {"v": i})
                assert cache.get(f"{n}-{i}") == {"v": i}
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 800
    with sqlite3.connect(cache.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _write_many(path: str, prefix: str, n: int) -> None:
    cache = JudgeCache(path)
    for i in range(n):
        cache.put(f"{prefix}-{i}", {"i": i, "who": prefix})
    cache.close()


def test_cache_is_safe_across_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    JudgeCache(path).put("seed", 1)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(path, f"p{n}", 300)) for n in range(3)]
    for proc in procs:
        proc.start()
    reader = JudgeCache(path)
    while any(proc.is_alive() for proc in procs):  # read while the others write
        reader.get("p0-1")
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert len(reader) == 1 + 3 * 300
    assert reader.get("p2-299") == {"i": 299, "who": "p2"}
