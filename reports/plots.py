"""Report figures: the Pareto front, the hypervolume curve, validation loss against judge score.

Figures are built as plain `Figure` objects (no pyplot, so no global backend or open-figure state in a
long search process) and returned as PNG bytes, so the HTML embeds them as base64 and needs no network.
"""

from __future__ import annotations

import io
from itertools import combinations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reports.analysis import ENERGY, JUDGE_SCORE, VAL_LOSS, Analysis
from reports.study import PAPER_GRID_ORIGIN, Study

_UNITS = {"_wh": "Wh", "_seconds": "s", "_usd": "USD", "_mb": "MB"}
_MAX_PAIR_PANELS = 3
JUDGE_CI_LOW, JUDGE_CI_HIGH = f"{JUDGE_SCORE}_ci_low", f"{JUDGE_SCORE}_ci_high"


def axis_label(metric: str, energy_estimated: bool) -> str:
    """Metric name with its unit; energy is labelled an estimate wherever it was not measured."""
    unit = next((u for suffix, u in _UNITS.items() if metric.endswith(suffix)), None)
    if metric == JUDGE_SCORE:
        unit = "1-5"
    if metric.endswith("_wh") and energy_estimated:
        unit = f"{unit}, estimate" if unit else "estimate"
    return f"{metric} ({unit})" if unit else metric


def to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _axis_pairs(study: Study) -> list[tuple[str, str]]:
    """(x, y) metric pairs to draw: judge score against energy first when both are objectives."""
    metrics = [o.metric for o in study.objectives]
    if JUDGE_SCORE in metrics and ENERGY in metrics:
        rest = [(x, y) for x, y in combinations(metrics, 2) if {x, y} != {JUDGE_SCORE, ENERGY}]
        return [(ENERGY, JUDGE_SCORE), *rest][:_MAX_PAIR_PANELS]
    return [(y, x) for x, y in combinations(metrics, 2)][:_MAX_PAIR_PANELS]


def _judge_error_bars(axis, ranked: pd.DataFrame, x: str, y: str, xs: pd.Series, ys: pd.Series) -> None:
    """The judge score's 95% interval (paired bootstrap over judge items) as an error bar on each trial."""
    if JUDGE_SCORE not in (x, y) or JUDGE_CI_LOW not in ranked.columns or JUDGE_CI_HIGH not in ranked.columns:
        return
    score = xs if x == JUDGE_SCORE else ys
    low = pd.to_numeric(ranked[JUDGE_CI_LOW], errors="coerce")
    high = pd.to_numeric(ranked[JUDGE_CI_HIGH], errors="coerce")
    known = low.notna() & high.notna() & score.notna() & xs.notna() & ys.notna()
    if not known.any():
        return
    spans = np.vstack([(score - low)[known].clip(lower=0), (high - score)[known].clip(lower=0)])
    bars = {"yerr": spans} if y == JUDGE_SCORE else {"xerr": spans}
    axis.errorbar(
        xs[known], ys[known], fmt="none", ecolor="#6e7781", elinewidth=1, capsize=3, zorder=2,
        label="judge score, 95% interval", **bars,
    )  # fmt: skip


def pareto_figure(study: Study, analysis: Analysis) -> Figure:
    """Every finished trial, the front highlighted, the reconstructed paper16 grid and the knee marked."""
    pairs = _axis_pairs(study)
    figure = Figure(figsize=(6.4 * len(pairs), 4.8))
    axes = figure.subplots(1, len(pairs), squeeze=False)
    ranked = analysis.ranked
    on_front = ranked.index.isin(analysis.front_ids)
    has_origin = "origin" in ranked.columns
    paper = (ranked["origin"] == PAPER_GRID_ORIGIN).to_numpy() if has_origin else np.zeros(len(ranked), bool)
    for axis, (x, y) in zip(axes[0], pairs, strict=True):
        xs, ys = pd.to_numeric(ranked[x], errors="coerce"), pd.to_numeric(ranked[y], errors="coerce")
        _judge_error_bars(axis, ranked, x, y, xs, ys)
        axis.scatter(xs[~on_front], ys[~on_front], c="#9aa5b1", s=28, label="dominated trial")
        axis.scatter(xs[on_front], ys[on_front], c="#d62728", s=46, label="Pareto front", zorder=3)
        if paper.any():
            axis.scatter(
                xs[paper], ys[paper], facecolors="none", edgecolors="#1f77b4", marker="s", s=90,
                linewidths=1.4, label="paper16 grid (reconstruction)", zorder=4,
            )  # fmt: skip
        if analysis.knee_id is not None:
            axis.scatter(
                [xs[analysis.knee_id]], [ys[analysis.knee_id]], marker="*", s=260, c="#ffbf00",
                edgecolors="black", label=f"knee ({analysis.knee_id})", zorder=5,
            )  # fmt: skip
        if len(pairs) == 1 and on_front.any():
            order = xs[on_front].sort_values().index
            axis.plot(xs[order], ys[order], c="#d62728", lw=1, alpha=0.6, drawstyle="steps-post")
        if y == JUDGE_SCORE and study.baseline_judge_score is not None:
            axis.axhline(study.baseline_judge_score, ls="--", c="black", lw=1, label="untuned base model")
            low, high = study.baseline.get(JUDGE_CI_LOW), study.baseline.get(JUDGE_CI_HIGH)
            if low is not None and high is not None and np.isfinite([low, high]).all():
                axis.axhspan(low, high, color="black", alpha=0.08, lw=0, label="base model, 95% interval")
        axis.set_xlabel(axis_label(x, analysis.energy_estimated))
        axis.set_ylabel(axis_label(y, analysis.energy_estimated))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="best")
    figure.suptitle(f"{study.name}: trade-off between objectives")
    return figure


def hypervolume_figure(study: Study, analysis: Analysis) -> Figure:
    """Hypervolume after each trial against the energy spent so far: does more search still pay?"""
    curve = analysis.curve
    if curve is None:
        raise ValueError("no hypervolume curve: the study has no finished trial")
    x_column = f"cumulative_{ENERGY}" if f"cumulative_{ENERGY}" in curve.columns else "n_trials"
    figure = Figure(figsize=(6.4, 4.2))
    axis = figure.subplots()
    axis.plot(curve[x_column], curve["hypervolume"], marker="o", ms=3, drawstyle="steps-post")
    if x_column == "n_trials":
        axis.set_xlabel("completed trials")
    else:
        axis.set_xlabel("cumulative " + axis_label(ENERGY, analysis.energy_estimated))
    axis.set_ylabel("hypervolume (product of objective units)")
    axis.set_title("Hypervolume as the search spends energy")
    axis.grid(alpha=0.3)
    return figure


def loss_versus_judge_figure(study: Study, analysis: Analysis) -> Figure:
    """Validation loss against judge score: the lowest loss is not the best answer."""
    ranked = analysis.ranked
    losses = pd.to_numeric(ranked[VAL_LOSS], errors="coerce")
    scores = pd.to_numeric(ranked[JUDGE_SCORE], errors="coerce")
    figure = Figure(figsize=(6.4, 4.2))
    axis = figure.subplots()
    axis.scatter(losses, scores, c="#9aa5b1", s=28, label="trial")
    if analysis.loss_vs_judge is not None:
        lowest = analysis.loss_vs_judge.lowest_loss_trial
        axis.scatter(
            [losses[lowest]], [scores[lowest]], c="#d62728", s=70,
            label=f"lowest val_loss: judge rank {analysis.loss_vs_judge.lowest_loss_judge_rank}",
        )  # fmt: skip
    axis.set_xlabel(axis_label(VAL_LOSS, analysis.energy_estimated))
    axis.set_ylabel(axis_label(JUDGE_SCORE, analysis.energy_estimated))
    axis.set_title("Validation loss against judge score")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return figure


def report_figures(study: Study, analysis: Analysis) -> dict[str, bytes]:
    """PNG bytes by file name, for the figures the study's columns allow."""
    figures = {"pareto.png": to_png(pareto_figure(study, analysis))}
    if analysis.curve is not None:
        figures["hypervolume.png"] = to_png(hypervolume_figure(study, analysis))
    if VAL_LOSS in analysis.ranked.columns and JUDGE_SCORE in analysis.ranked.columns:
        figures["loss_vs_judge.png"] = to_png(loss_versus_judge_figure(study, analysis))
    return figures
