"""ExperimentConfig: presets validate, overrides apply, and bad input is one line naming file, field and value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from common.errors import InputError
from experiment.config import ExperimentConfig, flatten, load_config
from search.space import paper16_points, seed_points, tune_space


@pytest.mark.parametrize("preset", ["local", "paper"])
def test_presets_validate(preset):
    config = load_config(preset=preset)
    assert isinstance(config, ExperimentConfig)
    assert [o.metric for o in config.search.objectives] == ["judge_score", "energy_wh"]
    assert set(config.search.reference_point) == {"judge_score", "energy_wh"}


def test_overrides_are_parsed_as_yaml_values():
    config = load_config(
        "local", overrides=["search.num_samples=7", "training.learning_rate=1e-3", "judging.panel=[a/b, c/d]"]
    )
    assert config.search.num_samples == 7
    assert config.training.learning_rate == pytest.approx(1e-3)
    assert config.judging.panel == ["a/b", "c/d"]


def test_config_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("experiment: {name: mine}\nsearch: {num_samples: 3}\n")
    config = load_config(config_file=path)
    assert config.experiment.name == "mine" and config.search.num_samples == 3


@pytest.mark.parametrize(
    ("yaml_text", "overrides", "field", "value"),
    [
        ("search: {num_samples: 3, sampler: annealing}\n", [], "search.sampler", "'annealing'"),
        ("search: {unknown_key: 1}\n", [], "search.unknown_key", "unknown key"),
        ("training: {rank: many}\n", [], "training.rank", "'many'"),
        ("training: {rank: 4096}\n", [], "training.rank", "4096"),
        ("judging: {rubric: {weights: {relevance: 0.5, style: 0.3}}}\n", [], "judging.rubric", "sum to 1"),
        ("search: {energy_budget_wh: -5}\n", [], "search.energy_budget_wh", "-5"),
        ("", ["search.space.rank.choices=[2048]"], "search.space", "rank=2048"),
        (
            "",
            ["search.objectives=[{metric: judge_score, mode: max}, {metric: val_loss, mode: min}]"],
            "search",
            "val_loss",
        ),
        ("training: {target_modules: qkv}\n", [], "training", "'qkv'"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path, yaml_text, overrides, field, value):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(InputError) as err:
        load_config(config_file=path, overrides=overrides)
    line = str(err.value)
    assert "\n" not in line
    assert field in line and value in line
    assert (str(path) in line) or overrides and f"--set {overrides[0]}" in line


def test_malformed_yaml_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("search:\n  num_samples: [1, 2\n")
    with pytest.raises(InputError, match=r"broken.yaml: malformed YAML: line \d+"):
        load_config(config_file=path)


def test_cli_bad_config_exits_2_without_traceback_or_side_effects(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("search: {sampler: annealing}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "search.run", "--config", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert (
        len(lines) == 1
        and "bad.yaml" in lines[0]
        and "search.sampler" in lines[0]
        and "annealing" in lines[0]
    )
    # Nothing started: no MLflow store, no Ray results, no corpus.
    assert not any(p.name in {"mlflow.db", "mlruns", "ray_results", "data"} for p in tmp_path.iterdir())


def test_help_documents_every_option():
    proc = subprocess.run(
        [sys.executable, "-m", "search.run", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    for option in ("--preset", "--config", "--set", "--address", "--resume", "--sampler", "paper"):
        assert option in proc.stdout


def test_paper16_grid_is_sixteen_distinct_points_in_the_space():
    config = load_config("local")
    assert len(paper16_points(config.training)) == 16
    points = seed_points(config.search, config.training)
    assert len(points) == 16
    assert {p["rank"] for p in points} == {16, 32}
    assert {p["target_modules"] for p in points} == {"qv", "qkvo", "all-linear"}
    # Optuna needs every axis in every point: the grid leaves learning rate and dropout at the defaults
    assert all(set(p) == set(config.search.space) for p in points)
    assert {p["learning_rate"] for p in points} == {config.training.learning_rate}
    space = tune_space(config.search.space)
    assert set(space) == set(config.search.space)


def test_grid_outside_space_is_refused():
    config = load_config("local", overrides=["search.space.rank.choices=[4, 8]"])
    with pytest.raises(InputError, match="paper16 grid needs rank=16"):
        seed_points(config.search, config.training)


def test_flatten_gives_strings():
    flat = flatten(load_config("local"))
    assert flat["search.sampler"] == "tpe"
    assert all(isinstance(v, str) for v in flat.values())
