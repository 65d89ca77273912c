"""Multi-fidelity judging against judging every trial with the full panel: full-panel judgements per search as a
ratio, and whether the final front is the same (its members' Jaccard index).

A search is replayed without training. Trials: `--trials` configurations drawn (with the seed) from the tabular
benchmark (benchmarks/lora_table/table.csv), each keeping its recorded training energy. Judge items: the 24
hand-written telecom questions of tests/fixtures/judging/correctness_holdout.jsonl, one scenario each. Each trial
answers each question with one of the holdout's answers to it: the paraphrase of the reference with a probability
that grows with the trial's recorded judge score (0.15 to 0.85), else one of the wrong kinds (a wrong number,
switch, menu or harmful detail, a loop, a truncation, a refusal, a generic answer), drawn with the seed. So the
trials differ as tuned adapters do, in how often they answer right, and every answer is a real text judged by real
judges.

Tiers: the cheap panel is `local/correctness-judge` (offline, the proxy: on this holdout it orders right and wrong
answers in 85-88% of pairs). The full panel is `gpt-4o-mini`, a remote judge whose replies are litellm mock
responses simulating a stronger judge than the cheap one: it knows each answer's true kind (the holdout's label)
and scores it from that kind's level (paraphrase 4.6, a wrong detail 1.5-2.3, loops, truncations, refusals and
generic answers 1.2-1.8) plus a small deterministic noise per criterion (uniform in +-0.6, from a hash of the
prompt). So the full panel carries information the cheap panel lacks, and "the same final front" compares the
front multi-fidelity judging finds with the front that judging every trial with the better judge finds. The
reference judges every trial with the full panel; multi-fidelity runs search/rejudge.py's `multi_fidelity` on the
cheap tier's front with the configured policy. Judgements are counted as the calls an uncached panel makes (one
judgement cache serves every run, so equal answers are judged once).

    .venv/bin/python -m benchmarks.bench_judging_fidelity [--trials 30] [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import tempfile
import time
import zlib
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import litellm  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from common import llm  # noqa: E402
from common.atomic import write_json  # noqa: E402
from front.objectives import DEFAULT_OBJECTIVES  # noqa: E402
from front.pareto import RANK_COLUMN  # noqa: E402
from judging.correctness import MODEL as CORRECTNESS  # noqa: E402
from judging.judgement import Usage  # noqa: E402
from judging.panel import Panel, PanelResult  # noqa: E402
from judging.prompt import neutralise  # noqa: E402
from judging.settings import JudgingConfig  # noqa: E402
from search.front_table import compute_front  # noqa: E402
from search.rejudge import judge_in_full, multi_fidelity  # noqa: E402
from trainables.judged_figures import judge_score_interval  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "benchmarks" / "lora_table" / "table.csv"
HOLDOUT = ROOT / "tests" / "fixtures" / "judging" / "correctness_holdout.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "judging_fidelity.json"
REMOTE = "gpt-4o-mini"
CRITERIA = ("relevance", "grammar", "structure", "style")
# The simulated full-panel judge's level per kind of answer (1-5): right answers high, wrong details low (harmful
# lowest), non-answers lowest of all. Written for this benchmark, not fitted to any judge.
EXPERT_LEVEL = {
    "paraphrase": 4.6,
    "wrong_menu": 2.3,
    "wrong_number": 2.2,
    "wrong_polarity": 2.0,
    "wrong_harmful": 1.5,
    "generic": 1.8,
    "truncated": 1.8,
    "refusal": 1.5,
    "loop": 1.2,
}
EXPERT_NOISE = 0.6  # half-width of the uniform noise per criterion
CANDIDATE = re.compile(r"<candidate_answer>\n(.*?)\n</candidate_answer>", re.DOTALL)
REFERENCE_POINT = {"judge_score": 1.0, "energy_wh": 1.0}


def load_questions() -> dict[str, dict[str, list[str]]]:
    """Per holdout question: its question, reference, and its answers by kind (paraphrase, wrong ones...)."""
    questions: dict[str, dict] = {}
    for line in HOLDOUT.read_text().splitlines():
        row = json.loads(line)
        q = questions.setdefault(
            row["group"], {"question": row["question"], "reference": row["reference"], "kinds": {}}
        )
        q["kinds"].setdefault(row["kind"], []).append(row["answer"])
    return questions


def make_trials(n: int, seed: int, questions: dict) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """`n` configurations of the tabular benchmark (energy as recorded) and each one's answers to the questions."""
    table = pd.read_csv(TABLE)
    final = table[table["is_final"]].drop_duplicates("config_id")
    rng = np.random.default_rng(seed)
    picked = final.iloc[rng.choice(len(final), size=n, replace=False)]
    recorded = picked["judge_score"].to_numpy(dtype=float)
    quality = (recorded - recorded.min()) / max(recorded.max() - recorded.min(), 1e-9)
    trials = pd.DataFrame(
        {
            "trial_id": [f"t{i:02d}" for i in range(n)],
            "status": "COMPLETED",
            "energy_wh": picked["energy_wh"].to_numpy(),
        }
    )
    answers = {}
    for trial, q in zip(trials["trial_id"], quality, strict=True):
        rows = []
        for group, item in questions.items():
            wrong = [a for kind, texts in item["kinds"].items() if kind != "paraphrase" for a in texts]
            right = rng.random() < 0.15 + 0.7 * q
            answer = item["kinds"]["paraphrase"][0] if right else wrong[rng.integers(len(wrong))]
            rows.append({"id": group, "question": item["question"], "reference": item["reference"], "answer": answer})
        answers[trial] = pd.DataFrame(rows).assign(scenario_id=lambda f: f["id"])
    return trials, answers


def scored(trials: pd.DataFrame, judged: dict[str, PanelResult], seed: int) -> pd.DataFrame:
    """The trials with each one's score from `judged` (mean and scenario-bootstrap interval) and judge cost."""
    out = trials.copy()
    for column in ("judge_score", "judge_score_ci_low", "judge_score_ci_high", "judge_calls", "judge_cost_usd"):
        out[column] = math.nan
    for trial, result in judged.items():
        row = out["trial_id"] == trial
        mean, low, high = judge_score_interval(result.items, seed)
        metrics = result.metrics()
        out.loc[row, ["judge_score", "judge_score_ci_low", "judge_score_ci_high"]] = [mean, low, high]
        out.loc[row, ["judge_calls", "judge_cost_usd"]] = [metrics["judge_calls"], metrics["judge_cost_usd"]]
    return out


def members(front) -> set[str]:
    return set(front.done.loc[front.done[RANK_COLUMN] == 0, "trial_id"].astype(str))


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def with_items(answers: dict[str, pd.DataFrame], judged: dict[str, PanelResult]) -> dict[str, pd.DataFrame]:
    """Each trial's answers with the cheap tier's per-item scores (what a trial keeps in its checkpoint)."""
    return {t: a.assign(judge_score=judged[t].items["judge_score"].to_numpy()) for t, a in answers.items()}


class UncachedCalls:
    """Counts the judgements an uncached panel would call (cache hits included), per model."""

    def __init__(self):
        self.by_model: dict[str, int] = {}

    def add(self, results: dict[str, PanelResult]) -> None:
        for result in results.values():
            for model in result.per_judge:
                self.by_model[model] = self.by_model.get(model, 0) + len(result.items)

    @property
    def total(self) -> int:
        return sum(self.by_model.values())


def replay(seed: int, n_trials: int, questions: dict, cache: Path, settings: JudgingConfig) -> dict:
    trials, answers = make_trials(n_trials, seed, questions)
    cheap = Panel.from_config(settings, cache_dir=cache, max_concurrency=2)
    full = Panel.from_config(settings, cache_dir=cache, tier="full", max_concurrency=2)
    ids = list(trials["trial_id"])

    started = time.perf_counter()
    reference_judged = judge_in_full(full, answers, ids)
    all_seconds = time.perf_counter() - started
    every = UncachedCalls()
    every.add(reference_judged)
    front_all = compute_front(scored(trials, reference_judged, seed), DEFAULT_OBJECTIVES, REFERENCE_POINT)

    cheap_judged = judge_in_full(cheap, answers, ids)
    front_cheap = compute_front(scored(trials, cheap_judged, seed), DEFAULT_OBJECTIVES, REFERENCE_POINT)
    started = time.perf_counter()
    outcome = multi_fidelity(front_cheap, with_items(answers, cheap_judged), settings, full, REFERENCE_POINT, seed=seed)
    mf_seconds = time.perf_counter() - started
    selected = UncachedCalls()
    selected.add(outcome.full)
    remote_all = every.by_model.get(REMOTE, 0)
    remote_mf = selected.by_model.get(REMOTE, 0)
    # One cache serves every run (equal answers recur across trials and seeds), so USD is priced per judgement: the
    # stand-in's reply, hence its price, is the same every call.
    price = remote_call_usd()
    return {
        "seed": seed,
        "trials": n_trials,
        "full_panel_trials": len(outcome.full),
        "selection": {
            "reachable": len(outcome.selection.reachable),
            "nearest_dominated": len(outcome.selection.nearest),
            "random_dominated": len(outcome.selection.sampled),
            "added_after_landing_on_front": len(outcome.added),
        },
        "full_panel_judgements": selected.total,
        "full_panel_judgements_if_all": every.total,
        "full_panel_judgement_ratio": round(selected.total / every.total, 4),
        "remote_calls_ratio": round(remote_mf / remote_all, 4) if remote_all else None,
        "full_panel_cost_usd": round(price * remote_mf, 6),
        "full_panel_cost_usd_if_all": round(price * remote_all, 6),
        "front_all": sorted(members(front_all)),
        "front_multi_fidelity": sorted(members(outcome.front)),
        "front_cheap_only": sorted(members(front_cheap)),
        "jaccard_multi_fidelity_vs_all": round(jaccard(members(outcome.front), members(front_all)), 4),
        "jaccard_cheap_only_vs_all": round(jaccard(members(front_cheap), members(front_all)), 4),
        "seconds_full_panel_on_all": round(all_seconds, 2),
        "seconds_multi_fidelity_second_tier": round(mf_seconds, 2),
    }


def remote_call_usd() -> float:
    """What litellm charges for one of the stand-in's replies (its price table, the reply's token counts)."""
    usage = Usage()
    # litellm's mock reply counts the same tokens whatever its text (10 prompt, 20 completion).
    llm.complete(REMOTE, [{"role": "user", "content": "Score this."}], usage, max_retries=0, mock_response="{}")
    return usage.cost_usd


def expert_reply(prompt: str, kinds: dict[str, str]) -> str:
    """The simulated full-panel judge's reply to one rubric prompt: the answer's kind's level plus noise."""
    answer = CANDIDATE.search(prompt).group(1)
    level = EXPERT_LEVEL[kinds[answer]]
    scores = {}
    for criterion in CRITERIA:
        draw = zlib.crc32(f"{criterion}|{prompt}".encode()) / 0xFFFFFFFF  # uniform in [0, 1], deterministic
        scores[criterion] = round(min(5.0, max(1.0, level + EXPERT_NOISE * (2 * draw - 1))), 2)
    return json.dumps({"scores": scores, "rationale": "simulated"})


def stand_in_for_remote(questions: dict) -> None:
    """litellm's mock response for the remote judge only (the simulated stronger judge); the offline judges answer
    as themselves."""
    kinds = {neutralise(a): kind for q in questions.values() for kind, texts in q["kinds"].items() for a in texts}
    real = litellm.completion

    def completion(**kwargs):
        if kwargs.get("model") != REMOTE or "mock_response" in kwargs:
            return real(**kwargs)
        return real(**{**kwargs, "mock_response": expert_reply(kwargs["messages"][-1]["content"], kinds)})

    litellm.completion = completion


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30, help="trials per replayed search (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=RESULTS, help="result JSON (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    litellm.suppress_debug_info = True
    questions = load_questions()
    stand_in_for_remote(questions)
    settings = JudgingConfig(panel=[REMOTE], cheap_panel=[CORRECTNESS], full_panel_policy="front")
    with tempfile.TemporaryDirectory() as cache:
        runs = [replay(seed, args.trials, questions, Path(cache), settings) for seed in args.seeds]
    ratios = [r["full_panel_judgement_ratio"] for r in runs]
    jaccards = [r["jaccard_multi_fidelity_vs_all"] for r in runs]
    cheap_jaccards = [r["jaccard_cheap_only_vs_all"] for r in runs]
    report = {
        "what": "full-panel judgements of multi-fidelity judging as a ratio to judging every trial with the full "
        "panel, and the final front's members against the all-full-panel front (Jaccard index)",
        "command": "python -m benchmarks.bench_judging_fidelity " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "note": "2 cores shared with other work while measured; seconds are indicative only",
        },
        "settings": {
            "cheap_panel": settings.cheap_panel,
            "full_panel": settings.panel,
            "remote_stand_in": f"{REMOTE}: litellm mock_response simulating a stronger judge: each answer's true "
            f"kind's level {EXPERT_LEVEL} plus uniform noise of +-{EXPERT_NOISE} per criterion",
            "front_probability_min": settings.front_probability_min,
            "dominated_nearest": settings.dominated_nearest,
            "dominated_random": settings.dominated_random,
            "judge_items": len(questions),
            "trials_from": str(TABLE.relative_to(ROOT)),
            "answers_from": str(HOLDOUT.relative_to(ROOT)),
        },
        "summary": {
            "full_panel_judgement_ratio_mean": round(float(np.mean(ratios)), 4),
            "full_panel_judgement_ratio_range": [min(ratios), max(ratios)],
            "jaccard_multi_fidelity_vs_all_mean": round(float(np.mean(jaccards)), 4),
            "jaccard_multi_fidelity_vs_all_min": min(jaccards),
            "same_front_share": sum(j == 1.0 for j in jaccards) / len(jaccards),
            "jaccard_cheap_only_vs_all_mean": round(float(np.mean(cheap_jaccards)), 4),
        },
        "runs": runs,
    }
    write_json(args.out, report)
    print(json.dumps(report["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
