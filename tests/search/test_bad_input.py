"""Bad input, as a user meets it on the command line: one line naming the file (or option), the field and the
bad value; exit code 2; no traceback; and nothing computed earlier is lost (an earlier MLflow run, an earlier
report, the built corpus and base model are all still there, byte for byte).

Most cases fail before Ray starts. Those that need the corpus or the base model share one built corpus."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import ROOT, subprocess_env

# Every search case uses the same small corpus, so the one built by the first late case is reused.
SMALL = [
    "--preset", "tiny",
    "--set", "experiment.name=badinput",
    "--set", "corpus.max_scenarios=40",
    "--set", "corpus.max_judge_items=6",
]  # fmt: skip
EARLIER_EXPERIMENT = "earlier-search"


def run_cli(module: str, args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, no traceback, exactly one `error:` line, which names every needle (file, field, value)."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], f"{needle!r} not in {errors[0]!r}"
    return errors[0]


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A working directory that already holds an earlier search's MLflow run and report."""
    folder = tmp_path_factory.mktemp("bad-input")
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.create_experiment(EARLIER_EXPERIMENT)
    run = client.create_run(experiment, tags={"lorapareto.role": "search"})
    client.log_metric(run.info.run_id, "hypervolume", 0.42)
    client.set_terminated(run.info.run_id)
    report = folder / "reports" / EARLIER_EXPERIMENT
    report.mkdir(parents=True)
    (report / "pareto_front.csv").write_text("trial_id,judge_score,energy_wh\nt1,3.5,0.01\n")
    return folder


@pytest.fixture
def nothing_lost(workdir):
    """Snapshot what was computed before the case; after it, the earlier run and every file are unchanged."""
    before = {name: _digest(workdir / name) for name in ("reports", "data", ".cache") if (workdir / name).is_dir()}
    yield
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(EARLIER_EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1 and runs[0].data.metrics["hypervolume"] == 0.42
    for name, files in before.items():
        after = _digest(workdir / name)
        assert {k: v for k, v in after.items() if k in files} == files, f"{name}/ changed"
    assert not list((workdir / "ray_results").glob("badinput*")), "a failed start left a Tune experiment"


@pytest.fixture(scope="module")
def built(workdir) -> subprocess.CompletedProcess:
    """The first late case (a target module the model lacks) builds the corpus and the tiny model, then fails."""
    proc = run_cli("search.run", [*SMALL, "--set", "training.target_modules=[q_proj, w_gate]"], workdir)
    assert list((workdir / "data").glob("*/manifest.json")), proc.stderr[-3000:]
    return proc


# --- config: fail before Ray, MLflow or the corpus start -------------------------------------------------


def test_malformed_yaml(workdir, nothing_lost):
    bad = workdir / "broken.yaml"
    bad.write_text("search:\n  num_samples: 4\n  space: {rank: [4, 8\n")
    line = assert_one_line_error(run_cli("search.run", ["--config", str(bad)], workdir), str(bad), "malformed YAML")
    assert "line " in line


def test_unknown_key(workdir, nothing_lost):
    bad = workdir / "typo.yaml"
    bad.write_text("search:\n  num_sampels: 4\n")
    assert_one_line_error(
        run_cli("search.run", ["--config", str(bad)], workdir), str(bad), "search.num_sampels", "unknown key"
    )


def test_wrong_type(workdir, nothing_lost):
    proc = run_cli("search.run", [*SMALL, "--set", "search.num_samples=many"], workdir)
    assert_one_line_error(proc, "--set search.num_samples=many", "search.num_samples", "'many'")


def test_out_of_range_rank_in_the_search_space(workdir, nothing_lost):
    proc = run_cli("search.run", [*SMALL, "--set", "search.space.rank.choices=[8, 4096]"], workdir)
    assert_one_line_error(proc, "--set search.space.rank.choices", "search.space", "rank=4096")


def test_out_of_range_default_rank(workdir, nothing_lost):
    proc = run_cli("search.run", [*SMALL, "--set", "training.rank=0"], workdir)
    assert_one_line_error(proc, "--set training.rank=0", "training.rank", "(got 0)")


def test_rubric_weights_not_summing_to_one(workdir, nothing_lost):
    config = workdir / "rubric.yaml"
    config.write_text("judging:\n  rubric:\n    weights: {relevance: 0.5, grammar: 0.2, structure: 0.2, style: 0.2}\n")
    proc = run_cli("search.run", ["--config", str(config)], workdir)
    assert_one_line_error(proc, str(config), "judging.rubric", "sum to 1", "1.1")


def test_rubric_file_of_the_judge_cli_not_summing_to_one(workdir, nothing_lost):
    rubric = workdir / "weights.yaml"
    rubric.write_text("version: v2\nweights: {relevance: 0.9, grammar: 0.3}\n")
    answers = _answers_csv(workdir)
    proc = run_cli(
        "judging.score",
        ["--input", str(answers), "--output", str(workdir / "out.csv"), "--rubric", str(rubric)],
        workdir,
    )
    assert_one_line_error(proc, str(rubric), "weights", "1.2")
    assert not (workdir / "out.csv").exists()


def test_unknown_sampler(workdir, nothing_lost):
    proc = run_cli("search.run", [*SMALL, "--set", "search.sampler=cmaes"], workdir)
    assert_one_line_error(proc, "--set search.sampler=cmaes", "search.sampler", "'cmaes'")


def test_negative_energy_budget(workdir, nothing_lost):
    proc = run_cli("search.run", [*SMALL, "--set", "search.energy_budget_wh=-5"], workdir)
    assert_one_line_error(proc, "--set search.energy_budget_wh=-5", "search.energy_budget_wh", "-5")


def test_override_without_a_value(workdir, nothing_lost):
    proc = run_cli("search.run", [*SMALL, "--set", "search.num_samples"], workdir)
    assert_one_line_error(proc, "--set", "'search.num_samples'", "section.key=value")


def test_unwritable_output_directory(workdir, nothing_lost):
    blocker = workdir / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    proc = run_cli("search.run", [*SMALL, "--set", f"paths.reports_dir={blocker}/reports"], workdir)
    assert_one_line_error(proc, "paths.reports_dir", f"{blocker}/reports")
    assert not (workdir / "optuna.db").exists(), "the search must not start"


def test_resume_of_a_search_that_does_not_exist(workdir, nothing_lost):
    proc = run_cli("search.run", [*SMALL, "--resume", "never-ran"], workdir)
    assert_one_line_error(proc, "--resume", "'never-ran'")


# --- the judge CLI ---------------------------------------------------------------------------------------


def _answers_csv(workdir: Path) -> Path:
    path = workdir / "answers.csv"
    path.write_text('question,reference,answer\n"My APN fails?","Reset the APN.","Try resetting the APN."\n')
    return path


def test_corrupt_parquet(workdir, nothing_lost):
    corrupt = workdir / "answers.parquet"
    corrupt.write_bytes(b"PAR1" + os.urandom(200))
    proc = run_cli("judging.score", ["--input", str(corrupt), "--output", str(workdir / "out.csv")], workdir)
    assert_one_line_error(proc, str(corrupt), "cannot parse")


def test_empty_judge_set(workdir, nothing_lost):
    empty = workdir / "empty.csv"
    empty.write_text("question,reference,answer\n")
    proc = run_cli("judging.score", ["--input", str(empty), "--output", str(workdir / "out.csv")], workdir)
    assert_one_line_error(proc, str(empty), "judge set is empty")
    assert not (workdir / "out.csv").exists()


def test_unknown_judge_provider(workdir, nothing_lost):
    answers = _answers_csv(workdir)
    proc = run_cli(
        "judging.score",
        ["--input", str(answers), "--output", str(workdir / "out.csv"), "--panel", "nosuchprovider/judge-1"],
        workdir,
    )
    assert_one_line_error(proc, "judging.panel", "nosuchprovider/judge-1", "unknown model")


def test_judge_output_in_an_unwritable_directory(workdir, nothing_lost):
    blocker = workdir / "plain-file"
    blocker.write_text("x")
    answers = _answers_csv(workdir)
    proc = run_cli("judging.score", ["--input", str(answers), "--output", str(blocker / "out.csv")], workdir)
    assert_one_line_error(proc, "--output", str(blocker))


def test_report_of_an_experiment_that_does_not_exist(workdir, nothing_lost):
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    proc = run_cli("reports.build", ["no-such-search", "--tracking-uri", uri], workdir)
    assert_one_line_error(proc, "experiment", "'no-such-search'")


# --- cases that fail after the corpus is built: the corpus and the base model stay -----------------------


@pytest.mark.e2e
def test_target_module_the_model_does_not_have(built, workdir, nothing_lost):
    assert_one_line_error(built, "target_modules", "w_gate", "q_proj")
    assert list((workdir / ".cache" / "lorapareto" / "models").glob("tiny-qwen2-*/config.json"))


@pytest.mark.e2e
def test_missing_base_model(built, workdir, nothing_lost):
    proc = run_cli("search.run", [*SMALL, "--set", "model.base=/no/such/model-dir"], workdir)
    assert_one_line_error(proc, "model.base", "'/no/such/model-dir'")


@pytest.mark.e2e
def test_unknown_judge_provider_in_the_search(built, workdir, nothing_lost):
    proc = run_cli("search.run", [*SMALL, "--set", "judging.panel=[nosuchprovider/judge-1]"], workdir)
    assert_one_line_error(proc, "judging.panel", "nosuchprovider/judge-1")


@pytest.mark.e2e
def test_glossary_entry_missing_a_field(built, workdir, nothing_lost):
    source = (ROOT / "corpus" / "glossary" / "telecom.yaml").read_text()
    first_check = next(line for line in source.splitlines() if line.strip().startswith("check:"))
    glossary = workdir / "glossary.yaml"
    glossary.write_text(source.replace(first_check + "\n", "", 1))
    proc = run_cli("search.run", [*SMALL, "--set", f"corpus.glossary={glossary}"], workdir)
    assert_one_line_error(proc, str(glossary), "terms[0]", "'APN'", "check", "missing required field")


@pytest.mark.e2e
def test_corrupt_parquet_in_the_built_corpus(built, workdir, nothing_lost):
    shard = sorted((workdir / "data").glob("*/train/*.parquet"))[0]
    original = shard.read_bytes()
    shard.write_bytes(original[: len(original) // 2])  # a shard torn by a disk or a copy gone wrong
    try:
        proc = run_cli("search.run", SMALL, workdir)
    finally:
        shard.write_bytes(original)
    assert_one_line_error(proc, str(shard), "corrupt Parquet", "delete")


# --- issue 24: refused from the config's own knowledge, before anything starts --------------------------------


def test_reference_point_above_the_rubric_maximum(workdir, nothing_lost):
    proc = run_cli("search.run", [*SMALL, "--set", "search.reference_point.judge_score=9"], workdir)
    assert_one_line_error(proc, "--set search.reference_point.judge_score=9", "can never be beaten", "[1, 5]")


def test_unreachable_ray_address_within_seconds(workdir, nothing_lost):
    started = time.perf_counter()
    proc = run_cli("search.run", [*SMALL, "--address", "127.0.0.1:1"], workdir)
    assert_one_line_error(proc, "--address", "127.0.0.1:1", "does not answer")
    assert time.perf_counter() - started < 60  # it hung for more than 2 minutes; the probe itself takes < 3 s


def test_infinite_setting(workdir, nothing_lost):
    proc = run_cli("search.run", [*SMALL, "--set", "search.cpus_per_trial=.inf"], workdir)
    assert_one_line_error(proc, "--set search.cpus_per_trial=.inf", "search.cpus_per_trial", "finite")


def test_report_csv_with_text_as_a_validation_loss(workdir, nothing_lost):
    table = workdir / "published.csv"
    table.write_text("trial_id,judge_score,energy_wh,val_loss\nt1,3.5,0.02,1.2\nt2,3.1,0.01,x\n")
    proc = run_cli("reports.build", ["--csv", str(table), "--out-dir", str(workdir / "csv-report")], workdir)
    assert_one_line_error(proc, str(table), "val_loss", "'x'", "row 3")
    assert not (workdir / "csv-report").exists()


def test_corpus_import_of_a_header_without_rows(workdir, nothing_lost):
    tickets = workdir / "tickets.csv"
    tickets.write_text("question,answer\n")
    proc = run_cli("corpus.import", ["--qa", str(tickets), "--out", str(workdir / "imported")], workdir)
    assert_one_line_error(proc, str(tickets), "no data rows")
    assert not (workdir / "imported" / "manifest.json").exists()


@pytest.mark.e2e
def test_paper_preset_without_its_model_fails_before_the_corpus(tmp_path):
    # On a small machine the preset's 4 CPUs and 1 GPU per trial are refused first; then the missing model is.
    small = run_cli("search.run", ["--preset", "paper", "--set", "experiment.name=paper-small"], tmp_path)
    assert_one_line_error(small, "_per_trial", "per trial, but this machine gives Ray")
    cpu_only = ["--set", "search.gpus_per_trial=0", "--set", "search.cpus_per_trial=1"]
    proc = run_cli("search.run", ["--preset", "paper", "--set", "experiment.name=paper-nomodel", *cpu_only], tmp_path)
    assert_one_line_error(proc, "model.base", "Qwen/Qwen2.5-3B-Instruct")
    assert not list((tmp_path / "data").glob("*/manifest.json")), "the corpus must not be built"
