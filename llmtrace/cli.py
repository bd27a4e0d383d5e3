"""The ``llmtrace`` command line: look at stored traces and sessions, export them, open the UI.

A thin layer over `llmtrace.views`: each command resolves the store as `llmtrace.configure`
does (``--tracking-uri``/``--experiment``, then ``LLMTRACE_*``/``MLFLOW_*`` variables, then
``./mlflow.db``), asks the views for lines, and prints them. Mistakes (no store, unknown id or
experiment, unreachable server) print one ``error:`` line and exit non-zero, no traceback.

Example:
    $ llmtrace traces list --status error --since 1h
    $ llmtrace traces show tr-6ebe11d0... --depth 3
    $ llmtrace sessions show conv-42
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperGroup
from typer.models import TyperInfo

from ._errors import LLMTraceError

if TYPE_CHECKING:
    from .views._lines import Line
    from .views._store import Store


def _untyped_flags(command: Any, ctx: Any) -> None:
    """Flags (``--json``, ``--help``) take no value: show no ``<bool>`` type beside them."""
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _untyped_flags(sub, ctx)


def _eval_group() -> Any:
    """``llmtrace eval``: evals' commands, imported only when they are asked for."""
    from evals.cli import app as eval_app  # the one place llmtrace meets evals

    return typer.main.get_group_from_info(
        TyperInfo(eval_app, name="eval"),  # as app.add_typer(eval_app, name="eval") would
        pretty_exceptions_short=app.pretty_exceptions_short,
        suggest_commands=app.suggest_commands,
        rich_markup_mode=app.rich_markup_mode,
    )


class _Group(TyperGroup):
    """The root command group: its help and every subcommand's help list flags without types.

    ``eval`` is added when it is named (or listed by ``--help``), so the other commands never
    import evals; each command's plain options are checked without pydantic (`_cli_coerce`).
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from ._cli_coerce import lighten

        lighten(self, ctx, deep=False)  # --help, --version, --install-completion
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return names if "eval" in names else [*names, "eval"]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name == "eval":
            command = self.commands["eval"] = _eval_group()
        if command is not None:
            from ._cli_coerce import lighten

            _untyped_flags(command, ctx)
            lighten(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        _untyped_flags(self, ctx)
        super().format_help(ctx, formatter)


app = typer.Typer(
    help="Trace and evaluate LLM apps stored in MLflow.", no_args_is_help=True, cls=_Group
)
traces_app = typer.Typer(help="Look at stored traces.", no_args_is_help=True)
sessions_app = typer.Typer(
    help="Look at conversations (traces grouped by session).", no_args_is_help=True
)
app.add_typer(traces_app, name="traces")
app.add_typer(sessions_app, name="sessions")

TRACKING_URI = typer.Option(
    None, "--tracking-uri", help="Store (default: $LLMTRACE_TRACKING_URI, else ./mlflow.db)."
)
EXPERIMENT = typer.Option(
    None, "--experiment", "-e", help="Experiment name (default: $LLMTRACE_EXPERIMENT, Default)."
)

FEEDBACK = typer.Option(
    None, "--feedback", help="Has this feedback: NAME=VALUE, NAME>=4 or NAME (repeatable)."
)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Turn llmtrace's and MLflow's errors into one ``error:`` line and exit code 1."""
    try:
        yield
    except typer.Exit:
        raise
    except LLMTraceError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        typer.echo(f"error: {first}", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        typer.echo(f"error: {type(exc).__name__}: {first}", err=True)
        raise typer.Exit(1) from None


def _none_found(message: str) -> NoReturn:
    """An empty answer: the message on stderr and exit code 1 (a listing found nothing)."""
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _store(tracking_uri: str | None, experiment: str | None) -> Store:
    from .views._store import Store

    return Store(tracking_uri=tracking_uri, experiment=experiment)


def _print(lines: list[Line]) -> None:
    from .views._lines import rich_would_style

    if not rich_would_style():  # to a pipe or file: the same text, without importing rich
        from .views._lines import plain_text, plain_width

        text = plain_text(lines, plain_width())
        if text is not None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
    from rich.console import Console

    from .views._lines import Lines

    Console(highlight=False).print(Lines(lines))


def _width() -> int:
    from .views._lines import plain_width, rich_would_style

    if not rich_would_style():
        return plain_width()
    from rich.console import Console

    return Console().width


def _print_version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"llmtrace {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print llmtrace's version and exit.",
    ),
) -> None:
    """Trace and evaluate LLM apps stored in MLflow."""


@app.command()
def version() -> None:
    """Print llmtrace's version."""
    from . import __version__

    typer.echo(__version__)


def _experiments_with_traces(store: Store, most: int = 50) -> str:
    """``; traces are in experiment(s) 'a', 'b': pass --experiment NAME``, or ``""``."""
    try:
        client = store.client()
        names = [
            e.name
            for e in client.search_experiments(max_results=most)
            if client.search_traces(locations=[e.experiment_id], max_results=1)
        ]
    except Exception:  # only a hint: the answer stays "no traces" whatever happens here
        return ""
    names = [n for n in names if n != (store.experiment or "Default")]
    if not names:
        return ""
    listed = ", ".join(repr(n) for n in sorted(names))
    return f"; traces are in experiment(s) {listed}: pass --experiment NAME"


@traces_app.command("list")
def traces_list(
    session: str = typer.Option(None, "--session", help="Only this session's traces."),
    user: str = typer.Option(None, "--user", help="Only this user's traces."),
    status: str = typer.Option(None, "--status", help="OK, ERROR or IN_PROGRESS."),
    since: str = typer.Option(None, "--since", help="Started after: 30m, 2h, 1d or a date."),
    name: str = typer.Option(None, "--name", help="Trace name (% as wildcard)."),
    filter_string: str = typer.Option(
        None, "--filter", help='MLflow trace filter, e.g. "execution_time_ms > 1000".'
    ),
    feedback: list[str] = FEEDBACK,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="At most this many traces."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    experiment: str = EXPERIMENT,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """List the newest traces: id, name, status, start, duration, tokens, cost, session."""
    from .views._assessments import feedback_filter
    from .views._store import build_filter
    from .views._tables import trace_json, traces_table

    with _one_line_errors():
        store = _store(tracking_uri, experiment)
        clauses = [filter_string] if filter_string else []
        clauses += [feedback_filter(spec) for spec in feedback or []]
        where = build_filter(
            session=session,
            user=user,
            status=status,
            since=since,
            name=name,
            extra=" AND ".join(clauses) or None,
        )
        views = store.summaries(where, max_results=limit)
    if as_json:
        typer.echo(json.dumps([trace_json(v) for v in views], indent=2))
        return
    if not views:
        what = "match the filters" if where else "yet"
        elsewhere = "" if where else _experiments_with_traces(store)
        _none_found(
            f"no traces {what} in experiment {store.experiment or 'Default'!r} "
            f"at {store.tracking_uri}{elsewhere}"
        )
    _print(traces_table(views, _width()))


@traces_app.command("show")
def traces_show(
    trace_id: str = typer.Argument(..., help="The trace id (tr-...)."),
    full: bool = typer.Option(False, "--full", help="Inputs, outputs and messages in full."),
    span: str = typer.Option(None, "--span", help="Only the spans with this name (in full)."),
    depth: int = typer.Option(None, "--depth", min=1, help="Show this many tree levels."),
    collapse: int = typer.Option(
        5, "--collapse", min=0, help="Summarize runs of more same-named siblings (0: never)."
    ),
    experiment: str = EXPERIMENT,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """The span tree: kind, duration, timing bar, tokens, cost, errors, messages, documents."""
    from .views._assessments import assessment_lines
    from .views._model import build
    from .views._terminal import TreeOptions, tree_lines

    with _one_line_errors():
        store = _store(tracking_uri, experiment)
        if experiment:
            store.experiment_id()  # a mistyped --experiment is an error, not ignored
        view = build(store.get_trace(trace_id))
        options = TreeOptions(full=full, span=span, depth=depth, collapse=collapse)
        if span is not None and not any(n.name == span or n.span_id == span for n in view.nodes()):
            names = ", ".join(sorted({n.name for n in view.nodes()}))
            raise LLMTraceError(f"no span {span!r} in {trace_id}; spans: {names}")
        lines = tree_lines(view, _width(), options)
        lines += assessment_lines(view.assessments, _width())
    _print(lines)


@traces_app.command("feedback")
def traces_feedback(
    trace_id: str = typer.Argument(..., help="The trace id (tr-...)."),
    name: str = typer.Argument(..., help="What is judged, e.g. helpful."),
    value: str = typer.Argument(..., help="true/false, a number, or a text (a category)."),
    rationale: str = typer.Option(None, "--rationale", "-r", help="Why, in words."),
    source: str = typer.Option("human", "--source", help="human, code or llm_judge."),
    source_id: str = typer.Option(None, "--source-id", help="Who gave it (default: $USER)."),
    span_id: str = typer.Option(None, "--span-id", help="The span it is about."),
    experiment: str = EXPERIMENT,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Attach feedback to a trace (an MLflow assessment: the MLflow UI shows it too)."""
    from .views._assessments import parse_value

    fields = {"trace_id": trace_id, "name": name, "rationale": rationale, "source": source}
    fields |= {"span_id": span_id, "source_id": source_id or _user()}
    _log_assessment("feedback", fields, value, parse_value, tracking_uri, experiment)


@traces_app.command("expect")
def traces_expect(
    trace_id: str = typer.Argument(..., help="The trace id (tr-...)."),
    name: str = typer.Argument(..., help="What is expected, e.g. expected_response."),
    value: str = typer.Argument(..., help="A text, true/false, a number, or JSON ([...], {...})."),
    source: str = typer.Option("human", "--source", help="human, code or llm_judge."),
    source_id: str = typer.Option(None, "--source-id", help="Who gave it (default: $USER)."),
    span_id: str = typer.Option(None, "--span-id", help="The span it is about."),
    experiment: str = EXPERIMENT,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Attach an expectation to a trace (the expected answer; datasets from traces keep it)."""
    from .views._assessments import parse_expected

    fields = {"trace_id": trace_id, "name": name, "source": source, "span_id": span_id}
    fields["source_id"] = source_id or _user()
    _log_assessment("expectation", fields, value, parse_expected, tracking_uri, experiment)


def _log_assessment(
    kind: str,
    fields: dict[str, Any],
    text: str,
    parse: Any,
    tracking_uri: str | None,
    experiment: str | None,
) -> None:
    """`traces feedback` / `traces expect`: parse the value, store it, say what was stored."""
    from .tracking import _assessments

    command = "traces feedback" if kind == "feedback" else "traces expect"
    with _one_line_errors():
        store = _store(tracking_uri, experiment)
        store.check()
        fields = {**fields, "value": parse(text)}
        (stored,) = _assessments.write(
            [_assessments.record(kind, command, fields)], store.tracking_uri
        )
    typer.echo(
        f"logged {kind} {fields['name']} = {json.dumps(stored.value)} on {fields['trace_id']}"
    )


def _user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return None


@traces_app.command("export")
def traces_export(
    trace_id: str = typer.Argument(..., help="The trace id (tr-...)."),
    html: str = typer.Option(None, "--html", help="Write a self-contained HTML page here."),
    json_file: str = typer.Option(None, "--json", help="Write the trace as MLflow JSON here."),
    experiment: str = EXPERIMENT,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Write one trace as a single HTML file (no network needed to open it) and/or JSON."""
    from .views._html import html_document
    from .views._model import build

    if html is None and json_file is None:
        typer.echo("error: say where to write: --html FILE and/or --json FILE", err=True)
        raise typer.Exit(2)
    with _one_line_errors():
        store = _store(tracking_uri, experiment)
        trace = store.get_trace(trace_id)
        if html is not None:
            Path(html).write_text(html_document(build(trace)), encoding="utf-8")
            typer.echo(f"wrote {html}")
        if json_file is not None:
            Path(json_file).write_text(trace.to_json(pretty=True) + "\n", encoding="utf-8")
            typer.echo(f"wrote {json_file}")


@traces_app.command("tail")
def traces_tail(
    session: str = typer.Option(None, "--session", help="Only this session's traces."),
    user: str = typer.Option(None, "--user", help="Only this user's traces."),
    status: str = typer.Option(None, "--status", help="OK or ERROR."),
    name: str = typer.Option(None, "--name", help="Trace name (% as wildcard)."),
    last: int = typer.Option(5, "--last", min=0, help="Show this many existing traces first."),
    interval: float = typer.Option(1.0, "--interval", min=0.05, help="Seconds between polls."),
    count: int = typer.Option(
        None, "--count", min=1, help="Stop after this many traces (default: run until Ctrl-C)."
    ),
    experiment: str = EXPERIMENT,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Follow new traces as they are stored, one line each (Ctrl-C to stop)."""
    from .views._store import build_filter
    from .views._tables import tail_header, tail_line

    with _one_line_errors():
        store = _store(tracking_uri, experiment)
        where = build_filter(session=session, user=user, status=status, name=name)
        store.experiment_id()
    seen: set[str] = set()
    shown = 0
    first = True
    _print(tail_header(_width()))
    try:
        while count is None or shown < count:
            with _one_line_errors():
                found = store.summaries(where, max_results=max(50, last))
            fresh = [v for v in reversed(found) if v.trace_id not in seen]
            if first:  # existing traces: show only the last N
                first = False
                seen.update(v.trace_id for v in fresh[: max(0, len(fresh) - last)])
                fresh = fresh[max(0, len(fresh) - last) :]
            for view in fresh:
                if view.status == "IN_PROGRESS":
                    continue  # shown once its root span is stored
                seen.add(view.trace_id)
                _print(tail_line(view, _width()))
                shown += 1
                if count is not None and shown >= count:
                    return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


@sessions_app.command("list")
def sessions_list(
    user: str = typer.Option(None, "--user", help="Only this user's sessions."),
    since: str = typer.Option(None, "--since", help="Active after: 30m, 2h, 1d or a date."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="At most this many sessions."),
    scan: int = typer.Option(2000, "--scan", min=1, help="Read at most this many traces."),
    experiment: str = EXPERIMENT,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """List conversations: session, user, turns, first and last turn, tokens, cost, errors."""
    from ._semconv import MLFLOW_TRACE_SESSION
    from .views._store import build_filter
    from .views._tables import sessions_table

    with _one_line_errors():
        store = _store(tracking_uri, experiment)
        where = build_filter(
            user=user, since=since, extra=f"metadata.`{MLFLOW_TRACE_SESSION}` IS NOT NULL"
        )
        sessions = store.sessions(where, scan=scan, limit=limit)
    if not sessions:
        _none_found(
            f"no sessions in experiment {store.experiment or 'Default'!r} at "
            f"{store.tracking_uri} (traces get one inside `with llmtrace.session(...)`)"
        )
    _print(sessions_table(sessions, _width()))


@sessions_app.command("show")
def sessions_show(
    session_id: str = typer.Argument(..., help="The session id."),
    limit: int = typer.Option(500, "--limit", "-n", min=1, help="At most this many turns."),
    experiment: str = EXPERIMENT,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """The conversation as a transcript: each turn's message and reply, latency, tokens, cost."""
    from .views._model import build
    from .views._store import build_filter
    from .views._transcript import transcript_lines

    with _one_line_errors():
        store = _store(tracking_uri, experiment)
        traces = store.search(
            build_filter(session=session_id),
            max_results=limit,
            order_by=["timestamp_ms ASC"],
            include_spans=True,
        )
        if not traces:
            raise LLMTraceError(
                f"no session {session_id!r} in experiment "
                f"{store.experiment or 'Default'!r} at {store.tracking_uri}; "
                "list them with `llmtrace sessions list`"
            )
        lines = transcript_lines(session_id, [build(t) for t in traces], _width())
    _print(lines)


@app.command()
def ui(
    port: int = typer.Option(5000, "--port", "-p", help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="Server worker processes."),
    timeout: float = typer.Option(180.0, "--timeout", help="Seconds to wait for the server."),
    experiment: str = EXPERIMENT,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Start the MLflow UI on the same store and print the URL of the experiment's traces."""
    from .views._ui import serve

    with _one_line_errors():
        store = _store(tracking_uri, experiment)
        serve(store, host=host, port=port, workers=workers, timeout=timeout, echo=typer.echo)


@app.command()
def monitor(
    since: str = typer.Option("24h", "--since", help="Window: 30m, 24h, 7d or a date."),
    by: str = typer.Option("span", "--by", help="Group by span, model, tool, session or user."),
    every: str = typer.Option(
        None, "--every", help="Bucket size: 15m, 1h, 1d (default: round, at most 36 buckets)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    fail_if: str = typer.Option(
        None, "--fail-if", help='Exit 1 when this holds, e.g. "error_rate > 0.05 or p95_ms > 2000".'
    ),
    experiment: str = EXPERIMENT,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Traces, errors, latency p50/p95/p99, tokens and cost over time and per group, worst first."""
    from .views._monitor import render, summarise
    from .views._monitor_check import ConditionError, parse_condition

    condition = None
    if fail_if is not None:
        try:
            condition = parse_condition(fail_if)
        except ConditionError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    with _one_line_errors():
        summary = summarise(_store(tracking_uri, experiment), since=since, every=every, by=by)
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        from rich.console import Console

        console = Console(highlight=False)
        console.print(render(summary, console.width))
    if condition is not None:
        from .views._monitor_figures import METRICS

        held, why = condition.holds({m: summary.total.value(m) for m in METRICS})
        if held:
            typer.echo(f"fail-if holds: {why}", err=True)
            raise typer.Exit(1)


@app.command()
def report(
    html: str = typer.Option(..., "--html", help="Write the report (one offline HTML file) here."),
    since: str = typer.Option("7d", "--since", help="Window: 24h, 7d, 30d or a date."),
    every: str = typer.Option(None, "--every", help="Bucket size of the time charts: 1h, 6h, 1d."),
    experiment: str = EXPERIMENT,
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Charts (with their tables) of latency, errors, tokens, cost, spans, users and scores."""
    from .views._report import report_html

    with _one_line_errors():
        page = report_html(_store(tracking_uri, experiment), since=since, every=every)
        Path(html).write_text(page, encoding="utf-8")
    typer.echo(f"wrote {html}")


def main() -> None:
    """Entry point of the ``llmtrace`` console script."""
    sys.exit(app())
