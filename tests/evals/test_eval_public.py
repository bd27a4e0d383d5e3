"""The evals surface: `__all__` complete and documented; `import evals` stays light."""

from __future__ import annotations

import subprocess
import sys
import types

import evals
from evals import metrics


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name, value in vars(evals).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(evals.__all__) - {"datasets", "metrics"}  # the two subpackages
    assert evals.__all__ == sorted(evals.__all__)
    assert metrics.__all__ == sorted(metrics.__all__)
    assert {n for n in vars(metrics) if not n.startswith("_")} - set(metrics.__all__) <= {
        name for name, v in vars(metrics).items() if isinstance(v, types.ModuleType)
    }


def test_public_objects_have_docstrings_with_examples() -> None:
    for name in ("evaluate", "load_rows", "metric", "EvaluationResult"):
        assert "Example" in (getattr(evals, name).__doc__ or ""), name
    for name in metrics.__all__:
        assert getattr(metrics, name).__doc__, name


def test_import_is_light() -> None:
    code = (
        "import sys\n"
        "import evals\n"
        "heavy = {'mlflow', 'pandas', 'rouge_score', 'nltk', 'sacrebleu', 'rapidfuzz'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_datasets_subpackage_surface() -> None:
    assert evals.datasets.__all__ == sorted(evals.datasets.__all__)
    for name in evals.datasets.__all__:
        assert "Example" in (getattr(evals.datasets, name).__doc__ or ""), name
