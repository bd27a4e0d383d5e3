"""The ``llmtrace`` command line (views grow here; see the trace-views issue)."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(help="Trace and evaluate LLM apps stored in MLflow.", no_args_is_help=True)
traces_app = typer.Typer(help="Look at stored traces.", no_args_is_help=True)
app.add_typer(traces_app, name="traces")


@app.command()
def version() -> None:
    """Print llmtrace's version."""
    from . import __version__

    typer.echo(__version__)


@traces_app.command("list")
def traces_list(
    experiment: str = typer.Option(None, help="Experiment name (default: configured one)."),
    limit: int = typer.Option(20, help="At most this many traces."),
    tracking_uri: str = typer.Option(None, help="Store (default: ./mlflow.db)."),
) -> None:
    """List the newest traces: id, name, status, duration, session."""
    import llmtrace

    from ._errors import LLMTraceError

    try:
        llmtrace.configure(tracking_uri=tracking_uri, experiment=experiment)
        traces = llmtrace.search_traces(max_results=limit)
    except LLMTraceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # store unreachable, bad experiment...
        typer.echo(f"error: {type(exc).__name__}: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(1) from None
    if not traces:
        typer.echo("no traces yet")
        return
    for t in traces:
        info = t.info
        session = info.trace_metadata.get("mlflow.trace.session", "")
        name = info.tags.get("mlflow.traceName", "")
        duration = f"{info.execution_duration or 0} ms"
        typer.echo(f"{info.trace_id}  {name:<24} {info.state.value:<8} {duration:>9}  {session}")


def main() -> None:
    """Entry point of the ``llmtrace`` console script."""
    sys.exit(app())
