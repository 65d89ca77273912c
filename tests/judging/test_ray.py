"""The trainable's contract: a Panel built from config inside a Ray worker, metrics ready for tune.report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.helpers import FIXTURES

FIXTURE = FIXTURES / "judging" / "telecom_items.jsonl"


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.e2e
def test_panel_inside_a_ray_worker(local_ray, tmp_path):
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()[:8]]

    @local_ray.remote
    def judge_trial(answers: list[str], cache_dir: str) -> tuple[dict, list]:
        from judging.panel import JudgeItem, Panel
        from judging.settings import JudgingConfig

        panel = Panel.from_config(JudgingConfig(), Path(cache_dir))
        panel.preflight()
        items = [JudgeItem(r["id"], r["question"], r["reference"], a) for r, a in zip(rows, answers, strict=True)]
        result = panel.score(items)
        return result.metrics(), list(result.items.columns)

    good = [r["correct"] for r in rows]
    bad = [r["garbled"] for r in rows]
    (good_metrics, columns), (bad_metrics, _) = local_ray.get(
        [judge_trial.remote(good, str(tmp_path)), judge_trial.remote(bad, str(tmp_path))]
    )
    assert good_metrics["judge_score"] > bad_metrics["judge_score"] + 1.0
    assert all(isinstance(v, float) for v in good_metrics.values())
    assert math.isnan(good_metrics["judge_agreement"])  # one judge: agreement is undefined, not 1
    assert good_metrics["judge_calls"] == 8.0 and good_metrics["judge_failures"] == 0.0
    assert "judge_score__local/reference-judge" in columns and "rationale" in columns

    again, _ = local_ray.get(judge_trial.remote(good, str(tmp_path)))
    assert again["judge_calls"] == 0.0 and again["judge_cache_hits"] == 8.0
    assert again["judge_score"] == good_metrics["judge_score"]
