"""What the MLflow UI shows of a search, rendered by pure functions: trial run names, the front's and knee's
markers, the parent run's description (with intervals where the bootstrap computed them and "interval not
computed" where it did not), the knee version's description and the commands; and the names and the experiment's
kind as a SQLite store receives them."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.mlflow_names import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    KNEE_TAG,
    NOTE_TAG,
    RUN_NAME_TAG,
    marked_run_name,
    trial_run_name,
)
from front.objectives import Objective
from reports.judged_items import judged_items_table
from search.front_table import compute_front, with_uncertainty
from search.judged_items import BASELINE_ROW
from search.mlflow_note import (
    NOTE_LIMIT,
    NoteContext,
    knee_version_description,
    parent_note,
    search_commands,
    shown_uri,
    trial_run_tags,
)
from search.tracking import experiment_id, register_adapter
from trainables.contract import trial_params, trial_settings
from trainables.settings import TrialSettings
from trainables.tracking import TrialRun

OBJECTIVES = (Objective("judge_score", "max"), Objective("energy_wh", "min"))
REFERENCE = {"judge_score": 1.0, "energy_wh": 0.5}
ESTIMATE = "estimate:cpu-time x 10 W/core"
# trial id -> (mean judge score over the items, training energy in Wh, rank, learning rate, origin)
TRIALS = {
    "a1": (4.2, 0.40, 32, 0.005, "paper16"),
    "b2": (3.9, 0.12, 16, 0.0025, "sampler"),
    "c3": (3.8, 0.13, 16, 0.0002, "paper16"),
    "d4": (2.0, 0.30, 8, 0.01, "sampler"),
}


def _trials(energy_source: str = ESTIMATE) -> pd.DataFrame:
    rows = [
        {"trial_id": t, "status": "COMPLETED", "judge_score": s, "energy_wh": e, "energy_source": energy_source,
         "rank": r, "learning_rate": lr, "origin": o, "val_loss": 2.0, "epoch": 1}
        for t, (s, e, r, lr, o) in TRIALS.items()
    ]  # fmt: skip
    rows.append({"trial_id": "e5", "status": "FAILED", "rank": 64, "learning_rate": 0.001, "origin": "sampler"})
    return pd.DataFrame(rows)


def _items(seed: int = 0) -> pd.DataFrame:
    """Twelve judged items in six scenarios for every trial and the baseline, around each trial's mean."""
    rng = np.random.default_rng(seed)
    means = {**{t: v[0] for t, v in TRIALS.items()}, BASELINE_ROW: 2.5}
    answers = {
        trial: pd.DataFrame(
            {
                "id": [f"q{i}" for i in range(12)],
                "question": [f"Why is my bill higher in month {i}?" for i in range(12)],
                "reference": ["A roaming charge."] * 12,
                "answer": ["Check the roaming charges."] * 12,
                "judge_score": np.clip(rng.normal(mean, 0.4, 12), 1, 5),
            }
        )
        for trial, mean in means.items()
    }
    return judged_items_table(answers, {f"q{i}": f"s{i // 2}" for i in range(12)})


def _runs(front) -> pd.DataFrame:
    """search/tracking.py's child_runs table for the trials (run id r-<trial>), names from their settings."""
    rows = []
    for row in front.trials.itertuples():
        params = {"rank": row.rank, "alpha": row.rank * 2.0, "target_modules": "qkvo", "learning_rate":
                  row.learning_rate, "epochs": 2}  # fmt: skip
        rows.append({"run_id": f"r-{row.trial_id}", "trial_id": row.trial_id, "status": row.status,
                     "name": trial_run_name(params, row.origin, row.trial_id)})  # fmt: skip
    return pd.DataFrame(rows)


def _context(front, runs, **changes) -> NoteContext:
    tags = trial_run_tags(front, runs)
    values = dict(
        search="demo",
        base_model="smollm2-135m",
        reference_point=REFERENCE,
        run_names={t: tags[r][RUN_NAME_TAG] for r, t in zip(runs["run_id"], runs["trial_id"], strict=True)},
        baseline_judge_score=2.5,
        registered_model="demo-knee v1",
        commands={"finish an interrupted search": "python -m search.run --resume demo"},
    )
    return NoteContext(**{**values, **changes})


@pytest.fixture(scope="module")
def measured():
    front = compute_front(_trials(), OBJECTIVES, REFERENCE)
    return with_uncertainty(front, _items(), REFERENCE, seed=0)


@pytest.fixture(scope="module")
def unmeasured():
    return compute_front(_trials(), OBJECTIVES, REFERENCE)


def test_a_trial_is_named_by_its_settings_the_same_from_python_values_and_from_mlflow_strings():
    params = {"rank": 16, "alpha": 32.0, "target_modules": "qkvo", "learning_rate": 2e-4, "epochs": 2,
              "use_dora": False, "use_rslora": False, "quantization": "bf16", "gpu_power_limit_w": None}  # fmt: skip
    assert trial_run_name(params, "paper16", "t1") == "r16-a32-qkvo-lr2e-4-e2 · paper16"
    as_logged = {k: str(v) for k, v in params.items()}
    assert trial_run_name(as_logged, "paper16", "t1") == "r16-a32-qkvo-lr2e-4-e2 · paper16"
    other = {**as_logged, "rank": "8", "alpha": "12.0", "learning_rate": "0.0073", "target_modules": "q_proj,v_proj,"
             "gate_proj", "use_dora": "True", "quantization": "nf4", "gpu_power_limit_w": "200"}  # fmt: skip
    assert trial_run_name(other, "sampler", "t2") == "r8-a12-q+v+gate-lr7.3e-3-e2-dora-nf4-200W · sampler"
    assert trial_run_name({}, None, "3fe8d4f0") == "3fe8d4f0"  # params never arrived: the trial id
    assert trial_run_name({**params, "rank": "not a number"}, "sampler", "t3") == "t3"


def test_markers_are_set_and_cleared_whatever_the_name_had():
    name = "r16-a32-qv-lr5e-3-e1 · paper16"
    knee = marked_run_name(name, on_front=True, knee=True)
    assert knee == f"★ knee · {name}"
    assert marked_run_name(knee, on_front=True, knee=True) == knee
    assert marked_run_name(knee, on_front=False, knee=False) == name


def test_front_members_and_the_knee_are_marked_and_other_runs_are_not(measured):
    runs = _runs(measured)
    tags = trial_run_tags(measured, runs)
    ranks = dict(zip(measured.done["trial_id"], measured.done["pareto_rank"], strict=True))
    knee = measured.done.loc[measured.knee, "trial_id"]
    for run_id, trial in zip(runs["run_id"], runs["trial_id"], strict=True):
        name = tags[run_id][RUN_NAME_TAG]
        if trial == "e5":  # failed: named, no rank and no marker
            assert set(tags[run_id]) == {RUN_NAME_TAG} and not name.startswith("★")
            continue
        assert name.startswith("★ ") == (ranks[trial] == 0)
        assert name.startswith("★ knee · ") == (trial == knee)
        assert tags[run_id][KNEE_TAG] == str(trial == knee).lower()
    assert sum(t[RUN_NAME_TAG].startswith("★") for t in tags.values()) == (measured.done["pareto_rank"] == 0).sum()


def test_the_note_carries_the_front_with_intervals_the_knee_and_its_ties_and_the_baseline(measured):
    runs = _runs(measured)
    context = _context(measured, runs)
    note = parent_note(measured, context)
    result = measured.uncertainty
    hv = result.hypervolume
    assert f"**Hypervolume:** {measured.hypervolume:.3g} [{hv.low:.3g}, {hv.high:.3g}]" in note
    assert "`judge_score` 1, `energy_wh` 0.5" in note
    assert "an **estimate**, not measured" in note
    points = measured.done.set_index("trial_id")["judge_score"]
    for trial in measured.rows["trial_id"]:
        score = result.trial(trial).score
        row = rf"\| {re.escape(context.run_names[trial])} \| {points[trial]:.3g} "
        assert re.search(row + rf"\[{score.low:.3g}, {score.high:.3g}\] \| [\d.]+ Wh \(estimate\) \| [<>\d]+%", note)
    knee = result.knee
    assert "It is the knee in " in note and "of the bootstrap replicates" in note
    for alternative in knee.alternatives:
        assert context.run_names[str(alternative.trial)] in note.split("## Knee")[1].split("## Baseline")[0]
    baseline = result.trial(BASELINE_ROW).score
    section = note.split("## Baseline")[1]
    assert f"`judge_score` {baseline.estimate:.3g} [{baseline.low:.3g}, {baseline.high:.3g}]" in section
    assert "The knee minus the baseline:" in section
    assert "interval not computed" not in note
    assert "`demo-knee v1`" in note and "python -m search.run --resume demo" in note


def test_without_a_bootstrap_the_note_says_interval_not_computed_and_makes_none_up(unmeasured):
    runs = _runs(unmeasured)
    note = parent_note(unmeasured, _context(unmeasured, runs))
    assert f"**Hypervolume:** {unmeasured.hypervolume:.3g} (interval not computed)" in note
    table = [line for line in note.splitlines() if line.startswith("| ★")]
    assert len(table) == len(unmeasured.rows) and all(line.endswith("| interval not computed |") for line in table)
    assert not re.search(r"\[\d", note)  # no interval anywhere
    assert "which trials are tied with it: interval not computed" in note
    assert "`judge_score` 2.5 (interval not computed)" in note.split("## Baseline")[1]
    unscored = parent_note(unmeasured, _context(unmeasured, runs, baseline_judge_score=math.nan))
    assert "Not scored" in unscored.split("## Baseline")[1]


def test_energy_is_called_measured_only_where_every_trial_measured_it():
    measured_energy = compute_front(_trials("measured:zeus-gpu0"), OBJECTIVES, REFERENCE)
    note = parent_note(measured_energy, _context(measured_energy, _runs(measured_energy)))
    assert "**Energy:** measured (`measured:zeus-gpu0`)" in note and "(estimate)" not in note
    mixed = _trials()
    mixed.loc[0, "energy_source"] = "measured:zeus-gpu0"
    front = compute_front(mixed, OBJECTIVES, REFERENCE)
    assert "measured for some trials, an **estimate** for others" in parent_note(front, _context(front, _runs(front)))


def test_a_front_too_long_for_an_mlflow_tag_is_cut_and_says_how_many_are_left_out():
    n = 300  # every trial on the front: each is better on one objective and worse on the other
    trials = pd.DataFrame(
        {"trial_id": [f"t{i:03d}" for i in range(n)], "status": "COMPLETED", "judge_score": np.linspace(1.5, 5, n),
         "energy_wh": np.linspace(0.01, 0.4, n), "energy_source": ESTIMATE, "rank": 16, "learning_rate": 0.005,
         "origin": "sampler"}  # fmt: skip
    )
    front = compute_front(trials, OBJECTIVES, REFERENCE)
    assert len(front.rows) == n
    note = parent_note(front, _context(front, _runs(front)))
    assert len(note) <= NOTE_LIMIT
    shown = sum(line.startswith("| ★") for line in note.splitlines())
    assert 10 < shown < n and f"{n - shown} more front members" in note
    assert "## Commands" in note  # what follows the table is kept whole


def test_the_knee_version_says_what_the_adapter_is(measured):
    context = _context(measured, _runs(measured))
    knee = measured.done.loc[measured.knee, "trial_id"]
    score = measured.uncertainty.trial(knee).score
    text = knee_version_description(measured, context)
    bare = marked_run_name(context.run_names[knee], on_front=False, knee=False)
    assert "search `demo`" in text and "`smollm2-135m`" in text and f"`{bare}`" in text and "★" not in text
    assert f"[{score.low:.3g}, {score.high:.3g}]" in text and "Wh (estimate)" in text
    baseline = measured.uncertainty.trial(BASELINE_ROW).score
    assert f"untuned base model {baseline.estimate:.3g} [{baseline.low:.3g}, {baseline.high:.3g}]" in text


def test_commands_run_in_the_search_s_folder_and_never_show_a_password(tmp_path):
    uri = "https://alice:s3cret@mlflow.example.com"
    commands = search_commands(
        "my search", "/opt/venv/bin/python", tmp_path, tmp_path / "c.json", uri, "7", tmp_path / "r" / "report.html"
    )
    text = "\n".join(commands.values())
    assert "s3cret" not in text and "alice:***@mlflow.example.com" in text
    resume = f"cd {tmp_path} && /opt/venv/bin/python -m search.run --resume 'my search' --config {tmp_path}/c.json"
    assert resume in text
    assert "#/experiments/7/runs?workflowType=machine_learning" in text
    assert Path(tmp_path / "r" / "report.html").as_uri() in text
    assert shown_uri("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"


def test_a_trial_run_is_named_when_its_params_arrive(tmp_path):
    run = TrialRun(f"sqlite:///{tmp_path / 'mlflow.db'}", "naming", None, "trial_0003")
    assert run.client.get_run(run.run_id).info.run_name == "trial_0003"
    sampled = {"rank": 16, "alpha_multiple": 2.0, "target_modules": "qv", "learning_rate": 0.005, "epochs": 1}
    run.log_params(trial_params(trial_settings(TrialSettings(), sampled)), tags={"origin": "paper16"})
    stored = run.client.get_run(run.run_id)
    assert stored.info.run_name == "r16-a32-qv-lr5e-3-e1 · paper16" and stored.data.tags["origin"] == "paper16"
    experiment = run.client.get_experiment_by_name("naming")  # created by the trial, with the search's kind
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND


def test_the_search_s_experiment_gets_its_kind_and_description_also_when_an_older_version_made_it(tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    older = client.create_experiment("older")
    client.set_experiment_tag(older, NOTE_TAG, "a note its owner wrote")
    assert experiment_id(client, "older") == older
    tags = client.get_experiment(older).tags
    assert tags[EXPERIMENT_KIND_TAG] == "custom_model_development" and tags[NOTE_TAG] == "a note its owner wrote"
    fresh = client.get_experiment(experiment_id(client, "fresh")).tags
    assert fresh[EXPERIMENT_KIND_TAG] == "custom_model_development" and "**fresh**" in fresh[NOTE_TAG]


def test_the_knee_registered_again_keeps_its_version_and_gets_the_new_description(tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("again", artifact_location=str(tmp_path / "artifacts"))
    knee, other = (client.create_run(experiment).info.run_id for _ in range(2))
    assert register_adapter(client, knee, "again-knee", "first") == "1"
    assert register_adapter(client, knee, "again-knee", "recorded again") == "1"
    assert register_adapter(client, other, "again-knee", "a new knee") == "2"
    versions = {str(v.version): (v.run_id, v.description) for v in client.search_model_versions("name = 'again-knee'")}
    assert versions == {"1": (knee, "recorded again"), "2": (other, "a new knee")}
