"""The ``llmtrace`` command as a whole: ``--version``, help without type noise, store paths."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import llmtrace
from llmtrace.cli import app

COMMANDS = [
    [],
    ["traces"],
    ["traces", "list"],
    ["traces", "show"],
    ["traces", "tail"],
    ["traces", "export"],
    ["sessions", "list"],
    ["sessions", "show"],
    ["ui"],
    ["eval"],
    ["eval", "run"],
    ["eval", "compare"],
]


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    runner = CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1", **(env or {})})
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_version_flag_prints_the_version() -> None:
    code, out, _ = invoke("--version")
    assert (code, out) == (0, f"llmtrace {llmtrace.__version__}\n")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "llmtrace")
def test_help_shows_no_bool_type_on_flags(command: list[str]) -> None:
    code, out, _ = invoke(*command, "--help")
    assert code == 0
    assert "--help" in out
    assert "<bool>" not in out and "BOOLEAN" not in out, out
    if command == ["traces", "list"]:
        assert re.search(r"--json\s+Print JSON", out), out


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """A store with one trace, copied to a plain ``traces.db`` path."""
    uri = f"sqlite:///{tmp_path / 'origin.db'}"
    llmtrace.configure(tracking_uri=uri, schedule_delay_ms=20)
    with llmtrace.span("hello", kind="CHAIN"):
        pass
    assert llmtrace.flush(30)
    llmtrace.shutdown()
    target = tmp_path / "traces.db"
    shutil.copy(tmp_path / "origin.db", target)
    return target


@pytest.mark.parametrize("form", ["absolute", "relative", "env"])
def test_a_plain_db_path_is_read_as_that_sqlite_file(
    db_file: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(db_file.parent)
    if form == "env":
        code, out, err = invoke("traces", "list", env={"LLMTRACE_TRACKING_URI": str(db_file)})
    else:
        path = str(db_file) if form == "absolute" else db_file.name
        code, out, err = invoke("traces", "list", "--tracking-uri", path)
    assert code == 0, err
    assert "hello" in out and "maintenance" not in err
