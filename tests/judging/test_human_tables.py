"""The study's tables, judge-human agreement and calibration from ratings (pure functions), and the CLI's bad
input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from judging.human.section import render_markdown
from judging.human.tables import (
    agreement_table,
    calibration,
    differences_from,
    rated_items,
    rating_tables,
    rounded_rating,
)
from judging.rubric import Rubric
from tests.helpers import subprocess_env

CRITERIA = Rubric().criteria


def _ratings(points: dict[str, list[int]], raters: int = 1) -> pd.DataFrame:
    """Every criterion of an answer rated the same point, so its weighted rating is that point."""
    rows = []
    for model, values in points.items():
        for i, v in enumerate(values):
            for r in range(raters):
                rows.append({"model": model, "question": f"q{i}", "answer": f"{model} says {i}", "rater": f"r{r}",
                             **dict.fromkeys(CRITERIA, v), "overall": float(v)})  # fmt: skip
    return pd.DataFrame(rows)


def test_counts_and_shares_follow_the_studys_split_with_intervals():
    ratings = _ratings({"base": [1, 2, 2, 3, 4, 5, 1, 2, 3, 3], "knee": [3, 4, 5, 5, 4, 3, 4, 2, 5, 4]})
    tables = rating_tables(ratings, n_boot=300)
    base, knee = tables["base"], tables["knee"]
    assert base["counts"] == {"1": 2, "2": 3, "3": 3, "4": 1, "5": 1} and base["ratings"] == 10
    assert base["positive_share"]["value"] == pytest.approx(0.5) and knee["positive_share"]["value"] == pytest.approx(
        0.9
    )
    assert base["negative_share"]["value"] == pytest.approx(0.5)
    for share in (base["positive_share"], knee["positive_share"], base["negative_share"]):
        assert share["ci_low"] <= share["value"] <= share["ci_high"] and share["ci_low"] < share["ci_high"]
    assert knee["means"]["overall"]["value"] == pytest.approx(3.9)
    assert knee["means"]["relevance"]["ci_low"] < 3.9 < knee["means"]["relevance"]["ci_high"]


def test_the_weighted_rating_rounds_half_up_so_2_5_counts_as_positive():
    assert rounded_rating(pd.Series([2.5, 2.49, 1.0, 4.5, 5.0])).tolist() == [3, 2, 1, 5, 5]


def test_one_question_gives_no_interval_rather_than_a_made_up_one():
    tables = rating_tables(_ratings({"knee": [4]}, raters=2), n_boot=50)
    share = tables["knee"]["positive_share"]
    assert share["value"] == 1.0 and math.isnan(share["ci_low"]) and math.isnan(share["ci_high"])


def _judged(ratings: pd.DataFrame, judge) -> pd.DataFrame:
    judged = ratings[["model", "question", "answer"]].drop_duplicates().copy()
    human = ratings.groupby(["model", "question", "answer"])["overall"].mean()
    judged["judge_score__a"] = [judge(h) for h in human.loc[list(judged.itertuples(index=False))]]
    judged["judge_score__b"] = 3.0 + np.sin(np.arange(len(judged)))  # unrelated to the humans
    judged["judge_score"] = judged[["judge_score__a", "judge_score__b"]].mean(axis=1)
    # As logged by the search: other whitespace and case than the rating page stored.
    judged["answer"] = judged["answer"].str.upper() + "  "
    return judged


def test_agreement_per_judge_and_panel_matches_answers_despite_whitespace_and_case():
    rng = np.random.default_rng(0)
    ratings = _ratings({m: list(rng.integers(1, 6, 20)) for m in ("base", "knee")})
    items = rated_items(ratings, _judged(ratings, lambda h: h))
    assert len(items) == 40
    table = agreement_table(items, n_boot=200)
    assert set(table) == {"panel", "a", "b"}
    assert table["a"]["kappa_quadratic"]["value"] == pytest.approx(1.0)
    assert table["a"]["spearman"]["value"] == pytest.approx(1.0)
    assert abs(table["b"]["spearman"]["value"]) < 0.5
    assert table["b"]["spearman"]["ci_low"] < table["b"]["spearman"]["value"] < table["b"]["spearman"]["ci_high"]


def test_calibration_repairs_a_biased_judge_on_held_out_questions_and_needs_enough_items():
    rng = np.random.default_rng(1)
    ratings = _ratings({m: list(rng.integers(1, 6, 40)) for m in ("base", "knee")})
    # A judge that ranks answers right but squeezes them into 3.6-4.4, as the offline proxy does.
    items = rated_items(ratings, _judged(ratings, lambda h: 3.5 + h / 5)).assign(
        judge_score=lambda f: f["judge_score__a"]
    )
    result = calibration(items, min_items=30, n_boot=100)
    assert result["fitted"] and result["held_out_items"] + result["train_items"] == 80
    assert result["after"]["mean_abs_error"]["value"] < 0.2 < result["before"]["mean_abs_error"]["value"]
    assert result["after"]["kappa_quadratic"]["value"] > result["before"]["kappa_quadratic"]["value"]
    refused = calibration(items.head(10), min_items=30)
    assert refused == {"fitted": False, "reason": "10 rated answers with judge scores; calibration needs 30"}


def test_the_section_renders_every_table_with_intervals():
    ratings = _ratings({"base": [1, 2, 3, 4, 5], "knee": [3, 4, 5, 4, 5]})
    items = rated_items(ratings, _judged(ratings, lambda h: h))
    summary = {
        "search": "s", "ratings": 10, "raters": 1, "answers": 10, "questions": 5, "criteria": CRITERIA,
        "weights": Rubric().weights, "tables": rating_tables(ratings, n_boot=50),
        "agreement": agreement_table(items, n_boot=50), "calibration": calibration(items, 30),
    }  # fmt: skip
    text = render_markdown(json.loads(json.dumps(summary).replace("NaN", "null")))
    assert "| base | 5 | 1 | 1 | 1 | 1 | 1 | 40.0% [" in text and "| knee | 5 | 0 | 0 | 1 | 2 | 2 | 0.0%" in text
    assert "| panel | 10 |" in text and "Not fitted: 10 rated answers" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bootstrap", "3"], "error: --bootstrap: 3 is not in 10-100000"),
        (["--min-calibration-items", "1"], "error: --min-calibration-items: 1 is under 4"),
        ([], "error: --ratings-db: no ratings for search 'nothing-here'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    proc = subprocess.run(
        [sys.executable, "-m", "judging.human", "--search", "nothing-here",
         "--ratings-db", f"sqlite:///{tmp_path / 'r.db'}", *args],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.strip() == message and "Traceback" not in proc.stderr
    assert not (tmp_path / "reports").exists()


def test_mlflow_gets_every_quality_figure_with_its_interval(tmp_path):
    """The parent run holds the positive share, the overall mean and each judge's kappa and Spearman, each with
    `_ci_low`/`_ci_high` as the search's own metrics carry (a real SQLite MLflow store)."""
    from mlflow.tracking import MlflowClient

    from judging.human.__main__ import _finite, log_to_mlflow

    ratings = _ratings({"base": [1, 2, 2, 3, 4, 1, 2, 3, 1, 2], "knee": [3, 4, 5, 5, 4, 3, 4, 2, 5, 4]})
    items = rated_items(ratings, _judged(ratings, lambda h: h + 0.5 * ((h % 2) - 0.5)))
    summary = _finite({"tables": rating_tables(ratings, n_boot=200), "agreement": agreement_table(items, n_boot=200)})
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("s"))
    files = (tmp_path / "human.md", tmp_path / "human.json")
    for path in files:
        path.write_text("x")
    log_to_mlflow(client, run.info.run_id, summary, files)
    metrics = client.get_run(run.info.run_id).data.metrics
    names = ["human_positive_share__base", "human_overall__knee", "human_kappa__panel", "human_spearman__panel"]
    for name in names:
        assert metrics[f"{name}_ci_low"] <= metrics[name] <= metrics[f"{name}_ci_high"], name
        assert metrics[f"{name}_ci_low"] < metrics[f"{name}_ci_high"], name
    assert metrics["human_ratings__knee"] == 10


def test_each_model_against_base_is_paired_by_question_and_says_whether_it_is_resolved():
    # Questions differ in difficulty far more than the models do: unpaired intervals overlap, the paired one does not.
    hard = [1, 4, 2, 5, 1, 3, 2, 4, 1, 5, 2, 3]
    ratings = _ratings({"base": hard, "knee": [min(h + 1, 5) if h < 5 else 5 for h in hard], "other": hard})
    diffs = differences_from(ratings, "base", n_boot=300)
    knee, other = diffs["knee"], diffs["other"]
    assert knee["questions"] == 12 and knee["value"] == pytest.approx(10 / 12)
    assert knee["resolved"] and 0 < knee["ci_low"] <= knee["value"] <= knee["ci_high"]
    assert other["value"] == 0 and not other["resolved"]
    tables = rating_tables(ratings, n_boot=300)
    assert tables["knee"]["means"]["overall"]["ci_low"] < tables["base"]["means"]["overall"]["ci_high"]  # overlap
    assert differences_from(ratings.query("model != 'base'"), "base") == {}
    summary = {
        "search": "s", "ratings": len(ratings), "raters": 1, "answers": 36, "questions": 12, "criteria": CRITERIA,
        "weights": Rubric().weights, "tables": tables, "against_base": diffs, "agreement": {},
        "calibration": {"fitted": False, "reason": "no rated answer has judge scores"},
    }  # fmt: skip
    text = render_markdown(summary)
    assert "| knee | 12 | +0.83 [+" in text and "| yes |" in text and "| other | 12 | +0.00 [" in text
    assert "36 ratings by 1 rater of" in text
