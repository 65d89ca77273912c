"""`python -m judging.human --search NAME`: the ratings database -> the study's tables per model, the judges'
agreement with the humans (and a calibrated panel where there are enough ratings) -> reports/<search>/human.md
and human.json, and the same figures on the search's MLflow parent run."""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from common.errors import InputError, exit_on_input_error
from common.mlflow_names import BASELINE_ANSWERS, JUDGE_ANSWERS, ROLE_TAG
from judging.human.section import write_section
from judging.human.store import RatingStore
from judging.human.tables import agreement_table, calibration, differences_from, rated_items, rating_tables
from judging.rubric import Rubric


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m judging.human", description=__doc__)
    parser.add_argument("--search", required=True, help="the search's name (its MLflow experiment)")
    parser.add_argument("--ratings-db", help="SQLAlchemy URL of the ratings database (default: ./ratings.db)")
    parser.add_argument("--tracking-uri", help="MLflow store (default: MLFLOW_TRACKING_URI, else ./mlflow.db)")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    parser.add_argument("--min-calibration-items", type=int, default=30, help="rated, judged answers needed")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples per interval")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def judged_answers(client, runs: set[str]) -> pd.DataFrame:
    """The judged answers each rated answer's run logged (a trial's, or the untuned baseline on the search's run)."""
    frames = []
    for run_id in runs:
        run = client.get_run(run_id)
        artifact = BASELINE_ANSWERS if run.data.tags.get(ROLE_TAG) == "search" else JUDGE_ANSWERS
        with tempfile.TemporaryDirectory() as tmp:
            try:
                table = json.loads(Path(client.download_artifacts(run_id, artifact, tmp)).read_text())
            except Exception:
                continue  # no judged answers on that run: its ratings count in the tables, not in agreement
        frames.append(pd.DataFrame(table["data"], columns=table["columns"]).assign(run_id=run_id))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run_id", "question", "answer"])


def summarise(ratings: pd.DataFrame, judged: pd.DataFrame, search: str, args: argparse.Namespace) -> dict:
    rubric = Rubric()
    by_run = ratings[["model", "run_id"]].drop_duplicates()
    judged = judged.merge(by_run, on="run_id", how="inner")
    items = rated_items(ratings, judged) if not judged.empty else pd.DataFrame()
    return _finite(
        {
            "search": search,
            "ratings": int(len(ratings)),
            "raters": int(ratings["rater"].nunique()),
            "answers": int(ratings.groupby(["model", "question"]).ngroups),
            "questions": int(ratings["question"].nunique()),
            "criteria": rubric.criteria,
            "weights": rubric.weights,
            "tables": rating_tables(ratings, rubric, args.bootstrap, args.seed),
            "against_base": differences_from(ratings, "base", args.bootstrap, args.seed),
            "agreement": agreement_table(items, args.bootstrap, args.seed) if not items.empty else {},
            "calibration": calibration(items, args.min_calibration_items, args.bootstrap, args.seed)
            if not items.empty
            else {"fitted": False, "reason": "no rated answer has judge scores"},
        }
    )


def log_to_mlflow(client, parent_run_id: str, summary: dict, files: tuple[Path, Path]) -> None:
    from mlflow.entities import Metric

    now = int(pd.Timestamp.now().timestamp() * 1000)
    metrics = {}

    def with_interval(name: str, figure: dict) -> None:
        # Every quality figure with its 95% interval, as the search's own metrics (`_ci_low`/`_ci_high`).
        metrics[name] = figure["value"]
        metrics[f"{name}_ci_low"] = figure["ci_low"]
        metrics[f"{name}_ci_high"] = figure["ci_high"]

    for model, t in summary["tables"].items():
        with_interval(f"human_positive_share__{model}", t["positive_share"])
        with_interval(f"human_overall__{model}", t["means"]["overall"])
        metrics[f"human_ratings__{model}"] = t["ratings"]
    for model, d in summary.get("against_base", {}).items():
        with_interval(f"human_overall_minus_base__{model}", d)
    for judge, a in summary["agreement"].items():
        with_interval(f"human_kappa__{judge}", a["kappa_quadratic"])
        with_interval(f"human_spearman__{judge}", a["spearman"])
    rows = [Metric(k.replace("/", "_"), float(v), now, 0) for k, v in metrics.items() if v is not None]
    client.log_batch(parent_run_id, metrics=rows)
    for path in files:
        client.log_artifact(parent_run_id, str(path), "human")


@exit_on_input_error
def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per fetched file otherwise
    args = parse_args(argv)
    if args.min_calibration_items < 4:
        raise InputError("--min-calibration-items", None, f"{args.min_calibration_items} is under 4")
    if not 10 <= args.bootstrap <= 100_000:
        raise InputError("--bootstrap", None, f"{args.bootstrap} is not in 10-100000")
    from mlflow.tracking import MlflowClient

    ratings = RatingStore(args.ratings_db).ratings_frame(args.search)
    if ratings.empty:
        raise InputError("--ratings-db", None, f"no ratings for search {args.search!r}")
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(args.search)
    parents = (
        client.search_runs([experiment.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'search'")
        if experiment
        else []
    )
    if not parents:
        raise InputError("--search", None, f"no search named {args.search!r} in MLflow at {uri!r}")
    summary = summarise(ratings, judged_answers(client, set(ratings["run_id"]) - {""}), args.search, args)
    files = write_section(summary, args.reports_dir.resolve() / args.search)
    log_to_mlflow(client, parents[0].info.run_id, summary, files)
    print(f"human ratings of {args.search}: {files[0]} (and {files[1].name}); logged to MLflow run "
          f"{parents[0].info.run_id}; the search's report shows them once rebuilt: "
          f"python -m reports.build {args.search} --out-dir {args.reports_dir}")  # fmt: skip


def _finite(value):
    """NaN -> None, so human.json is strict JSON and MLflow skips what is undefined."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


if __name__ == "__main__":
    main()
