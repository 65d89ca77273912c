"""How sure the front is: a paired bootstrap over judge items, resampled by scenario.

A trial's `judge_score` is a mean over a few dozen judge items (24 on the local preset), so with a spread of
about one point its standard error is near 0.2, more than many gaps on a front. Every trial of a search is
judged on the same items, so trials are compared *paired*: each bootstrap replicate draws scenarios with
replacement and takes all their items (items of one scenario are not independent), and every trial is
scored on that same draw. From the replicates: each trial's score interval and judge-rank interval, each
pair's difference interval, each trial's probability of being on the front (the non-judge objectives, e.g.
energy, held fixed), the knee's stability and the trials tied with it, the hypervolume's interval, the
loss-versus-judge Spearman interval and the lowest-loss trial's rank interval.

A judge failure is NaN, never 0: a trial's mean is over its scored items, and a pair's difference is over
the items both were scored on. Intervals are percentile intervals; they say how far a figure would move
with other judge items of the same kind, not how far a trial rerun with another seed would (training noise
and energy are held fixed). The `compute_*` functions write nothing;
`describe` turns a result into sentences for a report.

Measured on the development machine (2 cores, shared): 20 trials and a baseline x 24 items in 12 scenarios
x 2000 replicates, every statistic including the hypervolume, 0.14-0.17 s per call (0.29-0.44 s at a load
average of 11). Everything runs over all replicates at once in numpy; see `_dominated` and
`_replicate_hypervolumes` for the two steps that were loops.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from front.objectives import DEFAULT_OBJECTIVES, Objective, to_minimisation

# pareto.py's loss-level helpers (the reference point's check, optuna's exact hypervolume) are private there;
# the replicates are loss matrices, so they are used as they are rather than copied.
from front.pareto import _hypervolume_of_losses, _reference_losses, knee_point, pareto_ranks

JUDGE_METRIC = "judge_score"
VAL_LOSS = "val_loss"
DEFAULT_REPLICATES = 2000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_POWER = 0.8
# Bounds the boolean dominance tensor (replicates x trials x trials x objectives) built at once: ~8 MB.
_DOMINANCE_CELLS = 8_000_000
# Bounds the pair-difference replicates (replicates x pairs floats) built at once: ~16 MB.
_PAIR_CELLS = 2_000_000


@dataclass(frozen=True)
class Interval:
    """A point estimate with its percentile bootstrap interval (NaN where no replicate defines it)."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return bool(self.low > 0 or self.high < 0)


@dataclass(frozen=True)
class PairedDifference:
    """`first` minus `second` in mean judge score over the items both were scored on."""

    first: Hashable
    second: Hashable
    difference: Interval
    n_items: int

    @property
    def resolved(self) -> bool:
        """The interval excludes 0: the order of the two trials is not an accident of the items drawn."""
        return self.difference.excludes_zero

    def swapped(self) -> PairedDifference:
        d = self.difference
        return PairedDifference(self.second, self.first, Interval(-d.estimate, -d.high, -d.low), self.n_items)


@dataclass(frozen=True)
class RankInterval:
    """Rank by judge score (1 = best; ties share the better rank) and its interval, among `n_ranked` trials."""

    estimate: int
    low: int
    high: int
    n_ranked: int


@dataclass(frozen=True)
class TrialUncertainty:
    """One row of the score matrix: its mean score, rank and chance of being on the front.

    `judge_rank` is None and `front_probability` NaN for rows that are not ranked (the baseline, a trial
    whose every item failed, or, for the front, a trial with a missing non-judge objective).
    """

    trial: Hashable
    score: Interval
    n_items: int
    judge_rank: RankInterval | None
    front_probability: float


@dataclass(frozen=True)
class KneeAlternative:
    """A trial tied with the knee: judge-score difference not resolved, and not dominated by the knee.

    `cheaper` means it is no worse than the knee on every non-judge objective and better on one (with the
    default objectives: it used less energy), so a user may prefer it at no resolved cost in quality.
    """

    trial: Hashable
    difference: PairedDifference  # the alternative minus the knee
    cheaper: bool


@dataclass(frozen=True)
class ItemsToResolve:
    """Estimated judge items needed to resolve the knee against its nearest rival (a power calculation).

    n = ((z_{1-a/2} + z_power) * sd / |mean|)^2 from the per-item paired differences; it treats items as
    independent, so items sharing a scenario may need more. Infinite when the mean difference is 0.
    """

    rival: Hashable
    mean_difference: float  # knee minus rival, per item
    sd_difference: float
    n_items_needed: float
    n_items_now: int
    confidence: float
    power: float


@dataclass(frozen=True)
class KneeUncertainty:
    """The knee of the point estimates and how often the replicates agree on it."""

    trial: Hashable
    stability: float  # share of replicates whose knee is this trial
    alternatives: tuple[KneeAlternative, ...]
    items_to_resolve: ItemsToResolve | None


@dataclass(frozen=True)
class LossVersusJudgeUncertainty:
    """Does validation loss order the trials as the judge does? Spearman 1 = same order, -1 = reversed."""

    spearman: Interval
    lowest_loss_trial: Hashable
    lowest_loss_rank: RankInterval
    n_trials: int


@dataclass(frozen=True)
class FrontUncertainty:
    """Everything `compute_front_uncertainty` derives from one set of bootstrap replicates."""

    n_replicates: int
    confidence: float
    seed: int
    n_items: int
    n_scenarios: int
    judge_metric: str
    objectives: tuple[Objective, ...]
    baseline: Hashable | None
    trials: tuple[TrialUncertainty, ...]
    differences: tuple[PairedDifference, ...]  # every pair of rows once, in row order
    front: tuple[Hashable, ...]  # the front of the point estimates, in row order
    fixed: Mapping[Hashable, Mapping[str, float]]  # the non-judge objectives of the ranked trials
    knee: KneeUncertainty | None
    hypervolume: Interval | None
    loss_vs_judge: LossVersusJudgeUncertainty | None

    def trial(self, trial: Hashable) -> TrialUncertainty:
        for row in self.trials:
            if row.trial == trial:
                return row
        raise KeyError(trial)

    def difference(self, first: Hashable, second: Hashable) -> PairedDifference:
        for pair in self.differences:
            if (pair.first, pair.second) == (first, second):
                return pair
            if (pair.first, pair.second) == (second, first):
                return pair.swapped()
        raise KeyError((first, second))


def cluster_bootstrap_counts(scenario_ids: Sequence[Hashable], n_replicates: int, seed: int) -> np.ndarray:
    """How often each item is drawn in each replicate: (replicates, items) integers.

    Each replicate draws as many scenarios as there are, with replacement, and takes all items of each
    draw, so the items of one scenario always carry the same count.
    """
    if n_replicates < 1:
        raise ValueError(f"n_replicates must be at least 1, got {n_replicates}")
    codes, uniques = pd.factorize(pd.Series(list(scenario_ids), dtype=object))
    if len(codes) == 0 or (codes < 0).any():
        raise ValueError("every judge item needs a scenario id (none may be missing)")
    n_scenarios = len(uniques)
    rng = np.random.default_rng(seed)
    per_scenario = rng.multinomial(n_scenarios, np.full(n_scenarios, 1.0 / n_scenarios), size=n_replicates)
    return per_scenario[:, codes]


def _checked_scores(scores: pd.DataFrame, scenario_ids: Sequence[Hashable]) -> np.ndarray:
    if len(scenario_ids) != scores.shape[1]:
        raise ValueError(f"{len(scenario_ids)} scenario ids for {scores.shape[1]} judge items")
    if not scores.index.is_unique:
        raise ValueError("trial ids (the score matrix's rows) must be unique")
    values = scores.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def _weighted_means(values: np.ndarray, valid: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean of each row of `values` over its valid items, weighted by each row of `weights`.

    values, valid: (rows, items); weights: (replicates, items) -> (replicates, rows); NaN where a row has
    no valid item in the draw.
    """
    total = weights @ np.where(valid, values, 0.0).T
    count = weights @ valid.T.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)


def _percentiles(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of each column; NaN replicates are left out, an all-NaN column gives NaN."""
    alpha = 1.0 - confidence
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        low, high = np.nanquantile(replicates, [alpha / 2, 1 - alpha / 2], axis=0)
    return low, high


def _pair_differences(
    values: np.ndarray, valid: np.ndarray, counts: np.ndarray, pairs: np.ndarray, confidence: float
) -> Iterator[tuple[int, int, Interval, int]]:
    """Paired difference (row i minus row j) over jointly valid items, for each (i, j) of `pairs`."""
    ones = np.ones((1, counts.shape[1]))
    step = max(1, _PAIR_CELLS // len(counts))
    for start in range(0, len(pairs), step):
        first, second = pairs[start : start + step, 0], pairs[start : start + step, 1]
        both = valid[first] & valid[second]
        gaps = np.where(both, values[first] - values[second], 0.0)
        estimate = _weighted_means(gaps, both, ones)[0]
        low, high = _percentiles(_weighted_means(gaps, both, counts), confidence)
        for k in range(len(first)):
            yield (
                int(first[k]),
                int(second[k]),
                Interval(float(estimate[k]), float(low[k]), float(high[k])),
                int(both[k].sum()),
            )


def _dominated(losses: np.ndarray) -> np.ndarray:
    """losses: (replicates, trials, objectives) -> (replicates, trials): dominated by a finite trial.

    Rows with NaN never dominate (every comparison with NaN is False) and are excluded by the caller.
    """
    n_trials, n_objectives = losses.shape[1], losses.shape[2]
    step = max(1, _DOMINANCE_CELLS // max(1, n_trials * n_trials * n_objectives))
    out = np.zeros(losses.shape[:2], dtype=bool)
    for start in range(0, len(losses), step):
        chunk = losses[start : start + step]
        # dominates[b, j, i]: trial j no worse than trial i everywhere and strictly better somewhere,
        # accumulated one objective at a time: 0.004 s for 2000 x 20 x 2 against 0.038 s reducing a fourth axis.
        no_worse = np.ones((len(chunk), n_trials, n_trials), dtype=bool)
        better = np.zeros_like(no_worse)
        for column in range(n_objectives):
            mine, theirs = chunk[:, :, None, column], chunk[:, None, :, column]
            no_worse &= mine <= theirs
            better |= mine < theirs
        out[start : start + step] = (no_worse & better).any(axis=1)
    return out


def _knees(losses: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Index of each replicate's knee (-1 if its front is empty), the rule of `front.pareto.knee_point`:
    the member closest to the origin after min-max scaling each objective over the members."""
    on = members[:, :, None]
    low = np.where(on, losses, np.inf).min(axis=1, keepdims=True)
    span = np.where(on, losses, -np.inf).max(axis=1, keepdims=True) - low
    safe_span = np.where(span > 0, span, 1.0)
    with np.errstate(invalid="ignore"):
        distances = np.linalg.norm((losses - low) / safe_span, axis=2)
    distances = np.where(members, distances, np.inf)
    return np.where(members.any(axis=1), np.argmin(distances, axis=1), -1)


def _replicate_hypervolumes(losses: np.ndarray, members: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Hypervolume of each replicate's front, (replicates,).

    Two objectives (the default) take an exact sweep over all replicates at once: sorted by the first loss,
    each point adds the strip up to the next one, as high as the best second loss so far. It replaced one
    optuna call per replicate, 0.36 of 0.72 s for 20 trials x 2000 replicates. More objectives call
    optuna's WFG per replicate on its front.
    """
    if losses.shape[2] != 2:
        return np.array(
            [_hypervolume_of_losses(replicate[on], reference) for replicate, on in zip(losses, members, strict=True)]
        )
    inside = members & (losses < reference).all(axis=2)
    x = np.where(inside, losses[:, :, 0], reference[0])
    y = np.where(inside, losses[:, :, 1], reference[1])
    order = np.argsort(x, axis=1, kind="stable")
    x, y = np.take_along_axis(x, order, axis=1), np.take_along_axis(y, order, axis=1)
    widths = np.diff(x, axis=1, append=reference[0])
    return (widths * (reference[1] - np.minimum.accumulate(y, axis=1))).sum(axis=1)


def _judge_ranks(judge_losses: np.ndarray) -> np.ndarray:
    """(replicates, trials) judge losses -> rank 1 + number of strictly better trials; NaN stays NaN."""
    better = (judge_losses[:, None, :] < judge_losses[:, :, None]).sum(axis=2)
    return np.where(np.isnan(judge_losses), np.nan, 1.0 + better)


def _rank_interval(estimate: float, replicates: np.ndarray, confidence: float, n_ranked: int) -> RankInterval:
    alpha = 1.0 - confidence
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return RankInterval(int(estimate), int(estimate), int(estimate), n_ranked)
    # Whole ranks, widened outwards rather than interpolated between two ranks.
    low = np.quantile(finite, alpha / 2, method="lower")
    high = np.quantile(finite, 1 - alpha / 2, method="higher")
    return RankInterval(int(estimate), int(low), int(high), n_ranked)


def _row_spearman(judge_losses: np.ndarray, val_loss: np.ndarray) -> np.ndarray:
    """Spearman of val_loss against judge order in each row (1 = lowest loss is best judged); NaN rows stay
    NaN, as does a row whose ranks are all tied."""
    judge_ranks = stats.rankdata(judge_losses, axis=1)
    loss_ranks = stats.rankdata(val_loss)
    judge_centred = judge_ranks - judge_ranks.mean(axis=1, keepdims=True)
    loss_centred = loss_ranks - loss_ranks.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (judge_centred @ loss_centred) / (np.linalg.norm(judge_centred, axis=1) * np.linalg.norm(loss_centred))
    return np.where(np.isnan(judge_losses).any(axis=1), np.nan, rho)


def _items_needed(
    values: np.ndarray, valid: np.ndarray, knee: int, rival: int, confidence: float, power: float
) -> tuple[float, float, float, int] | None:
    both = valid[knee] & valid[rival]
    gaps = values[knee, both] - values[rival, both]
    if len(gaps) < 2:
        return None
    mean, sd = float(gaps.mean()), float(gaps.std(ddof=1))
    z = stats.norm.ppf(1 - (1 - confidence) / 2) + stats.norm.ppf(power)
    # Two items at least: fewer cannot estimate the spread the interval needs.
    needed = math.inf if mean == 0 else max(2.0, float(math.ceil((z * sd / abs(mean)) ** 2)))
    return mean, sd, needed, len(gaps)


def _validated_options(n_replicates: int, confidence: float, power: float = DEFAULT_POWER) -> None:
    if n_replicates < 1:
        raise ValueError(f"n_replicates must be at least 1, got {n_replicates}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, got {power}")


def compute_paired_difference(
    scores: pd.DataFrame,
    scenario_ids: Sequence[Hashable],
    first: Hashable,
    second: Hashable,
    n_replicates: int = DEFAULT_REPLICATES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> PairedDifference:
    """One row against another, e.g. a trial against the untuned baseline (another row of `scores`).

    With the same items, replicates and seed this equals the pair's entry in `compute_front_uncertainty`.
    """
    _validated_options(n_replicates, confidence)
    values = _checked_scores(scores, scenario_ids)[[scores.index.get_loc(first), scores.index.get_loc(second)]]
    counts = cluster_bootstrap_counts(scenario_ids, n_replicates, seed)
    ((_, _, interval, n_items),) = _pair_differences(values, ~np.isnan(values), counts, np.array([[0, 1]]), confidence)
    return PairedDifference(first, second, interval, n_items)


def _fixed_losses(metrics: pd.DataFrame, fixed_objectives: Sequence[Objective]) -> np.ndarray:
    """The non-judge objectives as losses, (trials, objectives); a missing column is all NaN."""
    columns = [
        pd.to_numeric(metrics[o.metric], errors="coerce").to_numpy(dtype=float) * o.sign
        if o.metric in metrics.columns
        else np.full(len(metrics), np.nan)
        for o in fixed_objectives
    ]
    return np.column_stack(columns) if columns else np.empty((len(metrics), 0))


def _knee_uncertainty(
    table: pd.DataFrame,
    objectives: tuple[Objective, ...],
    judge_column: int,
    losses: np.ndarray,
    members: np.ndarray,
    difference: Callable[[Hashable, Hashable], PairedDifference],
    rows: np.ndarray,
    values: np.ndarray,
    confidence: float,
    power: float,
) -> KneeUncertainty | None:
    """Knee of the point estimates (`table`, one row per eligible trial), its stability and its ties.

    `losses`/`members` are the replicates' losses and fronts over the same trials; `rows` maps them to
    rows of `values`.
    """
    knee = knee_point(table, objectives)
    if knee is None:
        return None
    k = table.index.get_loc(knee)
    stability = float((_knees(losses, members) == k).mean())
    point = to_minimisation(table, objectives)
    others = [c for c in range(len(objectives)) if c != judge_column]
    point_front = set(table.index[pareto_ranks(table, objectives) == 0])
    alternatives: list[KneeAlternative] = []
    rivals: list[int] = []
    for t, trial in enumerate(table.index):
        if t == k:
            continue
        pair = difference(trial, knee)
        dominated = (point[k] <= point[t]).all() and (point[k] < point[t]).any()
        if not pair.resolved and not dominated:
            cheaper = bool((point[t, others] <= point[k, others]).all() and (point[t, others] < point[k, others]).any())
            alternatives.append(KneeAlternative(trial, pair, cheaper))
        if trial in point_front or (not pair.resolved and not dominated):
            rivals.append(t)
    valid = ~np.isnan(values)
    nearest: ItemsToResolve | None = None
    for t in rivals:
        estimate = _items_needed(values, valid, int(rows[k]), int(rows[t]), confidence, power)
        if estimate is None:
            continue
        mean, sd, needed, n_now = estimate
        if nearest is None or needed > nearest.n_items_needed:
            nearest = ItemsToResolve(table.index[t], mean, sd, needed, n_now, confidence, power)
    return KneeUncertainty(knee, stability, tuple(alternatives), nearest)


def _loss_vs_judge(
    val_loss: np.ndarray,
    ids: Sequence[Hashable],
    rank_rows: np.ndarray,
    judge_losses: np.ndarray,
    point_judge_losses: np.ndarray,
    ranks: tuple[np.ndarray, np.ndarray],
    confidence: float,
) -> LossVersusJudgeUncertainty | None:
    """Spearman of validation loss against judge order, and the lowest-loss trial's judge-rank interval.

    Over the ranked trials with a finite validation loss; None with fewer than three.
    """
    with_loss = np.flatnonzero(np.isfinite(val_loss[rank_rows]))
    if len(with_loss) < 3:
        return None
    losses = val_loss[rank_rows][with_loss]
    rho = _row_spearman(judge_losses[:, with_loss], losses)
    rho_point = float(_row_spearman(point_judge_losses[None, with_loss], losses)[0])
    low, high = _percentiles(rho[:, None], confidence)
    lowest = int(with_loss[np.argmin(losses)])
    point_ranks, replicate_ranks = ranks
    rank = _rank_interval(point_ranks[lowest], replicate_ranks[:, lowest], confidence, len(rank_rows))
    return LossVersusJudgeUncertainty(
        Interval(rho_point, float(low[0]), float(high[0])), ids[int(rank_rows[lowest])], rank, len(with_loss)
    )


def compute_front_uncertainty(
    scores: pd.DataFrame,
    scenario_ids: Sequence[Hashable],
    metrics: pd.DataFrame,
    objectives: Sequence[Objective] = DEFAULT_OBJECTIVES,
    reference_point: Mapping[str, float] | None = None,
    baseline: Hashable | None = None,
    judge_metric: str = JUDGE_METRIC,
    n_replicates: int = DEFAULT_REPLICATES,
    confidence: float = DEFAULT_CONFIDENCE,
    power: float = DEFAULT_POWER,
    seed: int = 0,
) -> FrontUncertainty:
    """Bootstrap every judged figure of a search from one set of paired replicates.

    scores: one row per trial (index = trial id), one column per judge item, NaN where the judge failed.
    scenario_ids: each item's scenario, in column order. metrics: per trial (same ids), the non-judge
    objectives (e.g. `energy_wh`) and optionally `val_loss`; a judge column there is ignored, the score
    comes from `scores`. baseline: a row of `scores` (e.g. the untuned model) that gets a score interval
    and paired differences but is not a trial of the front. reference_point: in the metrics' units, for
    the hypervolume's interval (None skips it).
    """
    _validated_options(n_replicates, confidence, power)
    objectives = tuple(objectives)
    names = [o.metric for o in objectives]
    if judge_metric not in names:
        raise ValueError(f"the objectives {names} do not include the judge metric {judge_metric!r}")
    if baseline is not None and baseline not in scores.index:
        raise KeyError(f"baseline {baseline!r} is not a row of the score matrix")
    reference = None if reference_point is None else _reference_losses(reference_point, objectives)
    values = _checked_scores(scores, scenario_ids)
    valid = ~np.isnan(values)
    ids = list(scores.index)
    counts = cluster_bootstrap_counts(scenario_ids, n_replicates, seed)
    point = _weighted_means(values, valid, np.ones((1, values.shape[1])))[0]
    replicate_means = _weighted_means(values, valid, counts)
    score_low, score_high = _percentiles(replicate_means, confidence)

    judge_column = names.index(judge_metric)
    sign = objectives[judge_column].sign
    aligned = metrics.reindex(scores.index)
    fixed_objectives = [o for o in objectives if o.metric != judge_metric]
    fixed = _fixed_losses(aligned, fixed_objectives)
    ranked = np.array([trial != baseline for trial in ids]) & np.isfinite(point)

    # Judge ranks among the ranked rows (every trial with a score), per replicate and for the point estimates.
    rank_rows = np.flatnonzero(ranked)
    judge_losses = sign * replicate_means[:, rank_rows]
    replicate_ranks = _judge_ranks(judge_losses)
    point_ranks = _judge_ranks(sign * point[None, rank_rows])[0]
    rank_position = {int(row): k for k, row in enumerate(rank_rows)}

    # The front per replicate over the ranked trials with every objective; only the judge column varies.
    front_rows = np.flatnonzero(ranked & np.isfinite(fixed).all(axis=1))
    others = [c for c in range(len(objectives)) if c != judge_column]
    losses = np.empty((n_replicates, len(front_rows), len(objectives)))
    losses[:, :, judge_column] = sign * replicate_means[:, front_rows]
    losses[:, :, others] = fixed[front_rows][None, :, :]
    members = np.isfinite(losses).all(axis=2) & ~_dominated(losses)
    front_probability = np.full(len(ids), np.nan)
    front_probability[front_rows] = members.mean(axis=0)
    point_losses = np.empty((len(front_rows), len(objectives)))
    point_losses[:, judge_column] = sign * point[front_rows]
    point_losses[:, others] = fixed[front_rows]
    table = pd.DataFrame(point_losses * [o.sign for o in objectives], columns=names, index=scores.index[front_rows])

    trials = tuple(
        TrialUncertainty(
            trial=trial,
            score=Interval(float(point[row]), float(score_low[row]), float(score_high[row])),
            n_items=int(valid[row].sum()),
            judge_rank=(
                _rank_interval(
                    point_ranks[rank_position[row]], replicate_ranks[:, rank_position[row]], confidence, len(rank_rows)
                )
                if row in rank_position
                else None
            ),
            front_probability=float(front_probability[row]),
        )
        for row, trial in enumerate(ids)
    )
    pairs = np.array(list(combinations(range(len(ids)), 2)), dtype=int).reshape(-1, 2)
    differences = tuple(
        PairedDifference(ids[i], ids[j], interval, n_items)
        for i, j, interval, n_items in _pair_differences(values, valid, counts, pairs, confidence)
    )
    by_pair = {(pair.first, pair.second): pair for pair in differences}

    def difference(first: Hashable, second: Hashable) -> PairedDifference:
        pair = by_pair.get((first, second))
        return pair if pair is not None else by_pair[(second, first)].swapped()

    hypervolume = None
    if reference is not None:
        volumes = _replicate_hypervolumes(losses, members, reference)
        low, high = _percentiles(volumes[:, None], confidence)
        hypervolume = Interval(_hypervolume_of_losses(point_losses, reference), float(low[0]), float(high[0]))
    val_loss = (
        pd.to_numeric(aligned[VAL_LOSS], errors="coerce").to_numpy(dtype=float)
        if VAL_LOSS in aligned.columns
        else np.full(len(ids), np.nan)
    )
    return FrontUncertainty(
        n_replicates=n_replicates,
        confidence=confidence,
        seed=seed,
        n_items=values.shape[1],
        n_scenarios=int(pd.Series(list(scenario_ids), dtype=object).nunique()),
        judge_metric=judge_metric,
        objectives=objectives,
        baseline=baseline,
        trials=trials,
        differences=differences,
        front=tuple(table.index[pareto_ranks(table, objectives) == 0]),
        fixed={
            ids[row]: {o.metric: float(fixed[row, k] * o.sign) for k, o in enumerate(fixed_objectives)}
            for row in rank_rows
        },
        knee=_knee_uncertainty(
            table, objectives, judge_column, losses, members, difference, front_rows, values, confidence, power
        ),
        hypervolume=hypervolume,
        loss_vs_judge=_loss_vs_judge(
            val_loss, ids, rank_rows, judge_losses, sign * point[rank_rows], (point_ranks, replicate_ranks), confidence
        ),
    )


def interval_metrics(result: FrontUncertainty, trial: Hashable) -> dict[str, float]:
    """A trial's intervals as flat metrics (e.g. for MLflow): `judge_score_ci_low`, `front_probability`, ..."""
    row = result.trial(trial)
    name = result.judge_metric
    metrics = {name: row.score.estimate, f"{name}_ci_low": row.score.low, f"{name}_ci_high": row.score.high}
    if row.judge_rank is not None:
        metrics.update(judge_rank_ci_low=float(row.judge_rank.low), judge_rank_ci_high=float(row.judge_rank.high))
    if not math.isnan(row.front_probability):
        metrics["front_probability"] = row.front_probability
    return metrics


def search_metrics(result: FrontUncertainty) -> dict[str, float]:
    """The search-level intervals as flat metrics: knee stability, hypervolume and loss-versus-judge."""
    metrics: dict[str, float] = {"bootstrap_replicates": float(result.n_replicates)}
    if result.knee is not None:
        metrics["knee_stability"] = result.knee.stability
        metrics["knee_alternatives"] = float(len(result.knee.alternatives))
        if result.knee.items_to_resolve is not None:
            metrics["knee_items_to_resolve_estimate"] = result.knee.items_to_resolve.n_items_needed
    if result.hypervolume is not None:
        hv = result.hypervolume
        metrics.update(hypervolume=hv.estimate, hypervolume_ci_low=hv.low, hypervolume_ci_high=hv.high)
    if result.loss_vs_judge is not None:
        rho, rank = result.loss_vs_judge.spearman, result.loss_vs_judge.lowest_loss_rank
        metrics.update(
            loss_judge_spearman=rho.estimate,
            loss_judge_spearman_ci_low=rho.low,
            loss_judge_spearman_ci_high=rho.high,
            lowest_loss_judge_rank=float(rank.estimate),
            lowest_loss_judge_rank_ci_low=float(rank.low),
            lowest_loss_judge_rank_ci_high=float(rank.high),
        )
    return metrics


def _name(result: FrontUncertainty, trial: Hashable) -> str:
    return "the baseline" if result.baseline is not None and trial == result.baseline else f"trial {trial}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _with_interval(interval: Interval) -> str:
    return f"{interval.estimate:.2f} [{interval.low:.2f}, {interval.high:.2f}]"


def _share(p: float) -> str:
    """A share as a whole percentage; rounding never shows a share that is not 0 or 1 as 0% or 100%."""
    if 0 < p < 0.005:
        return "<1%"
    if 0.995 <= p < 1:
        return ">99%"
    return f"{p:.0%}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _comparison(result: FrontUncertainty, first: Hashable, second: Hashable) -> str:
    """`Trial X's score 3.90 [3.60, 4.20] is higher than the baseline's ...; the difference ... is resolved.`"""
    pair = result.difference(first, second)
    a, b = result.trial(first).score, result.trial(second).score
    order = (
        "higher than" if pair.difference.estimate > 0 else "lower than" if pair.difference.estimate < 0 else "equal to"
    )
    verdict = "resolved" if pair.resolved else "not resolved"
    return _sentence(
        f"{_name(result, first)}'s score {_with_interval(a)} is {order} {_name(result, second)}'s "
        f"{_with_interval(b)}; the difference {_with_interval(pair.difference)} is {verdict}."
    )


def _fixed_comparison(result: FrontUncertainty, trial: Hashable, knee: Hashable) -> str:
    return ", ".join(
        f"{metric} {value:.3g} against {result.fixed[knee][metric]:.3g}"
        for metric, value in result.fixed[trial].items()
    )


def _knee_sentences(result: FrontUncertainty, knee: KneeUncertainty) -> list[str]:
    sentences = [
        f"Trial {knee.trial} is the knee, with score {_with_interval(result.trial(knee.trial).score)}; it is the "
        f"knee in {_share(knee.stability)} of the replicates."
    ]
    if result.baseline is not None:
        sentences.append(_comparison(result, knee.trial, result.baseline))
    for alternative in knee.alternatives:
        what = "cheaper" if alternative.cheaper else "not dominated by it"
        sentences.append(
            f"The knee and trial {alternative.trial} are tied: trial {alternative.trial}'s score "
            f"{_with_interval(result.trial(alternative.trial).score)} differs from the knee's by "
            f"{_with_interval(alternative.difference.difference)}, not resolved, and it is {what} "
            f"({_fixed_comparison(result, alternative.trial, knee.trial)})."
        )
    if not knee.alternatives:
        sentences.append(
            "No trial is tied with the knee: every other trial's judge score differs from it with resolution, "
            "or the knee is at least as good on every objective."
        )
    estimate = knee.items_to_resolve
    if estimate is not None:
        if math.isinf(estimate.n_items_needed):
            sentences.append(
                f"No number of judge items would resolve the knee against trial {estimate.rival}: their mean "
                "paired difference per item is 0."
            )
        else:
            sentences.append(
                f"About {estimate.n_items_needed:.0f} judge items would resolve the knee against its nearest rival, "
                f"trial {estimate.rival} (an estimate at {estimate.power:.0%} power and {estimate.confidence:.0%} "
                f"confidence from the per-item paired difference {estimate.mean_difference:.2f} and its standard "
                f"deviation {estimate.sd_difference:.2f}, treating items as independent); this search judged "
                f"{estimate.n_items_now}."
            )
    return sentences


def describe(result: FrontUncertainty) -> list[str]:
    """The result in plain sentences for a report: which differences are resolved and which are not."""
    sentences = [
        f"Intervals are {result.confidence:.0%} percentile intervals from {result.n_replicates} paired bootstrap "
        f"replicates over {result.n_items} judge items in {result.n_scenarios} scenarios (each replicate draws "
        "scenarios with replacement and scores every trial on all their items)."
    ]
    if result.knee is not None:
        sentences += _knee_sentences(result, result.knee)
    front_by_score = sorted(result.front, key=lambda trial: -result.trial(trial).score.estimate)
    for better, worse in zip(front_by_score, front_by_score[1:], strict=False):
        sentences.append(_comparison(result, better, worse))
    on_front = sorted(
        (row for row in result.trials if row.front_probability > 0), key=lambda row: -row.front_probability
    )
    if on_front:
        listed = ", ".join(f"trial {row.trial} {_share(row.front_probability)}" for row in on_front)
        sentences.append(f"Share of replicates in which each trial is on the front: {listed}; any other trial 0%.")
    if result.hypervolume is not None:
        hv = result.hypervolume
        sentences.append(f"The hypervolume is {hv.estimate:.3g} [{hv.low:.3g}, {hv.high:.3g}].")
    if result.loss_vs_judge is not None:
        lvj = result.loss_vs_judge
        verdict = "resolved" if lvj.spearman.excludes_zero else "not resolved"
        rank = lvj.lowest_loss_rank
        sentences.append(
            f"Validation loss and judge score order the {lvj.n_trials} trials alike with Spearman "
            f"{_with_interval(lvj.spearman)} (1 = the same order, -1 = reversed); its sign is {verdict}."
        )
        sentences.append(
            f"The lowest-loss trial, trial {lvj.lowest_loss_trial}, ranks {_ordinal(rank.estimate)} of "
            f"{rank.n_ranked} by judge score ({result.confidence:.0%} interval: {_ordinal(rank.low)} to "
            f"{_ordinal(rank.high)})."
        )
    return sentences
