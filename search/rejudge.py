"""Multi-fidelity judging's second tier: at a search's end, the full panel judges the answers trials already gave,
for the trials that can still reach the front and a few dominated ones, and the front is recomputed.

Under `judging.full_panel_policy: front` every trial was scored by the cheap panel (the offline correctness judge by
default: no API calls); remote judges cost money per call, so they see only (docs/judging.md):

- the trials that can still reach the front: on the cheap panel's front, or on it in at least
  `judging.front_probability_min` of the paired bootstrap's replicates over the judge items the trials share
  (front/uncertainty.py); without per-item scores, those not dominated when taken at the best end of their
  judge-score interval and every rival at the worst end of its own;
- `judging.dominated_nearest` dominated trials nearest the front (lowest Pareto rank, then largest crowding
  distance, NSGA-II's order) and `judging.dominated_random` more drawn with the experiment's seed: without them the
  panel would never see where the front ends, nor whether the cheap tier's screen was right.

The front is then recomputed with the full panel's scores where present. A trial only the cheap panel scored that
lands on the recomputed front (the tiers' scales differ) is judged by the full panel too, and the front recomputed
again, so every front member carries a full-panel score. Each trial's `judge_tier` says which tier its
`judge_score` comes from; `judge_score_cheap` keeps the cheap panel's. Nothing is regenerated: the answers are those
each trial kept in its checkpoint (`common.mlflow_names.JUDGE_ANSWERS`).

Under `all` (every trial judged by the full panel) nothing is judged again; both policies report the judge calls,
tokens and USD per trial and per search.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common.atomic import write_json
from common.mlflow_names import BASELINE_ANSWERS_FULL, JUDGE_ANSWERS_FULL
from experiment.config import ExperimentConfig
from front.objectives import Objective, to_minimisation
from front.pareto import RANK_COLUMN, crowding_distance, pareto_ranks
from front.uncertainty import JUDGE_METRIC, compute_front_uncertainty
from judging.calibration import CalibrationResult
from judging.panel import JudgeItem, Panel, PanelResult
from judging.settings import JudgingConfig
from search.front_table import Front, compute_front
from search.judged_items import BASELINE_ROW, PER_JUDGE_PREFIX
from search.storage import reports_dir
from trainables.judged_figures import SCENARIO_ID, judge_score_interval, scenario_ids
from trainables.tracking import tolerating_mlflow_outage

log = logging.getLogger(__name__)
TIER = "judge_tier"
CHEAP, FULL = "cheap", "full"
CHEAP_SCORE = "judge_score_cheap"
CHEAP_FRONT_PROBABILITY = "front_probability_cheap"
# A trial's own judging (what it reported, and what Optuna saw when `judge_cost_usd` is an objective), and the full
# panel's at the search's end beside it: adding the second into the first would make the cost axis say which trials
# the search chose to rejudge rather than what a configuration costs to judge.
COST_COLUMNS = ("judge_calls", "judge_tokens", "judge_cost_usd")
FULL_COST_COLUMNS = tuple(f"{name}_full" for name in COST_COLUMNS)
# A panel's counters: never copied over the trial's own.
USAGE_METRICS = (*COST_COLUMNS, "judge_cache_hits", "judge_failures")
# What the front and trial tables show beyond front_table's columns.
COLUMNS = (TIER, CHEAP_SCORE, CHEAP_FRONT_PROBABILITY, *COST_COLUMNS, *FULL_COST_COLUMNS)
FULL_ARTIFACT = JUDGE_ANSWERS_FULL
PENDING_METRIC = "full_panel_pending_trials"
JUDGING_LEDGER = "judging_calls.json"
CALIBRATION_KEY = "calibration"


@dataclass(frozen=True)
class Selection:
    """The trials the full panel judges, by why (trial ids, each list in a deterministic order)."""

    reachable: tuple[str, ...]  # can still reach the front under the cheap panel
    nearest: tuple[str, ...]  # dominated, nearest the front
    sampled: tuple[str, ...]  # dominated, drawn at random with the seed

    @property
    def trials(self) -> tuple[str, ...]:
        return (*self.reachable, *self.nearest, *self.sampled)


@dataclass
class Rejudged:
    """What the second tier did: the recomputed front and what it cost."""

    front: Front
    selection: Selection | None  # None under policy `all`
    added: tuple[str, ...] = ()  # cheap-only trials that landed on the recomputed front, then judged in full
    full: dict[str, PanelResult] = field(default_factory=dict)  # by trial id
    judgements_if_all: int = 0  # full-panel judgements had every completed trial been judged in full
    # The calls the checks at the search's start made (search/judge_checks.py: one preflight probe per judge, then
    # the calibration on known answers): counted apart, as they judge no trial; empty where the search did not
    # calibrate (a resync).
    calibration: Mapping[str, float] = field(default_factory=dict)
    pending: tuple[str, ...] = ()  # selected, but every full-panel judgement failed: the cheap score kept

    @property
    def full_usage(self) -> dict[str, float]:
        usage = dict.fromkeys(("calls", "failures", "prompt_tokens", "completion_tokens", "cost_usd"), 0.0)
        for result in self.full.values():
            for name in usage:
                usage[name] += float(result.usage[name])
        return usage

    @property
    def full_judgements(self) -> int:
        return sum(len(r.items) * len(r.per_judge) for r in self.full.values())

    def search_metrics(self) -> dict[str, float]:
        """The parent run's judging cost: every tier over every trial, and the full panel's share."""
        table = self.front.trials
        usage = self.full_usage
        tokens = usage["prompt_tokens"] + usage["completion_tokens"]
        full = {"judge_calls": usage["calls"], "judge_tokens": tokens, "judge_cost_usd": usage["cost_usd"]}
        metrics = {name: _column_sum(table, name) + full[name] for name in COST_COLUMNS}
        metrics.update({f"full_panel_{name.removeprefix('judge_')}": value for name, value in full.items()})
        metrics["full_panel_trials"] = float(len(self.full))
        if self.selection is not None:
            # 0 once every selected trial is judged in full: what `--resync` looks at to finish the rejudge.
            metrics[PENDING_METRIC] = float(len(self.pending))
        if self.selection is not None and self.judgements_if_all:
            metrics["full_panel_judgement_ratio"] = self.full_judgements / self.judgements_if_all
        if self.calibration:
            c = self.calibration
            metrics.update(
                calibration_judge_calls=float(c.get("calls", 0)),
                calibration_judge_tokens=float(c.get("prompt_tokens", 0) + c.get("completion_tokens", 0)),
                calibration_judge_cost_usd=float(c.get("cost_usd", 0.0)),
            )
        return metrics

    def summary_line(self, name: str = "NAME") -> str:
        m = self.search_metrics()
        line = (
            f"Judging: {m['judge_calls']:.0f} calls, {m['judge_tokens']:.0f} tokens, "
            f"{m['judge_cost_usd']:.4g} USD over all trials"
        )
        if self.selection is None:
            return line + " (every trial judged by the full panel)" + self._calibration_text() + "."
        s = self.selection
        return line + (
            f"; full panel on {len(self.full)} of {len(self.front.done)} completed trials ({len(s.reachable)} could "
            f"reach the front, {len(s.nearest)} nearest dominated, {len(s.sampled)} at random"
            + (f", {len(self.added)} added after landing on the front" if self.added else "")
            + f"): {self.full_judgements} of {self.judgements_if_all} judgements "
            f"({m.get('full_panel_judgement_ratio', math.nan):.0%}), {m['full_panel_cost_usd']:.4g} USD"
            + self._calibration_text()
            + "."
            + self._pending_text(name)
        )

    def _pending_text(self, name: str) -> str:
        if not self.pending:
            return ""
        return (
            f" The full panel could not judge {', '.join(self.pending)} (every judgement failed): they keep the cheap "
            f"panel's score; once the judges answer, `python -m search.run --resync {name}` (with this search's "
            "--preset/--config/--set) judges them and recomputes the front."
        )

    def _calibration_text(self) -> str:
        if not self.calibration:
            return ""
        m = self.search_metrics()
        return (
            "; besides, the judge checks at the start (a probe per judge, then the calibration on known answers): "
            f"{m['calibration_judge_calls']:.0f} calls, "
            f"{m['calibration_judge_tokens']:.0f} tokens, {m['calibration_judge_cost_usd']:.4g} USD"
        )


def interval_survivors(table: pd.DataFrame, objectives: Sequence[Objective]) -> list[str]:
    """Trials not dominated when each is taken at the best end of its judge-score interval and every rival at the
    worst end of its own (the point estimate where an interval is missing); other objectives at their values.
    `table`: indexed by trial id, the objectives' columns plus `judge_score_ci_low/high`."""
    losses = to_minimisation(table, objectives)
    best, worst = losses.copy(), losses.copy()
    for k, objective in enumerate(objectives):
        if objective.metric != JUDGE_METRIC:
            continue
        low = _numeric(table, f"{JUDGE_METRIC}_ci_low").fillna(table[JUDGE_METRIC]).to_numpy(dtype=float)
        high = _numeric(table, f"{JUDGE_METRIC}_ci_high").fillna(table[JUDGE_METRIC]).to_numpy(dtype=float)
        best[:, k] = objective.sign * (high if objective.mode == "max" else low)
        worst[:, k] = objective.sign * (low if objective.mode == "max" else high)
    finite = np.isfinite(losses).all(axis=1)
    survivors = []
    for i in np.flatnonzero(finite):
        rivals = worst[finite & (np.arange(len(table)) != i)]
        dominated = ((rivals <= best[i]).all(axis=1) & (rivals < best[i]).any(axis=1)).any()
        if not dominated:
            survivors.append(str(table.index[i]))
    return survivors


def select_for_full_panel(
    table: pd.DataFrame,
    objectives: Sequence[Objective],
    settings: JudgingConfig,
    front_probability: Mapping[str, float],
    seed: int,
) -> Selection:
    """Which completed trials the full panel judges (`table`: indexed by trial id, as for `interval_survivors`);
    the same inputs and seed always give the same selection."""
    table = table.set_axis(table.index.astype(str))
    finite = np.isfinite(to_minimisation(table, objectives)).all(axis=1)
    table = table[finite]
    if front_probability:
        # The point front always, and whoever the paired bootstrap puts on it often enough. Not the interval rule
        # as well: two 95% intervals that overlap are far from a 5% chance of a reversal, and on 24 items the rule
        # kept 25-28 of 30 trials (benchmarks/bench_judging_fidelity.py).
        likely = {t for t, p in front_probability.items() if math.isfinite(p) and p >= settings.front_probability_min}
        reach = set(table.index[pareto_ranks(table, objectives) == 0]) | (likely & set(table.index))
    else:
        reach = set(interval_survivors(table, objectives))
    reachable = tuple(t for t in table.index if t in reach)
    by_nearness = _nearest_first(table, list(reachable), objectives)
    nearest = tuple(by_nearness[: settings.dominated_nearest])
    rest = sorted(set(by_nearness) - set(nearest), key=by_nearness.index)
    draw = min(settings.dominated_random, len(rest))
    picked = np.random.default_rng(seed).choice(len(rest), size=draw, replace=False) if draw else []
    return Selection(reachable, nearest, tuple(rest[i] for i in sorted(picked)))


def _nearest_first(table: pd.DataFrame, reachable: list[str], objectives: Sequence[Objective]) -> list[str]:
    """The other trials nearest the front first: by Pareto rank, then by crowding distance within the rank (the
    most isolated first, as NSGA-II keeps them), then in table order."""
    dominated = table.drop(index=reachable)
    if dominated.empty:
        return []
    ranks = pareto_ranks(table, objectives).loc[dominated.index]
    crowding = pd.concat([crowding_distance(dominated[ranks == r], objectives) for r in ranks.unique()])
    order = pd.DataFrame(
        {"rank": ranks, "crowding": -crowding.reindex(dominated.index).fillna(-np.inf), "pos": range(len(dominated))}
    )
    return list(order.sort_values(["rank", "crowding", "pos"]).index)


def cheap_front_probability(
    answers: Mapping[str, pd.DataFrame], table: pd.DataFrame, objectives: Sequence[Objective], seed: int
) -> dict[str, float]:
    """Each trial's probability of being on the front under the cheap panel: the paired bootstrap over the judge
    items the trials share, resampled by scenario (front/uncertainty.py). Empty without judged items."""
    names = [o.metric for o in objectives]
    trials = [t for t in table.index.astype(str) if t in answers and not answers[t].empty]
    if JUDGE_METRIC not in names or not trials:
        return {}
    first = answers[trials[0]]
    scores = pd.DataFrame([_item_scores(answers[t]) for t in trials], index=trials)
    scores = scores.reindex(columns=list(first["id"].astype(str)))
    metrics = table.set_axis(table.index.astype(str)).loc[trials, [n for n in names if n != JUDGE_METRIC]]
    result = compute_front_uncertainty(scores, scenario_ids(first), metrics, objectives, seed=seed)
    return {str(row.trial): row.front_probability for row in result.trials}


def _item_scores(items: pd.DataFrame) -> pd.Series:
    return pd.Series(pd.to_numeric(items[JUDGE_METRIC], errors="coerce").to_numpy(), index=items["id"].astype(str))


def judge_in_full(panel: Panel, answers: Mapping[str, pd.DataFrame], trials: Sequence[str]) -> dict[str, PanelResult]:
    """The full panel on each trial's kept answers (all its judge items), the per-item table with each scenario."""
    out = {}
    for trial in trials:
        kept = answers[trial]
        fields = ("id", "question", "reference", "answer")
        result = panel.score([JudgeItem(*(str(r[f]) for f in fields)) for r in kept.to_dict("records")])
        result.items[SCENARIO_ID] = scenario_ids(kept)
        out[trial] = result
    return out


def with_tiers(
    done: pd.DataFrame, full: Mapping[str, PanelResult], seed: int, front_probability: Mapping[str, float]
) -> pd.DataFrame:
    """The completed trials with the full panel's scores where present (score, criteria, agreement, interval), the
    cheap panel's score kept beside, each trial's tier, its own judge calls, tokens and USD and the full panel's."""
    out = done.copy()
    ids = out["trial_id"].astype(str)
    out[CHEAP_SCORE] = _numeric(out, JUDGE_METRIC)
    out[CHEAP_FRONT_PROBABILITY] = ids.map(front_probability).astype(float)
    out[TIER] = np.where(ids.isin(list(full)), FULL, CHEAP)
    for name in COST_COLUMNS:
        out[name] = _numeric(out, name).fillna(0.0)
        out[f"{name}_full"] = 0.0
    for trial, result in full.items():
        row = ids == trial
        _, low, high = judge_score_interval(result.items, seed)
        metrics = result.metrics()
        figures = {name: value for name, value in metrics.items() if name not in USAGE_METRICS}
        figures.update(judge_score_ci_low=low, judge_score_ci_high=high)
        for name, value in figures.items():
            out.loc[row, name] = value
        for name in COST_COLUMNS:
            out.loc[row, f"{name}_full"] = metrics[name]
    return out


def multi_fidelity(
    front: Front,
    answers: Mapping[str, pd.DataFrame],
    settings: JudgingConfig,
    panel: Panel,
    reference_point: Mapping[str, float],
    space: Sequence[str] = (),
    seed: int = 0,
    ledger: JudgingLedger | None = None,
) -> Rejudged:
    """Select, judge in full, recompute the front; judge any cheap-only trial that lands on it and recompute again.
    A trial whose every full-panel judgement failed (the provider down) keeps the cheap panel's score and tier and
    is listed as pending, not dropped from the front for a NaN."""
    objectives = list(front.objectives)
    done = front.done[front.done["trial_id"].astype(str).isin(list(answers))]
    table = done.set_index(done["trial_id"].astype(str))
    probability = cheap_front_probability(answers, table, objectives, seed)
    selection = select_for_full_panel(table, objectives, settings, probability, seed)
    full: dict[str, PanelResult] = {}
    pending: list[str] = []
    added: list[str] = []
    to_judge = list(selection.trials)
    while to_judge:
        judged = judge_in_full(panel, answers, to_judge)
        if ledger is not None:
            ledger.settle(judged)
        full.update({t: r for t, r in judged.items() if math.isfinite(r.judge_score)})
        pending += [t for t, r in judged.items() if not math.isfinite(r.judge_score)]
        tiered = with_tiers(front.done, full, seed, probability)
        recomputed = compute_front(_replace_rows(front.trials, tiered), objectives, reference_point, space)
        members = recomputed.done[recomputed.done[RANK_COLUMN] == 0]
        to_judge = [t for t in members["trial_id"].astype(str) if t not in full and t not in pending and t in answers]
        added += to_judge
    judges = len(panel.models)
    return Rejudged(
        front=_with_columns(recomputed),
        selection=selection,
        added=tuple(added),
        full=full,
        judgements_if_all=sum(len(answers[t]) for t in table.index) * judges,
        pending=tuple(pending),
    )


@dataclass
class EndJudged:
    """What `rejudge` hands the rest of the search's end: the front and items on the full panel's scores, the
    judging line for the summary, and the untuned baseline's score on the scale the front uses."""

    front: Front
    items: pd.DataFrame
    line: str
    baseline_judge_score: float | None = None  # the full panel's, where it judged the baseline; else None
    pending: tuple[str, ...] = ()  # trials (and the baseline) the full panel could not judge: every item failed


def rejudge(
    config: ExperimentConfig,
    front: Front,
    items: pd.DataFrame,
    client,
    parent_run_id: str,
    calibration: CalibrationResult | None = None,
) -> EndJudged:
    """The search's end, between the front computed from the trials and the front's intervals: the full panel where
    it matters (policy `front`), the judging cost per trial and per search either way, each trial's tier tagged on
    its MLflow run. `items`: the search's judged items, one row per (trial or baseline, item), as
    search/judged_items.py reads them from the trials' checkpoints; returned with the full panel's scores on the
    rows it judged (the cheap panel's per-judge columns kept beside), so the bootstrap that follows compares trials
    on the scores the front uses. An MLflow outage loses nothing here (the figures are in the front's tables).

    Run again on the same search (`--resume`, `--resync`), it judges again from the judgement cache: what the full
    panel judged before costs nothing, what it could not judge (a provider outage) is asked again. The calls each
    run made add up in the search's judging ledger (`JUDGING_LEDGER` beside the front's tables), so the figures
    count every call once however often the end runs."""
    settings = config.judging
    ledger = JudgingLedger(reports_dir(config) / JUDGING_LEDGER)
    baseline: dict[str, float] = {}
    baseline_items = None  # the untuned model's answers as the full panel judged them
    base_score, pending = None, ()
    if settings.full_panel_policy == "front" and not front.done.empty and not items.empty:
        panel = Panel.from_config(settings, cache_dir=config.paths.cache_dir.resolve() / "judge", tier="full")
        answers = {str(t): rows.reset_index(drop=True) for t, rows in items.groupby("trial_id", sort=False)}
        kept = answers.pop(BASELINE_ROW, None)
        reference, seed = dict(config.search.reference_point), config.experiment.seed
        outcome = multi_fidelity(front, answers, settings, panel, reference, list(config.search.space), seed, ledger)
        rejudged = dict(outcome.full)
        if kept is not None:
            # The untuned baseline judged by the full panel too, so the best trial is compared with it on one scale.
            base = judge_in_full(panel, {BASELINE_ROW: kept}, [BASELINE_ROW])[BASELINE_ROW]
            if math.isfinite(base.judge_score):
                rejudged[BASELINE_ROW] = base
                base_score = base.judge_score
                baseline_items = base.items
            else:
                outcome.pending += (BASELINE_ROW,)
            ledger.settle({BASELINE_ROW: base})
            baseline = {
                "baseline_judge_score_full": base.judge_score,
                "baseline_judge_calls_full": base.usage["calls"],
                "baseline_judge_cost_usd_full": base.usage["cost_usd"],
            }
            if base_score is not None:
                # The parent's `baseline_judge_score` is the one the report and the summary compare trials with.
                baseline.update(baseline_judge_score=base_score, baseline_judge_score_cheap=_baseline_cheap(kept))
        items = with_full_items(items, rejudged)
        pending = outcome.pending
    else:
        outcome = _single_tier(front)
    outcome.calibration = ledger.add_calibration(calibration.usage if calibration is not None else {})
    ledger.save()
    line = outcome.summary_line(config.experiment.name)
    log.info("%s", line)
    with tolerating_mlflow_outage() as outage:
        _record(client, parent_run_id, outcome, baseline, baseline_items)
    if outage.reason:
        log.warning("judging tiers not recorded in MLflow (%s); they are in the front's tables", outage.reason)
    return EndJudged(outcome.front, items, line, base_score, pending)


class JudgingLedger:
    """The calls the search's end and start made, by trial (and `calibration`), over every run of the search:
    judgements answered from the cache cost nothing, so each run adds only the calls it made."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.usage: dict[str, dict[str, float]] = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            self.usage = {}

    def settle(self, results: Mapping[str, PanelResult]) -> None:
        """Add each result's calls to its trial's entry, and set its usage to the entry: all the search spent."""
        for trial, result in results.items():
            result.usage = self._add(f"full:{trial}", result.usage)

    def add_calibration(self, usage: Mapping[str, float]) -> dict[str, float]:
        return self._add(CALIBRATION_KEY, usage) if usage or CALIBRATION_KEY in self.usage else {}

    def _add(self, key: str, usage: Mapping[str, float]) -> dict[str, float]:
        total = dict(self.usage.get(key, {}))
        for name, value in usage.items():
            total[name] = total.get(name, 0) + float(value)
        self.usage[key] = total
        return total

    def save(self) -> None:
        if self.usage:
            write_json(self.path, self.usage)


def _baseline_cheap(kept: pd.DataFrame) -> float:
    scores = pd.to_numeric(kept[JUDGE_METRIC], errors="coerce").dropna()
    return float(scores.mean()) if len(scores) else math.nan


def with_full_items(items: pd.DataFrame, full: Mapping[str, PanelResult]) -> pd.DataFrame:
    """The long items table with each rejudged row's `judge_score` the full panel's and its judges' columns added
    (`judge_score__<model>`; the cheap panel's stay, NaN on rows it did not judge, so agreement spans both tiers)."""
    out = items.copy()
    trial_ids = out["trial_id"].astype(str)
    item_ids = out["id"].astype(str)
    for trial, result in full.items():
        scored = result.items.set_index(result.items["id"].astype(str))
        rows = trial_ids == trial
        for column in ["judge_score", *[c for c in scored.columns if c.startswith(PER_JUDGE_PREFIX)]]:
            if column not in out.columns:
                out[column] = np.nan
            out.loc[rows, column] = item_ids[rows].map(scored[column]).to_numpy(dtype=float)
    return out


def _single_tier(front: Front) -> Rejudged:
    """Policy `all`: every trial's score is the full panel's; only the tier and cost columns are added."""
    done = front.done.assign(**{TIER: FULL})
    for name in COST_COLUMNS:
        done[name] = _numeric(done, name).fillna(0.0)
    return Rejudged(front=_with_columns(dataclasses.replace(front, done=done)), selection=None)


def _record(
    client, parent_run_id: str, outcome: Rejudged, baseline: Mapping[str, float], baseline_items=None
) -> None:
    """The search's judging cost on the parent run; each trial's tier (tag) and full-panel figures on its run; the
    full panel's per-item tables (a trial's, the untuned model's) beside the cheap ones, for the report's answers."""
    from mlflow.entities import Metric

    def batch(run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        stamp = int(time.time() * 1000)
        rows = [Metric(k, float(v), stamp, step) for k, v in metrics.items() if math.isfinite(float(v))]
        if rows:
            client.log_batch(run_id, metrics=rows)

    batch(parent_run_id, {**outcome.search_metrics(), **baseline})
    if baseline_items is not None:
        client.log_table(parent_run_id, data=baseline_items, artifact_file=BASELINE_ANSWERS_FULL)
    runs = outcome.front.done.set_index(outcome.front.done["trial_id"].astype(str)).get("mlflow_run_id")
    if runs is None:
        return
    for trial, run_id in runs.items():
        if not isinstance(run_id, str) or not run_id:
            continue
        client.set_tag(run_id, TIER, FULL if outcome.selection is None or trial in outcome.full else CHEAP)
        if trial in outcome.full:
            result = outcome.full[trial]
            metrics = result.metrics()
            batch(run_id, {f"{k}_full": v for k, v in metrics.items()})
            # The run's latest judge figures become the full panel's, as in the front's tables (the report reads a
            # run's latest values); the trial's own cheap score stays in its history and as judge_score_cheap.
            row = outcome.front.done[outcome.front.done["trial_id"].astype(str) == trial].iloc[0]
            figures = {k: v for k, v in metrics.items() if k not in USAGE_METRICS}
            figures[CHEAP_SCORE] = row[CHEAP_SCORE]
            step = int(row["epoch"]) if pd.notna(row.get("epoch")) else 0
            batch(run_id, figures, step)
            client.log_table(run_id, data=result.items, artifact_file=FULL_ARTIFACT)


def _replace_rows(trials: pd.DataFrame, tiered: pd.DataFrame) -> pd.DataFrame:
    """`trials` with the completed rows replaced by `tiered` (same trial ids), the others kept."""
    others = trials[~trials["trial_id"].astype(str).isin(tiered["trial_id"].astype(str))]
    return pd.concat([tiered, others], ignore_index=True) if len(others) else tiered.reset_index(drop=True)


def _with_columns(front: Front) -> Front:
    """The tier and cost columns shown in the front's tables, before the Pareto rank."""
    columns = [c for c in front.columns if c != RANK_COLUMN]
    columns += [c for c in COLUMNS if c in front.done.columns and c not in columns]
    if RANK_COLUMN in front.columns:
        columns.append(RANK_COLUMN)
    return dataclasses.replace(front, columns=tuple(columns))


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce")


def _column_sum(frame: pd.DataFrame, column: str) -> float:
    return float(_numeric(frame, column).sum()) if len(frame) else 0.0
