"""The ``llmtrace`` command's plain option values (`_cli_coerce`) are typer's own, without
pydantic: every option of every command, given the values a user types, coerces to what
typer's pydantic adapter gives (or fails with typer's own message)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import typer
from typer import _click as click  # typer 0.2x carries its own click
from typer.testing import CliRunner

from llmtrace._cli_coerce import PlainParam, lighten
from llmtrace.cli import app

VALUES = ["", "x", "conv-42", "0", "1", "-3", "20", "007", "+5", "1.5", "0.05", " 7", "1e3", "abc"]


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = [(path, command)]
    ctx = click.Context(command)
    for name in getattr(command, "list_commands", lambda _: [])(ctx):
        out += _commands(command.get_command(ctx, name), (*path, name))
    return out


def _outcome(coerce: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        return "ok", coerce(value, param=param, ctx=ctx)
    except click.exceptions.ClickException as exc:
        return "error", exc.format_message()


def test_every_option_coerces_as_typer_does() -> None:
    from typer._coercion import build_runtime_param

    root = typer.main.get_command(app)
    checked = 0
    for _, command in _commands(root):
        ctx = click.Context(command)
        for param in command.get_params(ctx):
            if not hasattr(param, "type_descriptor"):
                continue
            own = build_runtime_param(param.type_descriptor)
            plain = PlainParam(param)
            values: list[Any] = [None, param.default, *VALUES, True, False, 3, 2.5]
            if param.multiple:
                values = [None, (), ("a", "b=1"), ("x",), ["1", "2"]]
            for value in values:
                mine = _outcome(plain.coerce, value, param, ctx)
                assert mine == _outcome(own.coerce, value, param, ctx), (param.name, value)
                checked += 1
    assert checked > 1000


def test_lighten_covers_the_view_commands_options() -> None:
    root = typer.main.get_command(app)
    ctx = click.Context(root)
    traces = root.get_command(ctx, "traces")
    lighten(traces, ctx)
    listed = traces.get_command(ctx, "list")
    kinds = {p.name: type(p._runtime_param) for p in listed.get_params(ctx)}
    assert kinds["limit"] is kinds["session"] is kinds["feedback"] is kinds["as_json"] is PlainParam


def test_mistyped_values_get_typers_own_errors() -> None:
    runner = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1"})
    result = runner.invoke(app, ["traces", "list", "--limit", "zero"])
    assert result.exit_code == 2
    assert "Invalid value for '--limit' / '-n'" in result.stderr
    result = runner.invoke(app, ["traces", "list", "--limit", "0"])
    assert result.exit_code == 2 and "greater than or equal to 1" in result.stderr


def test_the_view_commands_start_without_pydantic_or_evals() -> None:
    code = (
        "import sys\n"
        "from llmtrace.cli import app\n"
        "try:\n"
        "    app(['traces', 'list', '--help'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pydantic', 'evals', 'opentelemetry', 'mlflow'})\n"
        "assert loaded == [], loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.parametrize("args", [["--help"], ["eval", "--help"], ["eval", "run", "--help"]])
def test_eval_commands_are_found_when_named(args: list[str]) -> None:
    result = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1"}).invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "eval" in result.output
