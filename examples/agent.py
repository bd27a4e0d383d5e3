"""A traced tool-using agent: plan -> call a tool -> observe, until it can answer.

One task becomes one trace: an AGENT span (the loop), and under it an LLM span for each
planning step and a TOOL span for each tool call. The weather service fails on its first
call (a timeout); the agent retries it, so the trace shows the failed TOOL span (status ERROR,
with the exception recorded) next to the retry that worked, and the task still succeeds.

The planner is a deterministic stand-in for a model choosing tools (no API key, no network).

Run it from any folder; traces land in ./mlflow.db:

    python examples/agent.py
"""

from __future__ import annotations

import ast
import json
import operator
import re
from collections.abc import Callable
from typing import Any

import llmtrace

EXPERIMENT = "agent"
MAX_STEPS = 6
MAX_ATTEMPTS = 3


# -- tools ------------------------------------------------------------------------------------
class WeatherServiceTimeout(TimeoutError):
    """The (simulated) weather service did not answer in time."""


_weather_calls = 0


@llmtrace.trace(kind="TOOL", name="get_weather")
def get_weather(city: str) -> dict[str, Any]:
    """Current weather in a city. The first call of the run times out, as real services do."""
    global _weather_calls
    _weather_calls += 1
    if _weather_calls == 1:
        raise WeatherServiceTimeout(f"weather service timed out after 2.0 s for {city!r}")
    table = {"paris": (18, "light rain"), "tokyo": (24, "sunny"), "oslo": (6, "cloudy")}
    celsius, sky = table.get(city.lower(), (20, "clear"))
    return {"city": city, "celsius": celsius, "sky": sky}


_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


@llmtrace.trace(kind="TOOL", name="calculator")
def calculator(expression: str) -> float:
    """Evaluate + - * / arithmetic (safely: no names, no calls)."""

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return float(_OPS[type(node.op)](ev(node.left), ev(node.right)))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise ValueError(f"unsupported expression: {expression!r}")

    return round(ev(ast.parse(expression, mode="eval").body), 2)


TOOLS: dict[str, Callable[..., Any]] = {"get_weather": get_weather, "calculator": calculator}


# -- the model stand-in -----------------------------------------------------------------------
@llmtrace.trace(kind="LLM", name="plan")
def plan(task: str, observations: list[dict[str, Any]]) -> dict[str, Any]:
    """Choose the next step, as a chat model with tools would: a tool call or a final answer."""
    done = {o["tool"]: o["result"] for o in observations if "result" in o}
    city = re.search(r"in ([A-Z][a-z]+)", task)
    if city and "get_weather" not in done:
        return {"tool": "get_weather", "arguments": {"city": city.group(1)}}
    if "fahrenheit" in task.lower() and "calculator" not in done:
        celsius = done["get_weather"]["celsius"]
        return {"tool": "calculator", "arguments": {"expression": f"{celsius} * 9 / 5 + 32"}}
    weather = done.get("get_weather", {})
    text = f"It is {weather.get('sky', 'unknown')} in {weather.get('city', '?')}"
    if "calculator" in done:
        text += f", {done['calculator']} °F ({weather['celsius']} °C)."
    else:
        text += f", {weather.get('celsius')} °C."
    return {"answer": text}


# -- the agent loop ---------------------------------------------------------------------------
def call_tool(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a tool, retrying failures; each attempt is its own TOOL span."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return {"tool": name, "result": TOOLS[name](**arguments), "attempts": attempt}
        except Exception as exc:  # recorded on the tool's span by @trace; retry
            print(f"    {name} failed (attempt {attempt}): {type(exc).__name__}: {exc}")
            llmtrace.current_span().add_event(
                "tool_retry", {"tool": name, "attempt": attempt, "error": str(exc)}
            )
    return {"tool": name, "error": f"failed {MAX_ATTEMPTS} times"}


@llmtrace.trace(kind="AGENT", name="weather-agent")
def run_agent(task: str) -> str:
    """Plan, act, observe until the planner answers (or MAX_STEPS)."""
    observations: list[dict[str, Any]] = []
    for _ in range(MAX_STEPS):
        step = plan(task, observations)
        if "answer" in step:
            return str(step["answer"])
        print(f"    -> {step['tool']}({json.dumps(step['arguments'])})")
        observations.append(call_tool(step["tool"], step["arguments"]))
    return "I could not finish the task."


def main() -> None:
    llmtrace.set_experiment(EXPERIMENT)
    print(f"Store: {llmtrace.current_config().tracking_uri}   experiment: {EXPERIMENT!r}\n")
    tasks = ["What's the weather in Paris, in fahrenheit?", "What's the weather in Oslo?"]
    trace_ids = []
    with llmtrace.session("agent-demo", user="workshop"):
        for task in tasks:
            print(f"Task: {task}")
            with llmtrace.span("task", kind="CHAIN", inputs={"task": task}) as root:
                reply = run_agent(task)
                root.set_outputs(reply)
            trace_ids.append(root.trace_id)
            print(f"Answer: {reply}\n    trace {root.trace_id}\n")

    trace = llmtrace.get_trace(trace_ids[0])  # flushes, then reads back through MLflow
    print(f"Trace {trace_ids[0]}: state {trace.info.state.value}")
    for sp in sorted(trace.data.spans, key=lambda s: s.start_time_ns):
        line = f"  {sp.name:<15} [{sp.span_type:<5}] {sp.status.status_code.value}"
        errors = [e for e in sp.events if e.name == "exception"]
        if errors:
            attrs = errors[0].attributes
            line += f"  <- {attrs.get('exception.type')}: {attrs.get('exception.message')}"
        print(line)
    print(
        "\nWhere to look:\n"
        f"  llmtrace traces list --experiment {EXPERIMENT}\n"
        f"  llmtrace traces show {trace_ids[0]} --experiment {EXPERIMENT}\n"
        f"  llmtrace ui --experiment {EXPERIMENT}   # the MLflow UI: the failed get_weather span "
        "is red, with its exception under Events"
    )


if __name__ == "__main__":
    main()
