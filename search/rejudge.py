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
each trial kept in its checkpoint (`trainables.contract.JUDGE_ANSWERS`).

Under `all` (every trial judged by the full panel) nothing is judged again; both policies report the judge calls,
tokens and USD per trial and per search.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiment.config import ExperimentConfig
from front.objectives import Objective, to_minimisation
from front.pareto import RANK_COLUMN, crowding_distance, pareto_ranks
from front.uncertainty import JUDGE_METRIC, compute_front_uncertainty
from judging.panel import JudgeItem, Panel, PanelResult
from judging.settings import JudgingConfig
from search.front_table import Front, compute_front
from search.judged_items import BASELINE_ROW, PER_JUDGE_PREFIX
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
FULL_ARTIFACT = "judge_answers_full.json"


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
        if self.selection is not None and self.judgements_if_all:
            metrics["full_panel_judgement_ratio"] = self.full_judgements / self.judgements_if_all
        return metrics

    def summary_line(self) -> str:
        m = self.search_metrics()
        line = (
            f"Judging: {m['judge_calls']:.0f} calls, {m['judge_tokens']:.0f} tokens, "
            f"{m['judge_cost_usd']:.4g} USD over all trials"
        )
        if self.selection is None:
            return line + " (every trial judged by the full panel)."
        s = self.selection
        return line + (
            f"; full panel on {len(self.full)} of {len(self.front.done)} completed trials ({len(s.reachable)} could "
            f"reach the front, {len(s.nearest)} nearest dominated, {len(s.sampled)} at random"
            + (f", {len(self.added)} added after landing on the front" if self.added else "")
            + f"): {self.full_judgements} of {self.judgements_if_all} judgements "
            f"({m.get('full_panel_judgement_ratio', math.nan):.0%}), {m['full_panel_cost_usd']:.4g} USD."
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
) -> Rejudged:
    """Select, judge in full, recompute the front; judge any cheap-only trial that lands on it and recompute again."""
    objectives = list(front.objectives)
    done = front.done[front.done["trial_id"].astype(str).isin(list(answers))]
    table = done.set_index(done["trial_id"].astype(str))
    probability = cheap_front_probability(answers, table, objectives, seed)
    selection = select_for_full_panel(table, objectives, settings, probability, seed)
    full = judge_in_full(panel, answers, selection.trials)
    added: list[str] = []
    while True:
        tiered = with_tiers(front.done, full, seed, probability)
        recomputed = compute_front(_replace_rows(front.trials, tiered), objectives, reference_point, space)
        members = recomputed.done[recomputed.done[RANK_COLUMN] == 0]
        missing = [t for t in members["trial_id"].astype(str) if t not in full and t in answers]
        if not missing:
            break
        added += missing
        full.update(judge_in_full(panel, answers, missing))
    judges = len(panel.models)
    return Rejudged(
        front=_with_columns(recomputed),
        selection=selection,
        added=tuple(added),
        full=full,
        judgements_if_all=sum(len(answers[t]) for t in table.index) * judges,
    )


def rejudge(
    config: ExperimentConfig, front: Front, items: pd.DataFrame, client, parent_run_id: str
) -> tuple[Front, pd.DataFrame]:
    """The search's end, between the front computed from the trials and the front's intervals: the full panel where
    it matters (policy `front`), the judging cost per trial and per search either way, each trial's tier tagged on
    its MLflow run. `items`: the search's judged items, one row per (trial or baseline, item), as
    search/judged_items.py reads them from the trials' checkpoints; returned with the full panel's scores on the
    rows it judged (the cheap panel's per-judge columns kept beside), so the bootstrap that follows compares trials
    on the scores the front uses. An MLflow outage loses nothing here (the figures are in the front's tables)."""
    settings = config.judging
    baseline: dict[str, float] = {}
    if settings.full_panel_policy == "front" and not front.done.empty and not items.empty:
        panel = Panel.from_config(settings, cache_dir=config.paths.cache_dir.resolve() / "judge", tier="full")
        answers = {str(t): rows.reset_index(drop=True) for t, rows in items.groupby("trial_id", sort=False)}
        kept = answers.pop(BASELINE_ROW, None)
        reference, seed = dict(config.search.reference_point), config.experiment.seed
        outcome = multi_fidelity(front, answers, settings, panel, reference, list(config.search.space), seed)
        rejudged = dict(outcome.full)
        if kept is not None:
            # The untuned baseline judged by the full panel too, so the best trial is compared with it on one scale.
            base = judge_in_full(panel, {BASELINE_ROW: kept}, [BASELINE_ROW])[BASELINE_ROW]
            rejudged[BASELINE_ROW] = base
            baseline = {
                "baseline_judge_score_full": base.judge_score,
                "baseline_judge_cost_usd_full": base.usage["cost_usd"],
            }
        items = with_full_items(items, rejudged)
    else:
        outcome = _single_tier(front)
    line = outcome.summary_line()
    log.info("%s", line)
    print(line, flush=True)
    with tolerating_mlflow_outage() as outage:
        _record(client, parent_run_id, outcome, baseline)
    if outage.reason:
        log.warning("judging tiers not recorded in MLflow (%s); they are in the front's tables", outage.reason)
    return outcome.front, items


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


def _record(client, parent_run_id: str, outcome: Rejudged, baseline: Mapping[str, float]) -> None:
    """The search's judging cost on the parent run; each trial's tier (tag) and full-panel figures on its run."""
    from mlflow.entities import Metric

    def batch(run_id: str, metrics: Mapping[str, float]) -> None:
        rows = [Metric(k, float(v), 0, 0) for k, v in metrics.items() if math.isfinite(float(v))]
        if rows:
            client.log_batch(run_id, metrics=rows)

    batch(parent_run_id, {**outcome.search_metrics(), **baseline})
    runs = outcome.front.done.set_index(outcome.front.done["trial_id"].astype(str)).get("mlflow_run_id")
    if runs is None:
        return
    for trial, run_id in runs.items():
        if not isinstance(run_id, str) or not run_id:
            continue
        client.set_tag(run_id, TIER, FULL if outcome.selection is None or trial in outcome.full else CHEAP)
        if trial in outcome.full:
            result = outcome.full[trial]
            batch(run_id, {f"{k}_full": v for k, v in result.metrics().items()})
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
