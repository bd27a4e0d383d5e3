"""Classic experiment tracking with llmtrace: params, metrics, artifacts, models, registry.

The full training pattern on a dataset scikit-learn ships (breast cancer, binary):

1. three runs of a RandomForest with different settings, each with tags, params, test-set
   metrics computed by hand (accuracy / precision / recall / F1), a confusion-matrix figure,
   the fitted scaler stored under ``preprocessing/`` and the model;
2. a search for the best runs by ``metrics.f1``;
3. the best model registered, then loaded back by ``models:/<name>/latest`` and by version,
   with the scaler loaded back from the run's artifacts to prepare new data;
4. the same training with autologging, side by side: autolog's metrics are computed on the
   *training* data, so they look better than the held-out numbers of step 1.

Run it from any folder (no server, no network); runs land in ./mlflow.db, files in ./mlruns:

    python examples/classic_tracking.py
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import joblib
from matplotlib.figure import Figure
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import llmtrace

EXPERIMENT = "classic-tracking"
MODEL_NAME = "breast-cancer-rf"
SEED = 42
CONFIGS = [
    {"n_estimators": 25, "max_depth": 2},
    {"n_estimators": 100, "max_depth": 6},
    {"n_estimators": 200, "max_depth": None},
]


def load_data() -> tuple:
    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=SEED, stratify=data.target
    )
    return data, x_train, x_test, y_train, y_test


def train_one(config: dict, data, x_train, x_test, y_train, y_test, workdir: Path) -> str:
    """One run: fit the scaler and forest, log everything; return the run id."""
    name = f"rf-{config['n_estimators']}-trees-depth-{config['max_depth']}"
    with llmtrace.start_run(run_name=name) as run:
        llmtrace.set_tags(
            {"project": "workshop", "model_family": "random_forest", "dataset": "breast_cancer"}
        )
        llmtrace.log_params({**config, "test_size": 0.25, "random_state": SEED})

        scaler = StandardScaler().fit(x_train)
        model = RandomForestClassifier(**config, random_state=SEED)
        model.fit(scaler.transform(x_train), y_train)

        predicted = model.predict(scaler.transform(x_test))  # metrics on held-out data
        metrics = {
            "accuracy": accuracy_score(y_test, predicted),
            "precision": precision_score(y_test, predicted),
            "recall": recall_score(y_test, predicted),
            "f1": f1_score(y_test, predicted),
        }
        llmtrace.log_metrics(metrics)

        fig = Figure(figsize=(4, 4))  # drawn off-screen, no window needed
        ax = fig.subplots()
        ConfusionMatrixDisplay(
            confusion_matrix(y_test, predicted), display_labels=data.target_names
        ).plot(ax=ax, colorbar=False)
        ax.set_title(name)
        llmtrace.log_figure(fig, "plots/confusion_matrix.png")

        scaler_file = workdir / "scaler.joblib"
        joblib.dump(scaler, scaler_file)
        llmtrace.log_artifact(scaler_file, artifact_path="preprocessing")

        llmtrace.log_model(
            model,
            name="model",
            input_example=scaler.transform(x_test[:3]),
            # MLflow stores scikit-learn models in the safe skops format; tree models need
            # their node storage type vouched for (we trained this model ourselves).
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
        print(
            f"  run {run.info.run_id}  {name:<28} "
            + "  ".join(f"{k}={v:.3f}" for k, v in metrics.items())
        )
        return str(run.info.run_id)


def main() -> None:
    llmtrace.set_experiment(EXPERIMENT)
    data, x_train, x_test, y_train, y_test = load_data()
    print(f"Store: {llmtrace.current_config().tracking_uri}   experiment: {EXPERIMENT!r}")

    print("\n1. Training runs (metrics computed by hand on the test set):")
    with tempfile.TemporaryDirectory() as tmp:
        for config in CONFIGS:
            train_one(config, data, x_train, x_test, y_train, y_test, Path(tmp))

    print("\n2. Best runs by metrics.f1:")
    best = llmtrace.search_runs(
        "tags.model_family = 'random_forest'", order_by=["metrics.f1 DESC"], max_results=2
    )
    for r in best:
        print(f"  {r.info.run_name:<28} f1={r.data.metrics['f1']:.3f}  run {r.info.run_id}")
    best_run = best[0]

    print("\n3. Registry:")
    version = llmtrace.register_model(f"runs:/{best_run.info.run_id}/model", MODEL_NAME)
    print(f"  registered {MODEL_NAME!r} version {version.version} from {best_run.info.run_name}")
    latest = llmtrace.load_model(f"models:/{MODEL_NAME}/latest")
    pinned = llmtrace.load_model(f"models:/{MODEL_NAME}/{version.version}")
    with tempfile.TemporaryDirectory() as tmp:
        scaler_path = llmtrace.download_artifacts(
            best_run.info.run_id, "preprocessing/scaler.joblib", tmp
        )
        scaler = joblib.load(scaler_path)  # the scaler fitted in that run, loaded back
    new_patients = scaler.transform(x_test[:5])
    by_version = f"models:/{MODEL_NAME}/{version.version}"
    print(f"  models:/{MODEL_NAME}/latest  predicts {latest.predict(new_patients).tolist()}")
    print(f"  {by_version:<30} predicts {pinned.predict(new_patients).tolist()}")
    print(f"  {'true labels':<39} {y_test[:5].tolist()}")
    files = [
        f.path
        for folder in llmtrace.list_artifacts(best_run.info.run_id)
        for f in llmtrace.list_artifacts(best_run.info.run_id, folder.path)
    ]
    print(f"  artifacts of the best run: {files}")

    print("\n4. The same training with autolog:")
    llmtrace.autolog(silent=True)
    try:
        with warnings.catch_warnings(), llmtrace.start_run(run_name="rf-autolog") as run:
            # MLflow's autolog passes scikit-learn an argument it has since renamed: quiet it.
            warnings.simplefilter("ignore", FutureWarning)
            scaler = StandardScaler().fit(x_train)
            model = RandomForestClassifier(**CONFIGS[1], random_state=SEED)
            model.fit(scaler.transform(x_train), y_train)  # autolog logs params, metrics, model
            test_f1 = f1_score(y_test, model.predict(scaler.transform(x_test)))
    finally:
        llmtrace.autolog(disable=True)
    logged = llmtrace.get_run(run.info.run_id).data.metrics
    print(f"  autolog run {run.info.run_id}: training_f1_score={logged['training_f1_score']:.3f}")
    print(f"  the same model on the test set:              f1={test_f1:.3f}")
    print(
        "  Note: autolog's training_* metrics are computed on the TRAINING data, so they are\n"
        "  optimistic (a forest nearly memorises its training set). Judge models on held-out\n"
        "  data: log test metrics yourself, as in step 1."
    )

    print(
        f"\nWhere to look:\n"
        f"  llmtrace ui --experiment {EXPERIMENT}\n"
        f"  -> the experiment's runs (metrics, plots, artifacts) and the Models page -> "
        f"{MODEL_NAME!r}."
    )


if __name__ == "__main__":
    main()
