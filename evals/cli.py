"""``llmtrace eval``: score a dataset (a CI gate), compare two runs, check a judge against people.

``run`` evaluates a JSONL/JSON/CSV file (or stored traces) with built-in metrics, logs the run
to the store like `evals.evaluate`, prints the aggregates and exits 1 when a ``--fail-under``
threshold is missed. ``compare`` reads two runs' ``eval/rows.json`` artifacts and prints the
per-metric deltas with a paired significance test and the rows that regressed most.
``agreement`` pairs a run's scores with people's labels (human feedback on its traces, or a
column) and prints accuracy, Cohen's κ, Krippendorff's alpha and the confusion matrices.

Exit codes: 0 ok; 1 a threshold failed (``run``), a significant regression with
``--fail-on-regression`` (``compare``), or the store could not be used; 2 a mistake in the
command or the data (unknown metric, bad ``--fail-under``, a column the metrics need is absent).

Only typer is imported here at import time (``llmtrace --help`` stays fast); evals, MLflow and
rich load when a command runs.

Example:
    $ llmtrace eval run qa.jsonl -m exact_match -m token_f1 --fail-under token_f1=0.8
    $ llmtrace eval run qa.jsonl -m faithfulness --judge gpt-4o-mini --fail-under faithfulness=0.7
    $ llmtrace eval run traces:my-app -m latency -m answer_relevancy --judge gpt-4o-mini
    $ llmtrace eval compare 1f0c9a... 7be2d4...
    $ llmtrace eval agreement 1f0c9a... --feedback correct
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from ._table import fmt as _fmt
from ._table import short as _short
from ._table import table as _table

if TYPE_CHECKING:
    from ._compare import Comparison, RunTable
    from ._result import EvaluationResult
    from ._types import Metric

app = typer.Typer(
    help="Evaluate LLM outputs: score a dataset (CI gate), compare runs, check a judge.",
    no_args_is_help=True,
)

TRACKING_URI = typer.Option(
    None, "--tracking-uri", help="Store (default: $LLMTRACE_TRACKING_URI, else ./mlflow.db)."
)
#: The names `metric_factories` knows (kept in step by a test; listed in ``eval run --help``).
METRIC_NAMES = (
    "answer_chars answer_words bleu contains cost exact_match exact_match_normalized "
    "id_based_context_precision id_based_context_recall json_valid latency levenshtein "
    "non_llm_context_precision non_llm_context_recall num_steps rouge1 rouge2 rouge_l token_f1 "
    "tokens tool_call_accuracy tool_call_f1 trajectory_match"
)
JUDGE_METRIC_NAMES = (
    "answer_relevancy context_precision context_recall faithfulness task_completion"
)
RUN_METRICS = typer.Option(
    ...,
    "--metric",
    "-m",
    help=(
        f"A built-in metric (repeatable): {', '.join(METRIC_NAMES.split())}; with --judge: "
        f"{', '.join(JUDGE_METRIC_NAMES.split())}."
    ),
)
FAIL_UNDER = typer.Option(
    [],
    "--fail-under",
    help="METRIC=MIN or METRIC/STAT=MIN (STAT: mean, p50, pass_rate): exit 1 below it.",
)
COMPARE_METRICS = typer.Option(
    [], "--metric", "-m", help="Only these metrics (result names, repeatable)."
)
LOWER_IS_BETTER = typer.Option(
    [], "--lower-is-better", help="More metrics where lower is better (latency_s etc. are)."
)


def metric_factories() -> dict[str, Callable[[], Metric]]:
    """Built-in metrics by CLI name (each metric's own result name is accepted too).

    Example:
        >>> sorted(metric_factories())[:3]
        ['answer_chars', 'answer_relevancy', 'answer_words']
    """
    from . import judge
    from . import metrics as m

    factories: dict[str, Callable[[], Metric]] = {
        "answer_chars": lambda: m.answer_length("chars"),
        "answer_words": lambda: m.answer_length("words"),
        "bleu": m.bleu,
        "contains": m.contains,
        "cost": m.cost,
        "exact_match": m.exact_match,
        "exact_match_normalized": lambda: m.exact_match(
            normalize=True, name="exact_match_normalized"
        ),
        "id_based_context_precision": m.id_based_context_precision,
        "id_based_context_recall": m.id_based_context_recall,
        "json_valid": m.json_valid,
        "latency": m.latency,
        "levenshtein": m.levenshtein,
        "non_llm_context_precision": m.non_llm_context_precision,
        "non_llm_context_recall": m.non_llm_context_recall,
        "num_steps": m.num_steps,
        "rouge1": m.rouge1,
        "rouge2": m.rouge2,
        "rouge_l": m.rouge_l,
        "token_f1": m.token_f1,
        "tokens": m.tokens,
        "tool_call_accuracy": m.tool_call_accuracy,
        "tool_call_f1": m.tool_call_f1,
        "trajectory_match": m.trajectory_match,
        # judge metrics (need --judge)
        "answer_relevancy": judge.AnswerRelevancy,
        "context_precision": judge.ContextPrecision,
        "context_recall": judge.ContextRecall,
        "faithfulness": judge.Faithfulness,
        "task_completion": judge.TaskCompletion,
    }
    return dict(sorted(factories.items()))


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """A `ValueError` (bad data or arguments) → exit 2; anything else → exit 1; one line each."""
    try:
        yield
    except typer.Exit:
        raise
    except ValueError as exc:
        raise _usage_error((str(exc).strip().splitlines() or ["invalid value"])[0]) from None
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        typer.echo(f"error: {type(exc).__name__}: {first}", err=True)
        raise typer.Exit(1) from None


def resolve_metrics(names: list[str]) -> list[Metric]:
    """The metrics named on the command line; a `ValueError` listing the valid names otherwise.

    Example:
        >>> [m.name for m in resolve_metrics(["token_f1", "rouge_l"])]
        ['token_f1', 'rouge_l']
    """
    factories = metric_factories()
    made = {name: factory() for name, factory in factories.items()}
    by_result_name = {metric.name: metric for metric in made.values()}
    chosen: list[Metric] = []
    for name in names:
        metric = made.get(name) or by_result_name.get(name)
        if metric is None:
            raise ValueError(f"unknown metric {name!r}; valid: {', '.join(factories)}")
        if metric not in chosen:
            chosen.append(metric)
    return chosen


@dataclass(frozen=True)
class Gate:
    """One ``--fail-under METRIC[/STAT]=MIN`` condition (STAT: mean, default, or pass_rate/p50)."""

    metric: str
    stat: str
    minimum: float

    def value(self, result: EvaluationResult) -> float | None:
        """The aggregate this gate checks."""
        value = result.aggregates[self.metric].get(self.stat)
        return None if value is None else float(value)

    def passed(self, result: EvaluationResult) -> bool:
        """True when the aggregate exists and is ``>= minimum``."""
        value = self.value(result)
        return value is not None and not math.isnan(value) and value >= self.minimum


_GATE_STATS = ("mean", "p50", "pass_rate")


def parse_gates(specs: list[str], metrics: list[Metric]) -> list[Gate]:
    """``["token_f1=0.8", "faithfulness/pass_rate=0.9"]`` → gates on the chosen metrics.

    A gate may name a metric by its CLI name or its result name; a `ValueError` otherwise.

    Example:
        >>> parse_gates(["rouge_l=0.5"], resolve_metrics(["rouge_l"]))
        [Gate(metric='rouge_l', stat='mean', minimum=0.5)]
    """
    aliases = {m.name: m.name for m in metrics}
    for cli_name, factory in metric_factories().items():
        result_name = factory().name
        if result_name in aliases:
            aliases[cli_name] = result_name
    gates = []
    for spec in specs:
        target, sep, number = spec.partition("=")
        name, _, stat = target.strip().partition("/")
        stat = stat or "mean"
        try:
            minimum = float(number)
        except ValueError:
            minimum = math.nan
        if not sep or math.isnan(minimum) or stat not in _GATE_STATS:
            raise ValueError(
                f"--fail-under {spec!r}: write METRIC=MIN or METRIC/STAT=MIN with STAT one of "
                f"{', '.join(_GATE_STATS)}, e.g. token_f1=0.8"
            )
        if name not in aliases:
            raise ValueError(
                f"--fail-under {spec!r}: {name!r} is not among the --metric given "
                f"({', '.join(m.name for m in metrics)})"
            )
        gates.append(Gate(aliases[name], stat, minimum))
    return gates


def _load_data(data: str, limit: int) -> Any:
    """A file path as it is; ``traces:`` / ``traces:EXPERIMENT`` → that experiment's traces."""
    if not data.startswith("traces:"):
        return data
    import llmtrace

    experiment = data[len("traces:") :] or None
    try:
        found = llmtrace.search_traces(
            experiment=experiment, max_results=limit, return_type="pandas"
        )
    except llmtrace.LLMTraceError as exc:
        if type(exc) is not llmtrace.LLMTraceError:  # a store error, not a mistyped name
            raise
        raise ValueError(str(exc)) from None  # an unknown experiment: a mistake in the command
    if len(found) == 0:
        where = experiment or llmtrace.current_config().experiment or "Default"
        raise ValueError(f"no traces in experiment {where!r} to evaluate")
    return found


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _print_run(
    result: EvaluationResult, gates: list[Gate], tracking_uri: str, experiment: str
) -> None:
    by_metric: dict[str, list[Gate]] = {}
    for gate in gates:
        by_metric.setdefault(gate.metric, []).append(gate)
    from ._table import summary_table

    checks = {
        name: [
            f"{'ok' if g.passed(result) else 'FAIL'} {'' if g.stat == 'mean' else g.stat}"
            f">={g.minimum:g}"
            for g in metric_gates
        ]
        for name, metric_gates in by_metric.items()
    }
    table = summary_table(result, checks)
    console = _console()
    console.print(table)
    usage = result.judge_usage
    if usage:
        cost = usage.get("cost_usd")
        console.print(
            f"judge: {usage.get('calls', 0)} calls, {usage.get('cached_calls', 0)} from cache, "
            f"{usage.get('prompt_tokens', 0)} + {usage.get('completion_tokens', 0)} tokens, "
            f"cost {'unknown (no price)' if cost is None else f'${cost:.4f}'}"
        )
    if result.unscored_by_budget:
        console.print(f"{result.unscored_by_budget} scores left out by the budget")
    if result.run_id:
        console.print(
            f"run {result.run_id} (experiment {experiment!r}) in {tracking_uri}; "
            f"rows: artifact eval/rows.json; see it with `llmtrace ui"
            f"{'' if experiment == 'Default' else f' -e {experiment}'}`",
            markup=False,
        )
    if result.log_error:
        console.print(
            f"warning: not everything was logged to MLflow: {result.log_error}", markup=False
        )
    failed = [g for g in gates if not g.passed(result)]
    for gate in failed:
        console.print(
            f"FAILED: {gate.metric} {gate.stat} {_fmt(gate.value(result))} < {gate.minimum:g}"
        )
    if gates and not failed:
        console.print(f"passed: all {len(gates)} --fail-under thresholds met")


@app.command("run")
def run(
    data: str = typer.Argument(
        ...,
        help="A .jsonl/.json/.csv file, traces:EXPERIMENT (traces: the default one), or "
        "dataset:NAME[@VERSION] (from evals.datasets.from_traces).",
    ),
    metric: list[str] = RUN_METRICS,
    judge: str = typer.Option(None, "--judge", help="Judge model for judge metrics."),
    base_url: str = typer.Option(
        None, "--base-url", help="OpenAI-compatible endpoint of the judge (default: OpenAI)."
    ),
    fail_under: list[str] = FAIL_UNDER,
    experiment: str = typer.Option(None, "--experiment", "-e", help="Experiment of the run."),
    run_name: str = typer.Option(None, "--run-name", help="Name of the MLflow run."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    max_concurrency: int = typer.Option(8, "--max-concurrency", min=1, help="Rows at once."),
    budget_usd: float = typer.Option(None, "--budget-usd", min=0, help="Judge spend limit."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the judge cache."),
    limit: int = typer.Option(1000, "--limit", min=1, help="At most this many traces."),
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Score DATA with the metrics, log the run, print the aggregates; exit 1 if a gate fails."""
    with _one_line_errors():
        chosen = resolve_metrics(metric)
        gates = parse_gates(fail_under, chosen)
        if judge is None and any(m.needs_judge for m in chosen):
            names = ", ".join(m.name for m in chosen if m.needs_judge)
            raise ValueError(f"judge metric(s) {names}: add --judge MODEL (and --base-url URL)")
    with _one_line_errors():
        import llmtrace

        from ._evaluate import evaluate

        if tracking_uri is not None:
            llmtrace.configure(tracking_uri=tracking_uri)
        uri = llmtrace.current_config().tracking_uri
        the_judge = None
        if judge is not None:
            from .judge import OpenAIJudge

            the_judge = OpenAIJudge(judge, base_url=base_url)
        result = evaluate(
            _load_data(data, limit),
            chosen,
            judge=the_judge,
            experiment=experiment,
            run_name=run_name,
            max_concurrency=max_concurrency,
            cache=not no_cache,
            budget_usd=budget_usd,
        )
        llmtrace.flush()
    failed = [g for g in gates if not g.passed(result)]
    if as_json:
        payload = {
            "run_id": result.run_id,
            "experiment_id": result.experiment_id,
            "tracking_uri": uri,
            "rows": len(result.table),
            "aggregates": result.aggregates,
            "judge_usage": result.judge_usage,
            "unscored_by_budget": result.unscored_by_budget,
            "log_error": result.log_error,
            "gates": [
                {**vars(g), "value": g.value(result), "passed": g.passed(result)} for g in gates
            ],
            "passed": not failed,
        }
        typer.echo(json.dumps(payload, indent=2, default=str))
    else:
        _print_run(
            result, gates, uri, experiment or llmtrace.current_config().experiment or "Default"
        )
    if failed:
        raise typer.Exit(1)


def _resolve_run(client: Any, ref: str, latest: bool = False) -> Any:
    """A run by id, else the run with that name (any experiment).

    A name several runs share is a `ValueError` listing them with their start times, unless
    ``latest`` picks the newest.
    """
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(ref)
    except MlflowException:
        pass
    experiments = [e.experiment_id for e in client.search_experiments()]
    escaped = ref.replace("'", "\\'")
    runs = client.search_runs(
        experiments,
        filter_string=f"attributes.run_name = '{escaped}'",
        order_by=["attributes.start_time DESC"],
        max_results=50,
    )
    if not runs:
        raise ValueError(f"no run with id or name {ref!r} in this store")
    if len(runs) > 1 and not latest:
        import time

        listed = "; ".join(
            f"{r.info.run_id} started "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(r.info.start_time / 1000))} UTC"
            for r in runs[:10]
        )
        more = f" and {len(runs) - 10} more" if len(runs) > 10 else ""
        raise ValueError(
            f"run name {ref!r} matches {len(runs)} runs (newest first): {listed}{more}; "
            "pass a run id, or --latest for the newest run of each name"
        )
    return runs[0]


@contextmanager
def _no_progress_bar() -> Iterator[None]:
    """MLflow's artifact download bar off for the block (it is noise for a 1-file download)."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    saved = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def load_run(client: Any, ref: str, latest: bool = False) -> RunTable:
    """The per-row table (artifact ``eval/rows.json``) of the run ``ref`` (id or name)."""
    import tempfile

    from mlflow.exceptions import MlflowException

    from ._compare import RunTable, read_rows_json

    run = _resolve_run(client, ref, latest)
    run_id = run.info.run_id
    with tempfile.TemporaryDirectory() as folder, _no_progress_bar():
        try:
            path = client.download_artifacts(run_id, "eval/rows.json", folder)
        except (MlflowException, OSError):
            raise ValueError(
                f"run {run_id} has no eval/rows.json artifact: is it an evals.evaluate run?"
            ) from None
        rows = read_rows_json(path)
    return RunTable(run_id, run.info.run_name, rows)


_VERDICTS = {
    "better": "better",
    "worse": "WORSE",
    "no significant change": "n.s.",
    "n/a": "n/a",
}


def _print_comparison(comparison: Comparison, alpha: float) -> None:
    c = comparison
    console = _console()
    for label, run in (("A", c.run_a), ("B", c.run_b)):
        console.print(
            f"{label}: run {run.run_id} ({run.run_name or '-'}), {len(run.rows)} rows",
            markup=False,
        )
    console.print(
        f"paired by {c.key}: {c.matched} rows in both, {c.only_a} only in A, {c.only_b} only in B",
        markup=False,
    )
    headers = ("metric", "n", "A", "B", "Δ", "95% CI", "p", "verdict", "+err")
    cells: list[list[str]] = []
    for m in c.metrics:
        t = m.test
        if t is None:
            cells.append(
                [_short(m.name, 60), "0", "-", "-", "-", "-", "-", "n/a", str(m.new_errors)]
            )
            continue
        cells.append(
            [
                _short(m.name, 60) + ("" if m.higher_is_better else " (↓)"),
                str(t.n),
                _fmt(t.mean_a),
                _fmt(t.mean_b),
                _fmt(t.delta, sign="+"),
                f"{_fmt(t.ci_low, 2, '+')}..{_fmt(t.ci_high, 2, '+')}",
                f"{t.p_value:.4f}" + ("" if t.exact else "*"),
                _VERDICTS[m.verdict(alpha)],
                str(m.new_errors),
            ]
        )
    widest = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    tight = sum(widest) + 2 * len(headers) + 2 > console.width
    table = _table("Per metric: Δ = mean(B) - mean(A) over rows scored in both", tight)
    for i, column in enumerate(headers):
        table.add_column(  # the figures keep their width; a long metric name wraps instead
            column,
            justify="left" if column in ("metric", "verdict") else "right",
            no_wrap=i > 0,
            min_width=min(widest[i], 12) if i == 0 else widest[i],
            overflow="fold",
        )
    for row in cells:
        table.add_row(*row)
    console.print(table)
    console.print(
        f"p: two-sided paired permutation test (sign flip; exact, or * {c.resamples} seeded "
        f"resamples, seed {c.seed}); 95% CI: paired bootstrap; n.s.: p >= {alpha:g}; "
        "(↓): lower is better; +err: rows scored in A with an error in B"
    )
    if not c.regressions:
        console.print("no row regressed")
        return
    rows = _table(f"Rows that regressed most (up to {c.top} per metric)")
    for column in ("metric", c.key, "A", "B", "change"):
        rows.add_column(column, justify="right" if column in ("A", "B", "change") else "left")
    for r in c.regressions:
        rows.add_row(
            _short(r.metric, 60),
            _short(r.key),
            _fmt(r.a),
            "error" if r.b is None else _fmt(r.b),
            "error" if r.b is None else _fmt(r.change, sign="+"),
        )
    console.print(rows)


@app.command("compare")
def compare(
    run_a: str = typer.Argument(..., help="The baseline run (id or name)."),
    run_b: str = typer.Argument(..., help="The new run (id or name)."),
    metric: list[str] = COMPARE_METRICS,
    key: str = typer.Option(
        "auto", "--key", help="Pair rows by: auto, trace_id, question, row (position)."
    ),
    lower_is_better: list[str] = LOWER_IS_BETTER,
    top: int = typer.Option(5, "--top", min=0, help="Regressed rows shown per metric."),
    resamples: int = typer.Option(10_000, "--resamples", min=100, help="Test resamples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the resampling."),
    alpha: float = typer.Option(0.05, "--alpha", min=0.0, max=1.0, help="Significance level."),
    fail_on_regression: bool = typer.Option(
        False, "--fail-on-regression", help="Exit 1 when a metric is significantly worse."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    latest: bool = typer.Option(
        False, "--latest", help="A run name several runs share means the newest of them."
    ),
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Per-metric deltas of RUN_B against RUN_A, paired by row, with significance."""
    with _one_line_errors():
        import llmtrace

        from ._compare import LOWER_IS_BETTER
        from ._compare import compare as compare_runs

        if tracking_uri is not None:  # read as llmtrace reads it (a plain .db path is SQLite)
            llmtrace.configure(tracking_uri=tracking_uri)
        client = llmtrace.client()
        table_a, table_b = load_run(client, run_a, latest), load_run(client, run_b, latest)
        if table_a.run_id == table_b.run_id:
            raise ValueError(
                f"A and B are the same run ({table_a.run_id}): name two different runs"
            )
        comparison = compare_runs(
            table_a,
            table_b,
            key=key,
            metrics=metric or None,
            lower_is_better=LOWER_IS_BETTER | set(lower_is_better),
            resamples=resamples,
            seed=seed,
            top=top,
        )
    if as_json:
        typer.echo(json.dumps(comparison.to_json(alpha), indent=2, default=str))
    else:
        _print_comparison(comparison, alpha)
    if fail_on_regression and any(m.verdict(alpha) == "worse" for m in comparison.metrics):
        raise typer.Exit(1)


def _category(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _print_agreement(report: Any, run_ref: str) -> None:
    console = _console()
    console.print(
        f"run {report.run_id or run_ref}: judge against people's labels {report.labels!r}",
        markup=False,
    )
    table = _table("Agreement per metric (kappa: Cohen's; alpha: Krippendorff's)")
    for column in ("metric", "scale", "n", "missing", "accuracy", "kappa", "w.kappa", "alpha"):
        table.add_column(column, justify="left" if column in ("metric", "scale") else "right")
    for name, m in report.metrics.items():
        table.add_row(
            _short(name, 60),
            m.scale + ("" if m.threshold is None else f" (>={m.threshold:g})"),
            str(m.n),
            str(m.n_missing),
            _fmt(m.accuracy),
            _fmt(m.kappa),
            _fmt(m.weighted_kappa),
            _fmt(m.alpha),
        )
    console.print(table)
    for name, m in report.metrics.items():
        if not m.categories:
            continue
        console.print(f"{name}: confusion (rows: people, columns: judge)", markup=False)
        matrix = _table("")
        matrix.add_column("people \\ judge")
        for category in m.categories:
            matrix.add_column(_short(_category(category), 12), justify="right")
        for category, counts in zip(m.categories, m.confusion, strict=True):
            matrix.add_row(_short(_category(category), 12), *(str(c) for c in counts))
        console.print(matrix)
        if m.disagreements:
            rows = _table(f"{name}: rows where judge and people disagree most")
            for column in ("row", "trace_id", "question", "judge", "people", "judge's reason"):
                rows.add_column(
                    column, justify="right" if column in ("judge", "people") else "left"
                )
            for d in m.disagreements:
                rows.add_row(
                    _short(str(d.row), 8),
                    _short(d.trace_id or "-", 36),
                    _short(d.question or "-", 30),
                    _category(d.judge),
                    _category(d.human),
                    _short(d.reason or "-", 40),
                )
            console.print(rows)
    if report.log_error:
        console.print(f"warning: not logged on the run: {report.log_error}", markup=False)
    elif report.run_id:
        console.print(
            f"logged on run {report.run_id}: metrics agreement/{report.labels}/..., "
            f"artifacts agreement/{report.labels}.json and agreement/{report.labels}_summary.json",
            markup=False,
        )


@app.command("agreement")
def agreement(
    run_ref: str = typer.Argument(..., metavar="RUN", help="The evaluation run (id or name)."),
    feedback: str = typer.Option(
        None, "--feedback", "-f", help="People's labels: human feedback NAME on the traces."
    ),
    column: str = typer.Option(
        None, "--column", "-c", help="People's labels: a column of the evaluated data."
    ),
    metric: list[str] = COMPARE_METRICS,
    scale: str = typer.Option(
        "auto", "--scale", help="auto, nominal, ordinal (rubric scores) or interval."
    ),
    threshold: float = typer.Option(
        None, "--threshold", help="Compare pass/fail: numbers >= THRESHOLD pass (both sides)."
    ),
    top: int = typer.Option(5, "--top", min=0, help="Disagreeing rows shown per metric."),
    no_log: bool = typer.Option(False, "--no-log", help="Do not log the figures on the run."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Does the judge agree with people? Accuracy, Cohen's kappa, Krippendorff's alpha."""
    with _one_line_errors():
        if (feedback is None) == (column is None):
            raise ValueError("give the people's labels: --feedback NAME or --column NAME")
        import llmtrace

        from ._agreement import agreement as agree

        uri = tracking_uri or llmtrace.current_config().tracking_uri
        report = agree(
            run_ref,
            feedback or column,
            metrics=metric or None,
            source="feedback" if feedback is not None else "column",
            scale=scale,
            threshold=threshold,
            top=top,
            log=not no_log,
            tracking_uri=uri,
        )
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, default=str))
    else:
        _print_agreement(report, run_ref)
@app.command("watch")
def watch_command(
    source: str = typer.Argument(
        None, help="traces:EXPERIMENT whose new traces to score (default: the configured one)."
    ),
    metric: list[str] = RUN_METRICS,
    judge: str = typer.Option(None, "--judge", help="Judge model for judge metrics."),
    base_url: str = typer.Option(
        None, "--base-url", help="OpenAI-compatible endpoint of the judge (default: OpenAI)."
    ),
    sample: float = typer.Option(1.0, "--sample", help="Share of traces to score, e.g. 0.1."),
    filter_string: str = typer.Option(
        None, "--filter", help="MLflow trace filter, e.g. \"status = 'OK'\"."
    ),
    budget_usd: float = typer.Option(None, "--budget-usd", min=0, help="Judge spend limit."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the judge cache."),
    max_traces: int = typer.Option(None, "--max-traces", min=1, help="Stop after this many."),
    until: str = typer.Option(None, "--until", help="Stop at: 30m, 8h from now, or an ISO time."),
    since: str = typer.Option(
        None, "--since", help="First start only: also score traces since 1h, 1d or a date."
    ),
    poll: float = typer.Option(2.0, "--poll", min=0.05, help="Seconds between searches."),
    name: str = typer.Option(None, "--name", help="Watcher name (its checkpoint and mark)."),
    tracking_uri: str = TRACKING_URI,
) -> None:
    """Score new traces as they are stored, as feedback on each (Ctrl-C or SIGTERM to stop)."""
    experiment = None
    if source is not None:
        if not source.startswith("traces:"):
            raise _usage_error(f"{source!r}: write traces:EXPERIMENT (or nothing)")
        experiment = source[len("traces:") :] or None
    with _one_line_errors():
        chosen = resolve_metrics(metric)
        if judge is None and any(m.needs_judge for m in chosen):
            names = ", ".join(m.name for m in chosen if m.needs_judge)
            raise ValueError(f"judge metric(s) {names}: add --judge MODEL (and --base-url URL)")
    with _one_line_errors():
        import llmtrace

        from ._watch import watch

        if tracking_uri is not None:
            llmtrace.configure(tracking_uri=tracking_uri)
        the_judge = None
        if judge is not None:
            from .judge import OpenAIJudge

            the_judge = OpenAIJudge(judge, base_url=base_url)
        typer.echo("watching for new traces (Ctrl-C to stop)", err=True)
        result = watch(
            chosen, experiment=experiment, judge=the_judge, sample=sample,
            filter_string=filter_string, budget_usd=budget_usd, cache=not no_cache,
            max_traces=max_traces, until=until, since=since, poll_s=poll, name=name,
        )  # fmt: skip
        llmtrace.flush()
    typer.echo(
        f"{result.name}: scored {result.traces_scored} traces ({result.scores_written} scores, "
        f"{result.errors} errors, {result.sampled_out} sampled out); stopped: {result.stopped}"
    )
