"""The front explored in MLflow as a person does it (issue 22): one small search against a real `mlflow server`,
read back through MLflow's REST API (the experiment's kind, the runs' names, the parent run's description, the
judged answers as a table, the knee's model version) and in Debian's chromium (the runs table with the trials'
names, the parent run's page with its description)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

from common.mlflow_names import EXPERIMENT_KIND, FRONT_MARKER, KNEE_MARKER, NOTE_TAG
from tests.helpers import MlflowServer, shared_corpus, subprocess_env

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NAME = "ui-search"
JUDGE_ITEMS = 6
# Two axes in the space: the paper16 grid collapses onto two points (ranks 16 and 32 at the default learning
# rate), and the third trial is the sampler's, so both origins appear.
OPTIONS = [
    "--preset", "tiny",
    "--set", f"experiment.name={NAME}",
    "--set", "search.num_samples=3",
    "--set", "search.sampler=random",
    "--set", "search.space={rank: {choices: [16, 32]}, learning_rate: {low: 0.001, high: 0.02, log: true}}",
    "--set", "training.epochs=1",
    "--set", "corpus.max_scenarios=40",
    "--set", f"corpus.max_judge_items={JUDGE_ITEMS}",
]  # fmt: skip
# `r16-a32-qv-lr5e-3-e1 · paper16`, with `★ ` before it on the front and `★ knee · ` for the knee.
TRIAL_NAME = re.compile(r"^(★ (knee · )?)?r(16|32)-a(32|64)-qv-lr\d(\.\d)?e-\d+-e1 · (paper16|sampler)$")
KNEE = FRONT_MARKER + KNEE_MARKER


def _get(server: MlflowServer, path: str, **query) -> dict:
    url = f"{server.url}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _post(server: MlflowServer, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{server.url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _tags(entity: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in entity.get("tags", [])}


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """The search, run once against the server; yields (server, workdir, experiment, runs by role)."""
    workdir = tmp_path_factory.mktemp("ui")
    (workdir / "server").mkdir()
    server = MlflowServer(workdir / "server").start()
    try:
        server.wait_healthy()
        out = subprocess.run(
            [sys.executable, "-m", "search.run", *OPTIONS, *shared_corpus(), "--set", f"tracking.uri={server.url}"],
            cwd=workdir, env=subprocess_env(), capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        experiment = _get(server, "/api/2.0/mlflow/experiments/get-by-name", experiment_name=NAME)["experiment"]
        runs = _post(server, "/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment["experiment_id"]]})
        by_role: dict[str, list[dict]] = {"search": [], "trial": []}
        for run in runs["runs"]:
            by_role[_tags(run["data"])["lorapareto.role"]].append(run)
        yield server, workdir, experiment, by_role
    finally:
        server.stop()


def test_the_experiment_is_a_model_training_one_and_says_where_its_results_are(search):
    _, _, experiment, _ = search
    tags = _tags(experiment)
    assert tags["mlflow.experimentKind"] == EXPERIMENT_KIND == "custom_model_development"
    assert "Model training" in tags[NOTE_TAG] and "workflowType=machine_learning" in tags[NOTE_TAG]


def test_runs_are_named_by_their_settings_and_origin_with_the_front_and_knee_marked(search):
    _, _, _, runs = search
    (parent,) = runs["search"]
    assert parent["info"]["run_name"] == NAME
    trials = runs["trial"]
    assert len(trials) == 3
    names = {}
    for run in trials:
        name, tags = run["info"]["run_name"], _tags(run["data"])
        assert TRIAL_NAME.match(name), name
        params = {p["key"]: p["value"] for p in run["data"]["params"]}
        assert name.removeprefix(KNEE).removeprefix(FRONT_MARKER).startswith(
            f"r{params['rank']}-a{float(params['alpha']):g}-qv-"
        )
        assert name.endswith(f" · {tags['origin']}")
        assert name.startswith(FRONT_MARKER) == (tags["pareto_rank"] == "0")
        assert name.startswith(KNEE) == (tags["lorapareto.knee"] == "true")
        names[run["info"]["run_id"]] = name
    assert sorted(_tags(r["data"])["origin"] for r in trials) == ["paper16", "paper16", "sampler"]
    knees = [run_id for run_id, name in names.items() if name.startswith(KNEE)]
    assert knees == [_tags(parent["data"])["knee_run_id"]]


def test_the_parent_run_describes_the_front_knee_baseline_and_commands(search):
    server, workdir, _, runs = search
    (parent,) = runs["search"]
    note = _tags(parent["data"])[NOTE_TAG]
    metrics = {m["key"]: m["value"] for m in parent["data"]["metrics"]}
    front = [r for r in runs["trial"] if _tags(r["data"])["pareto_rank"] == "0"]
    assert f"# LoRA search `{NAME}` on `tiny-qwen2`" in note
    assert "maximise `judge_score`" in note and "minimise `energy_wh`" in note
    assert "`judge_score` 1, `energy_wh` 0.1" in note  # the tiny preset's reference point
    assert f"## Pareto front: {len(front)} of 3 completed trials" in note
    for run in front:  # one table row per member, named as its run
        assert re.search(rf"^\| {re.escape(run['info']['run_name'])} \| [\d.]+ ", note, re.M), run["info"]["run_name"]
    assert "an **estimate**, not measured (`estimate:" in note
    # Intervals where the bootstrap computed them (its metrics on the parent), and only there.
    hypervolume = f"**Hypervolume:** {metrics['hypervolume']:.3g}"
    if "hypervolume_ci_low" in metrics:
        assert f"{hypervolume} [{metrics['hypervolume_ci_low']:.3g}, {metrics['hypervolume_ci_high']:.3g}]" in note
        assert "front probability" in note and "of the bootstrap replicates" in note
    else:
        assert f"{hypervolume} (interval not computed)" in note
    assert f"`judge_score` {metrics['baseline_judge_score']:.3g}" in note.split("## Baseline")[1]
    assert f"`{NAME}-knee v1`" in note
    for command in ("--resume", "--resync", "-m reports.build", "-m webbrowser"):
        assert command in note, command
    assert (workdir / "reports" / NAME / "search_config.json").is_file()
    # The resync command, run as the description writes it, finds the search and has nothing left to log.
    block = note.split("```bash\n")[1].split("```")[0].splitlines()
    resync = block[block.index(next(line for line in block if line.startswith("# log into MLflow"))) + 1]
    out = subprocess.run(["bash", "-c", resync], env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"Resynced '{NAME}': 3 trials in Tune's storage; created 0 MLflow runs" in out.stdout
    # Recording the front again keeps the knee's one registered version.
    versions = _get(server, "/api/2.0/mlflow/model-versions/search", filter=f"name = '{NAME}-knee'")
    assert [v["version"] for v in versions["model_versions"]] == ["1"], out.stdout
    again = _get(server, "/api/2.0/mlflow/runs/get", run_id=parent["info"]["run_id"])["run"]
    assert f"`{NAME}-knee v1`" in _tags(again["data"])[NOTE_TAG]


def test_every_trial_s_judged_answers_are_a_table_in_mlflow(search):
    server, _, _, runs = search
    for run in runs["trial"]:
        logged = json.loads(_tags(run["data"])["mlflow.loggedArtifacts"])
        assert {"path": "judge_answers.json", "type": "table"} in logged
        where = run["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
        table = _get(server, f"/api/2.0/mlflow-artifacts/artifacts/{where}/judge_answers.json")
        columns = table["columns"]
        assert {"question", "reference", "answer", "judge_score"} <= set(columns)
        assert len(table["data"]) == JUDGE_ITEMS
        rows = [dict(zip(columns, row, strict=True)) for row in table["data"]]
        assert all(row["question"].strip() and row["reference"].strip() for row in rows)
        assert all(row["judge_score"] is None or 1 <= row["judge_score"] <= 5 for row in rows)


def test_the_registered_knee_says_what_it_is(search):
    server, _, _, runs = search
    (parent,) = runs["search"]
    knee_run = _tags(parent["data"])["knee_run_id"]
    knee = next(r for r in runs["trial"] if r["info"]["run_id"] == knee_run)
    version = _get(server, "/api/2.0/mlflow/model-versions/get", name=f"{NAME}-knee", version="1")["model_version"]
    assert version["run_id"] == knee_run
    description = version["description"]
    bare = knee["info"]["run_name"].removeprefix(KNEE)
    for part in (f"search `{NAME}`", "`tiny-qwen2`", f"`{bare}`", "Judge score", "Training energy", "(estimate)"):
        assert part in description, part


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_the_runs_table_and_the_parent_s_description_in_chromium(search, tmp_path):
    from playwright.sync_api import sync_playwright

    server, _, experiment, runs = search
    (parent,) = runs["search"]
    names = [r["info"]["run_name"] for r in runs["trial"]]
    runs_page = f"{server.url}/#/experiments/{experiment['experiment_id']}/runs?workflowType=machine_learning"
    with sync_playwright() as p:
        # --no-sandbox: test containers run as root, where chromium's sandbox refuses to start.
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1600, "height": 900}).new_page()
        page.goto(runs_page)
        page.get_by_text(NAME, exact=True).first.wait_for(timeout=60_000)
        # The trials sit under the parent run, folded: its name cell's button (`+`) unfolds them.
        page.locator("[role=gridcell]").filter(has_text=NAME).first.locator("button").first.click()
        for name in names:
            page.get_by_text(name, exact=True).first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)
        runs_page = f"{server.url}/#/experiments/{experiment['experiment_id']}/runs"
        page.goto(f"{runs_page}/{parent['info']['run_id']}")
        page.get_by_text("Knee (the balanced choice)").first.wait_for(timeout=60_000)
        unfold = page.get_by_text("Show more", exact=True)  # a long description is shown folded
        if unfold.count():
            unfold.first.click()
        description = page.inner_text("body")
        page.screenshot(path=str(tmp_path / "parent.png"), full_page=True)
        trial = runs["trial"][0]["info"]
        page.goto(f"{runs_page}/{trial['run_id']}/artifacts/judge_answers.json")
        # Shown as a table (MLflow reads log_table's `mlflow.loggedArtifacts` tag), one column per field.
        for column in ("question", "reference", "answer", "judge_score"):
            page.locator(f"[role=columnheader] [title='{column}']").wait_for(timeout=60_000)
        answers = page.inner_text("body")
        page.screenshot(path=str(tmp_path / "answers.png"), full_page=True)
        browser.close()
    assert "Pareto front:" in description and "Commands" in description and "--resume" in description
    assert trial["run_name"] in answers and "View as table" in answers
    assert os.path.getsize(tmp_path / "runs.png") > 10_000
