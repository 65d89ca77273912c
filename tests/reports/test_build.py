"""reports/: a search written into a real SQLite MLflow store, then the report built from it and checked."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from front.objectives import DEFAULT_OBJECTIVES, Objective, objectives_to_json
from front.pareto import pareto_ranks
from reports import csv_source
from reports.analysis import analyse
from reports.build import build_report, build_report_from_csv, main, write_report
from reports.plots import hypervolume_figure, loss_versus_judge_figure, pareto_figure, to_png
from reports.redaction import redact_settings
from tests.helpers import FIXTURES

FIXTURES = FIXTURES / "reports"
PUBLISHED = FIXTURES / "published_results.csv"
EXPERIMENT = "support-desk search"
SECRET = "sk-test-DO-NOT-LEAK-1234567890"
CRITERIA = ("relevance", "grammar", "structure", "style")
JUDGES = ("offline-a", "offline-b")

# trial_id: (origin, val_loss history, judge_score, energy_wh, status). Built so the lowest final val_loss
# (t05) ranks 6th by judge score, as in the study, and so the front is t00, t01, t02 and t03.
TRIALS = {
    "t00": ("paper16", [2.0, 1.30], 4.50, 0.90, "FINISHED"),
    "t01": ("paper16", [2.0, 1.25], 4.20, 0.40, "FINISHED"),
    "t02": ("paper16", [2.0, 1.40], 3.90, 0.20, "FINISHED"),
    "t03": ("paper16", [2.0, 1.35], 3.00, 0.05, "FINISHED"),
    "t04": ("sampler", [2.0, 1.20], 3.80, 0.50, "FINISHED"),
    "t05": ("sampler", [2.0, 0.90, 0.80], 3.55, 0.70, "FINISHED"),
    "t06": ("sampler", [2.0, 1.10], 3.60, 0.60, "FINISHED"),
    "t07": ("sampler", [2.0, 1.00], 3.50, 0.80, "FINISHED"),
    "t08": ("sampler", [2.0, 1.50], float("nan"), 0.30, "FINISHED"),  # every judge failed
    "t09": ("sampler", [2.0], float("nan"), 0.10, "FAILED"),
}


def _log_trial(client: MlflowClient, experiment_id: str, parent_id: str, trial_id: str, spec: tuple) -> None:
    origin, losses, score, energy, status = spec
    run = client.create_run(
        experiment_id,
        tags={
            "mlflow.parentRunId": parent_id,
            "lorapareto.role": "trial",
            "trial_id": trial_id,
            "origin": origin,
            "energy_source": "estimate:cpu-time",
            "pareto_rank": "",
        },
    )
    run_id = run.info.run_id
    params = {"rank": 16 if origin == "paper16" else 8, "alpha": 32, "target_modules": "q_proj,v_proj"}
    params |= {"learning_rate": 2e-4, "epochs": len(losses), "quantization": "bf16", "use_dora": False}
    for key, value in params.items():
        client.log_param(run_id, key, value)
    for epoch, loss in enumerate(losses):
        client.log_metric(run_id, "val_loss", loss, step=epoch)
        client.log_metric(run_id, "epoch", epoch, step=epoch)
    # A failed trial still logs the energy it spent before failing.
    client.log_metric(run_id, "energy_wh", energy, step=len(losses) - 1)
    if status == "FINISHED":
        metrics = {"judge_score": score, "train_seconds": energy * 3600}
        metrics |= {"tokens_per_second": 18000.0, "trainable_params": 40960.0, "judge_calls": 24.0}
        metrics |= {"judge_cost_usd": 0.0, "judge_agreement": 0.8, "judge_length_corr": 0.1}
        metrics |= {f"judge_{criterion}": score for criterion in CRITERIA}
        metrics |= {
            f"judge_score__{judge}": score + offset for judge, offset in zip(JUDGES, (0.1, -0.1), strict=True)
        }
        for key, value in metrics.items():
            client.log_metric(run_id, key, value, step=len(losses) - 1)
    client.set_terminated(run_id, status)


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A real SQLite MLflow store holding one search: (tracking_uri, parent_run_id)."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(EXPERIMENT, artifact_location=str(root / "artifacts"))
    parent = client.create_run(
        experiment_id,
        tags={
            "lorapareto.role": "search",
            "objectives": objectives_to_json(DEFAULT_OBJECTIVES),
            "energy_source": "estimate:cpu-time",
            "corpus_hash": "c0ffee12",
            "gpu_type": "none (cpu)",
        },
    )
    parent_id = parent.info.run_id
    params = {
        "search.sampler": "nsga2",
        "model.base": "tiny-qwen2",
        "reference_point.judge_score": 1.0,
        "reference_point.energy_wh": 1.0,
        "search.energy_budget_wh": 0.45,
        "report.judge_threshold": 3.8,
        "judging.api_key": SECRET,
        "judging.note": f"Bearer {SECRET}",
    }
    for key, value in params.items():
        client.log_param(parent_id, key, value)
    client.log_metric(parent_id, "baseline_judge_score", 2.5)
    manifest = {
        "corpus_hash": "c0ffee12",
        "rows": {"train": 120, "val": 30, "judge": 24},
        "generator": "offline",
    }
    client.log_text(parent_id, json.dumps(manifest), "corpus/manifest.json")
    client.log_text(parent_id, "search:\n  sampler: nsga2\n", "config.yaml")
    for trial_id, spec in TRIALS.items():
        _log_trial(client, experiment_id, parent_id, trial_id, spec)
    client.set_terminated(parent_id, "FINISHED")
    return uri, parent_id


@pytest.fixture(scope="module")
def built(tracking: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    uri, _ = tracking
    return build_report(EXPERIMENT, uri, tmp_path_factory.mktemp("reports"))


def test_report_files_are_written_under_the_experiment_name(built: Path) -> None:
    assert built.name == "report.html"
    assert built.parent.name == "support-desk_search"
    names = sorted(p.name for p in built.parent.iterdir())
    assert names == ["hypervolume.png", "loss_vs_judge.png", "pareto.png", "report.html", "report.md"]


def test_report_is_logged_to_the_parent_run(tracking: tuple[str, str], built: Path) -> None:
    uri, parent_id = tracking
    logged = {Path(info.path).name for info in MlflowClient(uri).list_artifacts(parent_id, "report")}
    assert {"report.html", "report.md", "pareto.png"} <= logged


def test_loss_versus_judge_finds_the_lowest_loss_trial_sixth(tracking: tuple[str, str]) -> None:
    from reports.mlflow_source import load_study

    analysis = analyse(load_study(EXPERIMENT, tracking[0]))
    result = analysis.loss_vs_judge
    assert result is not None
    # Final val_loss is the last epoch's (0.80), so t05 is the lowest-loss trial.
    assert result.lowest_loss_trial == "t05"
    assert result.lowest_loss_judge_rank == 6
    assert result.n_trials == 8 and result.n_judged == 8
    losses = [TRIALS[t][1][-1] for t in sorted(TRIALS)[:8]]
    scores = [TRIALS[t][2] for t in sorted(TRIALS)[:8]]
    expected = pd.Series(losses).rank().corr((-pd.Series(scores)).rank(), method="pearson")
    assert result.spearman == pytest.approx(expected)
    assert -1.0 <= result.kendall <= 1.0 and result.kendall == pytest.approx(
        pd.Series(losses).corr(-pd.Series(scores), method="kendall")
    )


def test_front_failed_and_excluded_trials(tracking: tuple[str, str]) -> None:
    from reports.mlflow_source import load_study

    study = load_study(EXPERIMENT, tracking[0])
    analysis = analyse(study)
    assert sorted(analysis.front_ids) == ["t00", "t01", "t02", "t03"]
    assert list(analysis.failed.index) == ["t09"]
    assert list(analysis.excluded.index) == ["t08"]
    assert analysis.energy_estimated
    assert analysis.judges == list(JUDGES)
    assert analysis.criteria == sorted(f"judge_{c}" for c in CRITERIA)
    assert study.manifest is not None and study.manifest["rows"]["judge"] == 24
    # Reference (1, 1 Wh) in minimisation space: boxes of the front computed by hand.
    assert analysis.hypervolume == pytest.approx(3.5 * 0.1 + 3.2 * 0.5 + 2.9 * 0.2 + 2.0 * 0.15)
    curve = analysis.curve
    assert curve is not None and len(curve) == len(TRIALS)
    assert curve["hypervolume"].iloc[-1] == pytest.approx(analysis.hypervolume)
    # The failed trial's energy counts toward the total spent, not toward the front.
    assert curve["cumulative_energy_wh"].iloc[-1] == pytest.approx(sum(spec[3] for spec in TRIALS.values()))


def test_recommendations_use_budget_threshold_and_knee(tracking: tuple[str, str]) -> None:
    from reports.mlflow_source import load_study

    analysis = analyse(load_study(EXPERIMENT, tracking[0]))
    by_title = {r.title: r.trial_id for r in analysis.recommendations}
    assert by_title["Best judge score under the energy budget"] == "t01"  # 4.2 at 0.40 Wh <= 0.45
    assert by_title["Least energy above the judge threshold"] == "t02"  # 3.9 >= 3.8 at 0.20 Wh
    assert by_title["Knee of the front"] == analysis.knee_id
    assert analysis.knee_id in analysis.front_ids


def test_report_content(built: Path) -> None:
    html = built.read_text(encoding="utf-8")
    markdown = built.with_name("report.md").read_text(encoding="utf-8")
    for text in (html, markdown):
        assert "ranks <strong>6</strong>" in text or "ranks **6**" in text
        assert "energy_wh (estimate)" in text
        assert "paper16" in text and "reconstruction" in text
        assert "offline-a" in text and "judge_relevance" in text
        assert "c0ffee12" in text and "none (cpu)" in text
        assert "t09" in text  # the failed trial is listed
        assert "Spearman" in text and "Kendall" in text
    assert html.count("data:image/png;base64,") == 3
    assert "http://" not in html and "https://" not in html


def test_no_secret_reaches_any_report_file(built: Path) -> None:
    for path in built.parent.iterdir():
        assert SECRET.encode() not in path.read_bytes(), path.name
    assert "[redacted]" in built.read_text(encoding="utf-8")


def test_redaction_keeps_harmless_settings() -> None:
    settings = {
        "judging.max_tokens": "256",
        "hf.token": "abc",
        "x.openai_api_key": "k",
        "note": f"use {SECRET}",
    }
    redacted = redact_settings(settings)
    assert redacted["judging.max_tokens"] == "256"
    assert redacted["hf.token"] == redacted["x.openai_api_key"] == "[redacted]"
    assert SECRET not in redacted["note"]


def test_rebuilding_replaces_the_report_directory(tracking: tuple[str, str], tmp_path: Path) -> None:
    first = build_report(EXPERIMENT, tracking[0], tmp_path, log_to_mlflow=False)
    (first.parent / "stale.txt").write_text("old")
    second = build_report(EXPERIMENT, tracking[0], tmp_path, log_to_mlflow=False)
    assert second == first and not (first.parent / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["support-desk_search"]


def _png_is_drawn(png: bytes) -> None:
    assert png.startswith(b"\x89PNG")
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 10  # not a blank canvas


def test_plots_are_drawn_with_labelled_axes() -> None:
    study = csv_source.load_study(PUBLISHED, DEFAULT_OBJECTIVES)
    analysis = analyse(study)
    for make in (pareto_figure, hypervolume_figure, loss_versus_judge_figure):
        figure = make(study, analysis)
        for axis in figure.axes:
            assert axis.get_xlabel() and axis.get_ylabel()
            assert axis.collections or axis.lines  # something is plotted
        _png_is_drawn(to_png(figure))
    pareto_axis = pareto_figure(study, analysis).axes[0]
    assert pareto_axis.get_xlabel() == "energy_wh (Wh, estimate)"
    assert pareto_axis.get_ylabel() == "judge_score (1-5)"
    legend = [text.get_text() for text in pareto_axis.get_legend().get_texts()]
    assert "Pareto front" in legend and "paper16 grid (reconstruction)" in legend


def test_csv_with_three_objectives(tmp_path: Path) -> None:
    path = build_report_from_csv(
        PUBLISHED,
        tmp_path,
        "judge_score:max,energy_wh:min,val_loss:min",
        "judge_score:1,energy_wh:1,val_loss:2",
    )
    study = csv_source.load_study(PUBLISHED, (
        Objective("judge_score", "max"), Objective("energy_wh", "min"), Objective("val_loss", "min"),
    ))  # fmt: skip
    analysis = analyse(study)
    assert len(pareto_figure(study, analysis).axes) == 3
    finished = study.trials[study.trials["status"] == "FINISHED"]
    expected_front = set(finished.index[pareto_ranks(finished, study.objectives) == 0])
    assert set(analysis.front_ids) == expected_front
    assert analysis.reference_note == "none declared: the worst observed value of each objective (nadir)"
    assert "min val_loss" in path.with_name("report.md").read_text(encoding="utf-8")


def test_csv_declared_reference_point_is_used(tmp_path: Path) -> None:
    reference = csv_source.parse_reference_point("judge_score:1,energy_wh:1")
    study = csv_source.load_study(PUBLISHED, DEFAULT_OBJECTIVES, reference)
    analysis = analyse(study)
    assert analysis.reference_note == "declared by the search"
    assert analysis.hypervolume is not None and analysis.hypervolume > 0


def test_missing_optional_metrics_and_single_judge(tmp_path: Path) -> None:
    table = pd.read_csv(PUBLISHED)
    table = table.drop(columns=["val_loss", "judge_agreement", "judge_score__offline-b", "energy_source"])
    minimal = tmp_path / "minimal.csv"
    table.to_csv(minimal, index=False)
    study = csv_source.load_study(minimal, DEFAULT_OBJECTIVES)
    analysis = analyse(study)
    assert analysis.loss_vs_judge is None and analysis.judge_correlations is None
    assert not analysis.energy_estimated
    html_path = write_report(study, tmp_path / "out")
    names = {p.name for p in html_path.parent.iterdir()}
    assert "loss_vs_judge.png" not in names
    html = html_path.read_text(encoding="utf-8")
    assert "Not enough trials with both val_loss and judge_score" in html
    assert "(estimate)" not in html


def test_only_objective_columns_are_required(tmp_path: Path) -> None:
    bare = tmp_path / "bare.csv"
    bare.write_text("judge_score,energy_wh\n3.0,0.2\n4.0,0.5\nnan,0.1\n")
    path = build_report_from_csv(bare, tmp_path)
    assert "2 on the Pareto front" in path.with_name("report.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--csv", "missing.csv"], "missing.csv: file not found"),
        (["--csv", str(PUBLISHED), "--objectives", "judge_score:up"], "objectives"),
        (["--csv", str(PUBLISHED), "--objectives", "judge_score:max,tokens:max"], "tokens: objective column"),
        (["--csv", str(PUBLISHED), "--reference-point", "judge_score:x"], "reference_point"),
        (["--csv", str(PUBLISHED), "--reference-point", "judge_score:1"], "energy_wh"),
        ([], "either an EXPERIMENT"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--out-dir", str(tmp_path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err and "Traceback" not in err


def test_cli_bad_number_in_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("judge_score,energy_wh\n3.0,0.2\nhigh,0.5\n")
    with pytest.raises(SystemExit):
        main(["--csv", str(bad), "--out-dir", str(tmp_path)])
    assert capsys.readouterr().err.strip() == f"error: {bad}: judge_score: not a number: 'high' (row 3)"


def test_cli_unknown_experiment(
    tracking: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["no-such-search", "--tracking-uri", tracking[0], "--out-dir", str(tmp_path)])
    assert exited.value.code == 2
    assert "no MLflow experiment named 'no-such-search'" in capsys.readouterr().err


def test_cli_builds_from_mlflow(tracking: tuple[str, str], tmp_path: Path) -> None:
    path = main([EXPERIMENT, "--tracking-uri", tracking[0], "--out-dir", str(tmp_path), "--no-mlflow-log"])
    assert path.exists() and path.stat().st_size > 10_000
    assert "ranks <strong>6</strong>" in path.read_text(encoding="utf-8")


def test_search_without_trials_still_gets_a_report(tracking: tuple[str, str], tmp_path: Path) -> None:
    uri, _ = tracking
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("just-started", artifact_location=str(tmp_path / "artifacts"))
    parent = client.create_run(experiment_id, tags={"lorapareto.role": "search"})
    path = build_report("just-started", uri, tmp_path / "out")
    markdown = path.with_name("report.md").read_text(encoding="utf-8")
    assert "0 finished trial(s), 0 on the Pareto front" in markdown
    assert "energy source**: not recorded" in markdown
    logged = {Path(info.path).name for info in client.list_artifacts(parent.info.run_id, "report")}
    assert "report.html" in logged


def test_human_ratings_written_beside_the_report_join_it_and_survive_a_rebuild(tmp_path: Path) -> None:
    first = build_report_from_csv(PUBLISHED, tmp_path)
    human = first.parent / "human.md"
    human.write_text("# Human ratings: s\n\n## Ratings per model\n\n| model | positive |\n|---|---|\n| knee | 84% |\n")
    rebuilt = build_report_from_csv(PUBLISHED, tmp_path)
    markdown = (rebuilt.parent / "report.md").read_text()
    assert "## Human ratings" in markdown and "### Ratings per model" in markdown and "| knee | 84% |" in markdown
    assert "<h2>Human ratings</h2>" in rebuilt.read_text() and "knee | 84%" in rebuilt.read_text()
    assert human.is_file()
    human.unlink()
    assert "Human ratings" not in (build_report_from_csv(PUBLISHED, tmp_path).parent / "report.md").read_text()
