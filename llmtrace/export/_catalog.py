"""MLflow's bundled model price catalog, read without importing MLflow: a span's cost.

When MLflow's SQL store writes a span with token usage and a model but no cost, its
translation step (`translate_span_when_storing`) calls
`mlflow.tracing.utils.calculate_cost_by_model_and_token_usage`, which, without LiteLLM
installed, prices the tokens with `mlflow.utils.providers.cost_per_token` from the JSON files
in ``mlflow/utils/model_catalog/`` (one per provider, ``schema_version`` 1.0, prices per
million tokens). `cost` computes the same dictionary from the same files, read lazily and
cached, for MLflow 3.17 (whose code this module follows). Wherever MLflow's answer could rest
on something this module does not read -- another MLflow release, LiteLLM importable (MLflow
uses its prices then), a remote catalog (``MLFLOW_MODEL_CATALOG_URI`` not empty, and a
provider named), a catalog file of another form, a provider name that is a path -- it raises
`Unchecked` and the caller asks MLflow itself. ``tests/export/test_translate.py`` compares
`cost` with MLflow's function.

Example:
    >>> cost("gpt-4o-mini", {"input_tokens": 1000, "output_tokens": 10}, "openai")
    {'input_cost': 0.00015, 'output_cost': 6e-06, 'total_cost': 0.000156}
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from ._translate import CHECKED_MLFLOW

CATALOG_URI_ENV = "MLFLOW_MODEL_CATALOG_URI"
_SKIP_PREFIXES = ("gateway:/", "endpoints:/")
_DATABRICKS = ("databricks-", "databricks/")
_PRICES = (  # catalog key per million tokens, in the order of `_Info`
    "input_per_million_tokens", "output_per_million_tokens", "cache_read_per_million_tokens",
    "cache_write_per_million_tokens", "cache_write_1hr_per_million_tokens",
)  # fmt: skip
_Info = tuple[Any, ...]
"""(input, output, cache read, cache creation, 1-hour cache creation) USD per token, None where
the catalog gives none: the fields of MLflow's `ModelInfo` that `cost_per_token` reads."""


class Unchecked(Exception):
    """MLflow's answer may rest on something this module does not read: ask MLflow."""


@functools.cache
def _catalog_dir() -> Path:
    """MLflow's ``utils/model_catalog`` folder, after the checks of the module doc."""
    try:
        version = importlib.metadata.version("mlflow")
        spec = importlib.util.find_spec("mlflow")  # top level: does not import it
        litellm = importlib.util.find_spec("litellm")
    except Exception as exc:
        raise Unchecked(f"no MLflow or LiteLLM spec ({exc})") from exc
    if not version.startswith(CHECKED_MLFLOW):
        raise Unchecked(f"MLflow {version}")
    if litellm is not None:
        raise Unchecked("LiteLLM is importable: MLflow prices with it")
    if spec is None or not spec.origin or not spec.origin.endswith("__init__.py"):
        raise Unchecked("MLflow is not a plain package folder")
    utils = Path(spec.origin).parent / "utils"
    if not (utils / "__init__.py").is_file():
        raise Unchecked("MLflow is not a plain package folder")
    return utils / "model_catalog"


@functools.cache
def _provider_names() -> frozenset[str]:
    """MLflow's `_list_provider_names` (as a set: the scan order is `_scan_order`)."""
    return frozenset(_scan_order())


@functools.cache
def _scan_order() -> tuple[str, ...]:
    try:
        return tuple(sorted(p.stem for p in _catalog_dir().glob("*.json") if p.is_file()))
    except OSError as exc:
        raise Unchecked(f"catalog not listed ({exc})") from exc


def _rate(pricing: dict[str, Any], key: str) -> float | None:
    value = pricing.get(key)
    if value is None:
        return None
    if type(value) not in (int, float):
        raise Unchecked(f"a price of another form: {value!r}")
    return value / 1_000_000  # as MLflow's `_flatten_catalog_entry`


@functools.cache
def _provider(name: str) -> dict[str, _Info]:
    """One provider file, checked (`Unchecked` if not of the form read here), as `_Info`s."""
    try:
        catalog = json.loads((_catalog_dir() / f"{name}.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise Unchecked(f"catalog file {name}.json unreadable ({exc})") from exc
    if not isinstance(catalog, dict) or catalog.get("schema_version") != "1.0":
        raise Unchecked(f"catalog file {name}.json of another schema")
    models = catalog.get("models", {})
    if not isinstance(models, dict):
        raise Unchecked(f"catalog file {name}.json of another schema")
    out: dict[str, _Info] = {}
    for model, entry in models.items():
        if not isinstance(entry, dict):
            raise Unchecked(f"catalog entry {name}/{model} of another form")
        for part in ("context_window", "pricing", "capabilities"):
            if (found := entry.get(part)) and not isinstance(found, dict):
                raise Unchecked(f"catalog entry {name}/{model} of another form")
        pricing = entry.get("pricing") or {}
        out[model] = tuple(_rate(pricing, key) for key in _PRICES)
    return out


def _lookup(model: str, provider: str | None) -> _Info | None:
    """MLflow's `_lookup_model_info` on the bundled catalog."""
    bare = model.split("/", 1)[-1]
    if provider:
        if "/" in provider or "\\" in provider:
            raise Unchecked("a provider name that is a path")
        if provider not in _provider_names():
            return None  # MLflow finds no such file: {}
        return _provider(provider).get(bare)
    fallback = None
    for name in _scan_order():
        if (info := _provider(name).get(bare)) is not None:
            if info[0]:
                return info
            if fallback is None:
                fallback = info
    return fallback


def _cost_per_token(
    model: str,
    prompt_tokens: Any,
    completion_tokens: Any,
    provider: str | None = None,
    cache_read_input_tokens: Any = None,
    cache_creation_input_tokens: Any = None,
    cache_creation_input_tokens_above_1hr: Any = None,
) -> tuple[Any, Any] | None:
    """MLflow's builtin `cost_per_token`, step for step (same float operations, same order)."""
    info = _lookup(model, provider)
    if info is None:
        return None
    input_rate, output_rate, read_rate, creation_rate, hour_rate = info
    input_rate = 0.0 if input_rate is None else input_rate
    output_rate = 0.0 if output_rate is None else output_rate
    cache_read = cache_read_input_tokens or 0
    cache_creation = cache_creation_input_tokens or 0
    regular_input_tokens = max(prompt_tokens - cache_read - cache_creation, 0)
    cache_creation_1hr = min(cache_creation_input_tokens_above_1hr or 0, cache_creation)
    cache_creation_5m = cache_creation - cache_creation_1hr
    creation_rate = input_rate if creation_rate is None else creation_rate
    input_cost = regular_input_tokens * input_rate
    if cache_read > 0:
        input_cost += cache_read * (input_rate if read_rate is None else read_rate)
    if cache_creation_5m > 0:
        input_cost += cache_creation_5m * creation_rate
    if cache_creation_1hr > 0:
        input_cost += cache_creation_1hr * (creation_rate if hour_rate is None else hour_rate)
    return input_cost, completion_tokens * output_rate


def cost(model_name: Any, usage: Any, model_provider: Any = None) -> dict[str, Any] | None:
    """What MLflow's `calculate_cost_by_model_and_token_usage` returns (it raises where that
    raises); `Unchecked` where MLflow's answer may rest on something not read here."""
    if not model_name or not usage:
        return None
    if model_name.startswith(_SKIP_PREFIXES):
        return None
    if not model_provider and model_name.startswith(_DATABRICKS):
        model_provider = "databricks"
    prompt_tokens = usage.get("input_tokens", 0)
    completion_tokens = usage.get("output_tokens", 0)
    if prompt_tokens == 0 and completion_tokens == 0:
        return None
    kwargs = {}
    if (cached := usage.get("cache_read_input_tokens")) is not None:
        kwargs["cache_read_input_tokens"] = cached
    if (created := usage.get("cache_creation_input_tokens")) is not None:
        kwargs["cache_creation_input_tokens"] = created
    _catalog_dir()  # the release and LiteLLM checks, before anything is priced
    if (above_1hr := usage.get("cache_creation_input_tokens_above_1hr")) is not None:
        kwargs["cache_creation_input_tokens_above_1hr"] = above_1hr
    result = None
    if model_provider:
        try:
            provider = model_provider.lower()
        except Exception:
            provider = None  # MLflow's call fails: it goes on without a provider
        if provider and os.environ.get(CATALOG_URI_ENV) != "":
            raise Unchecked(f"{CATALOG_URI_ENV} is set: MLflow fetches {provider}'s prices")
        if provider is not None:
            try:
                result = _cost_per_token(
                    model_name, prompt_tokens, completion_tokens, provider, **kwargs
                )
            except Unchecked:
                raise
            except Exception:
                pass
    if result is None:
        try:
            result = _cost_per_token(model_name, prompt_tokens, completion_tokens, **kwargs)
        except Unchecked:
            raise
        except Exception:
            pass
    if result is None:
        return None
    input_cost, output_cost = result
    return {
        "input_cost": input_cost,
        "output_cost": output_cost,
        "total_cost": input_cost + output_cost,
    }
