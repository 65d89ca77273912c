"""Judge validity on a hand-written holdout; writes benchmarks/results/judge.json.

The holdout (tests/fixtures/judging/correctness_holdout.jsonl: 24 telecom questions, each with a reference, a
paraphrase, two or three wrong-detail answers, a loop, a truncation, a polite refusal and a generic answer)
was written by hand for this check and is never read by judging.train_judge. For each judge (the new
`local/correctness-judge` and, as the baseline, `local/reference-judge`), through the panel's litellm path:

- paraphrase vs each wrong answer of the same question (every kind named `wrong_*`: wrong_number, wrong_menu,
  wrong_polarity, wrong_harmful, wrong_step, ...): share ordered right (goal >= 0.9), mean gap (goal >= 1.0),
  and both per kind;
- per kind present in the input (whatever its name): count, mean, lowest and highest score; the goals on the
  means of loops and truncations (<= 1.5 each), refusals and generic answers (<= 2.0 each) and paraphrases
  (>= 4) are checked for the kinds the input has;
- the untuned SmolLM2-135M-Instruct's typical refusal against every question (goal: at most 2.0);
- milliseconds per judgement with no cache, after the embedding model has loaded: all items in one panel call
  (embeddings batched, as a trial judges), and one panel call per item (the unbatched baseline).

Run: `.venv/bin/python benchmarks/bench_judge.py` from the repository root; `--input` names another holdout of the
same rows (id, group or question_id, kind, question, reference, answer) and `--out` its result file, e.g. the
blind holdout written before its author read the judge: `--input tests/fixtures/judging/correctness_holdout_blind.jsonl
--out benchmarks/results/judge_blind.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import atomic  # noqa: E402
from judging import correctness, offline  # noqa: E402
from judging.panel import JudgeItem, Panel  # noqa: E402

HOLDOUT = REPO / "tests" / "fixtures" / "judging" / "correctness_holdout.jsonl"
RESULTS = REPO / "benchmarks" / "results" / "judge.json"
SMOLLM2_REFUSAL = (
    "I'm sorry, but as a customer support assistant, I'm not equipped to provide assistance with your specific "
    "issue. If you have any other questions, feel free to ask."
)
# Items timed one panel call at a time (the unbatched baseline); the batched figure uses every item.
SPEED_ITEMS = 60
GOALS = {"pairs_ordered": 0.9, "mean_gap": 1.0, "loop": 1.5, "truncated": 1.5, "refusal": 2.0, "generic": 2.0,
         "paraphrase": 4.0, "smollm2_refusal_max": 2.0}  # fmt: skip


# Names other authors give the same kinds: a harmful answer is a wrong-detail answer.
KIND_ALIASES = {"harmful": "wrong_harmful"}


def read_holdout(path: Path = HOLDOUT) -> list[dict]:
    """Rows with `group` (or `question_id`, as the second blind holdout names it) and `kind` (aliases mapped)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        {**r, "group": r.get("group", r.get("question_id")), "kind": KIND_ALIASES.get(r["kind"], r["kind"])}
        for r in rows
    ]


def display(path: Path) -> str:
    """A path as the record shows it: relative to the repository where it lies inside."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def summarise(rows: list[dict], scores: list[float]) -> dict:
    """Every goal's figure from one judge's scores of the holdout rows."""
    by_kind: dict[str, list[float]] = {}
    paraphrase = {}
    for row, score in zip(rows, scores, strict=True):
        by_kind.setdefault(row["kind"], []).append(score)
        if row["kind"] == "paraphrase":
            paraphrase[row["group"]] = score
    gaps: dict[str, list[float]] = {}
    for row, score in zip(rows, scores, strict=True):
        if row["kind"].startswith("wrong_") and row["group"] in paraphrase:
            gaps.setdefault(row["kind"], []).append(paraphrase[row["group"]] - score)
    all_gaps = [g for values in gaps.values() for g in values]
    mean = {kind: round(sum(v) / len(v), 3) for kind, v in sorted(by_kind.items())}
    if not all_gaps:
        raise ValueError("the holdout has no paraphrase with a wrong_* answer of the same group to compare")
    return {
        "pairs": len(all_gaps),
        "pairs_ordered": round(sum(g > 0 for g in all_gaps) / len(all_gaps), 3),
        "mean_gap": round(sum(all_gaps) / len(all_gaps), 3),
        "by_wrong_kind": {
            kind: {"pairs": len(v), "ordered": round(sum(g > 0 for g in v) / len(v), 3),
                   "mean_gap": round(sum(v) / len(v), 3)}
            for kind, v in sorted(gaps.items())
        },  # fmt: skip
        "mean_score": mean,
        "by_kind": {kind: {"rows": len(v), "mean": mean[kind], "min": round(min(v), 2), "max": round(max(v), 2)}
                    for kind, v in sorted(by_kind.items())},  # fmt: skip
        "max_score": {kind: round(max(v), 2) for kind, v in sorted(by_kind.items())},
        "min_paraphrase": round(min(by_kind["paraphrase"]), 2),
    }


def goals_met(summary: dict) -> dict[str, bool]:
    """Each goal whose figure the holdout gives (a kind it lacks has no goal to meet)."""
    mean = summary["mean_score"]
    return {
        "pairs_ordered": summary["pairs_ordered"] >= GOALS["pairs_ordered"],
        "mean_gap": summary["mean_gap"] >= GOALS["mean_gap"],
        **{kind: mean[kind] <= GOALS[kind] for kind in ("loop", "truncated", "refusal", "generic") if kind in mean},
        "paraphrase": mean["paraphrase"] >= GOALS["paraphrase"],
    }


def judge_rows(model: str, items: list[JudgeItem]) -> tuple[list[float], float]:
    """Scores with no cache, and the milliseconds per judgement once the embedding model is loaded: one panel
    call for all items, as a trial judges its answers (the panel embeds every text in one batch first)."""
    offline.embedding_model()
    offline._vectors.clear()  # no embedding left over from another judge's run
    panel = Panel([model], max_concurrency=1)
    start = time.perf_counter()
    result = panel.score(items)
    elapsed_ms = (time.perf_counter() - start) * 1000 / len(items)
    return [float(v) for v in result.items["judge_score"]], round(elapsed_ms, 2)


def ms_one_at_a_time(model: str, items: list[JudgeItem]) -> float:
    """Milliseconds per judgement when each item is its own panel call, so each embeds its texts alone: the
    baseline for the batched figure above, measured in the same process."""
    offline._vectors.clear()
    panel = Panel([model], max_concurrency=1)
    start = time.perf_counter()
    for item in items:
        panel.score([item])
    return round((time.perf_counter() - start) * 1000 / len(items), 2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=HOLDOUT, help="holdout JSONL (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="result JSON (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = read_holdout(args.input)
    items = [JudgeItem(r["id"], r["question"], r["reference"], r["answer"]) for r in rows]
    questions = {r["group"]: r for r in rows}
    smol = [JudgeItem(f"{g}-smollm2", r["question"], r["reference"], SMOLLM2_REFUSAL) for g, r in questions.items()]
    report = {}
    for model in (correctness.MODEL, offline.MODEL):
        scores, ms = judge_rows(model, items)
        summary = summarise(rows, scores)
        smol_scores, _ = judge_rows(model, smol)
        summary["smollm2_refusal_max"] = round(max(smol_scores), 2)
        summary["smollm2_refusal_mean"] = round(sum(smol_scores) / len(smol_scores), 2)
        summary["goals_met"] = goals_met(summary) | {
            "smollm2_refusal_max": summary["smollm2_refusal_max"] <= GOALS["smollm2_refusal_max"]
        }
        summary["ms_per_judgement"] = ms
        summary["ms_per_judgement_one_at_a_time"] = ms_one_at_a_time(model, items[:SPEED_ITEMS])
        report[model] = summary
    record = {
        "what": "judge validity on a hand-written holdout; goals from issue 23 item 2",
        "holdout": display(args.input),
        "goals": GOALS,
        "judges": report,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "note": "2 cores shared with other jobs while measured: timings are upper bounds"},
        "command": " ".join([".venv/bin/python benchmarks/bench_judge.py", *(sys.argv[1:] if argv is None else argv)]),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    atomic.write_json(args.out, record)
    shown = ("pairs_ordered", "mean_gap", "by_wrong_kind", "mean_score", "min_paraphrase", "goals_met",
             "ms_per_judgement", "ms_per_judgement_one_at_a_time")  # fmt: skip
    print(json.dumps({m: {k: s[k] for k in shown}
                      for m, s in report.items()}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
