"""Turn a `Study` and its `Analysis` into the two report documents: self-contained HTML and Markdown.

Both come from Jinja templates (reports/templates/) fed the same context, so they cannot drift apart.
The HTML embeds its figures as base64 PNGs and loads nothing from the network.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import re
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from common.llm import redact
from reports.analysis import ENERGY, JUDGE_SCORE, PER_JUDGE_PREFIX, VAL_LOSS, Analysis, describe_trial
from reports.data_section import DATA_AXES, data_context
from reports.redaction import redact_settings
from reports.study import CONFIG_COLUMNS, Study

TEMPLATES = Path(__file__).parent / "templates"
MISSING = "n/a"
_MEASURE_COLUMNS = ("energy_wh", "train_seconds", "tokens_per_second", "trainable_params", "peak_memory_mb")
_MANIFEST_ITEMS = 20
INTERVAL_COLUMNS = ("judge_score_ci_low", "judge_score_ci_high", "front_probability")
DEGENERATION_COLUMNS = ("answer_repetition", "answer_truncated_share", "answer_distinct_2")


def format_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING if value is None or math.isnan(value) else str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    return redact(str(value))


def _energy_header(column: str, estimated: bool) -> str:
    """Energy quantities (`*_wh`) carry the estimate label wherever they appear."""
    return f"{column} (estimate)" if estimated and column.endswith("_wh") else column


def _table(frame: pd.DataFrame, estimated: bool) -> dict[str, Any]:
    """Headers and formatted cells; both templates render this one structure."""
    return {
        "headers": [_energy_header(str(column), estimated) for column in frame.columns],
        "rows": [
            [format_value(value) for value in row] for row in frame.astype(object).itertuples(index=False)
        ],
    }


def _trial_columns(analysis: Analysis, frame: pd.DataFrame) -> list[str]:
    wanted = [
        "trial_id",
        "origin",
        "pareto_rank",
        "judge_rank",
        "val_loss_rank",
        *DATA_AXES,
        *CONFIG_COLUMNS,
        VAL_LOSS,
        JUDGE_SCORE,
        *INTERVAL_COLUMNS,
        *DEGENERATION_COLUMNS,
        *analysis.criteria,
        *(PER_JUDGE_PREFIX + judge for judge in analysis.judges),
        *_MEASURE_COLUMNS,
        "energy_source",
    ]
    return [column for column in dict.fromkeys(wanted) if column in frame.columns]


def _manifest_summary(manifest: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Top-level manifest entries, nested values shown as compact JSON and cut short."""
    if not manifest:
        return []
    items = []
    for key, value in list(manifest.items())[:_MANIFEST_ITEMS]:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        items.append((str(key), redact(text if len(text) <= 160 else text[:157] + "...")))
    return items


def _energy_line(study: Study, estimated: bool) -> str:
    sources = [study.environment.get("energy_source", "")]
    if "energy_source" in study.trials.columns:
        sources += [str(value) for value in study.trials["energy_source"].dropna().unique()]
    named = ", ".join(sorted({source for source in sources if source}))
    if estimated:
        return f"{named}: ESTIMATE (no energy counter); every energy figure in this report is an estimate"
    return f"{named}: measured" if named else "not recorded"


def with_interval(value: Any, low: Any, high: Any) -> str:
    """`3.55 [3.30, 3.79]`; the value alone where the interval is unknown."""
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (value, low, high)):
        return format_value(value)
    return f"{value:.3g} [{low:.3g}, {high:.3g}]"


def _baseline_table(study: Study, estimated: bool) -> dict[str, Any] | None:
    """The untuned base model's figures in the trial table's columns, for reading beside it."""
    figures = study.baseline
    if not figures:
        return None
    columns = [c for c in (JUDGE_SCORE, *INTERVAL_COLUMNS[:2], *DEGENERATION_COLUMNS) if c in figures]
    return _table(pd.DataFrame([{"model": "untuned base model", **{c: figures[c] for c in columns}}]), estimated)


def _uncertainty_context(study: Study, analysis: Analysis) -> dict[str, Any] | None:
    record = analysis.uncertainty
    if not record:
        return None
    knee = record.get("knee") or {}
    energy = pd.to_numeric(analysis.ranked.get(ENERGY, pd.Series(dtype=float)), errors="coerce")
    alternatives = [
        {
            "trial": a["trial"],
            "difference": with_interval(*a["difference"]),
            "cheaper": "yes" if a["cheaper"] else "no",
            "energy": format_value(energy.get(a["trial"])),
        }
        for a in knee.get("alternatives", [])
    ]
    best = record.get("best_vs_baseline")
    return {
        "sentences": [redact(str(s)) for s in record.get("sentences", [])],
        "knee": knee.get("trial"),
        "knee_energy": format_value(energy.get(knee.get("trial"))),
        "alternatives": alternatives,
        "items_to_resolve": knee.get("items_to_resolve_estimate"),
        "best_vs_baseline": None
        if best is None
        else {**best, "text": with_interval(*best["difference"]), "verdict": "resolved" if best["resolved"] else
              "not resolved"},
    }  # fmt: skip


def _loss_vs_judge_intervals(study: Study) -> dict[str, str] | None:
    m = study.search_metrics
    needed = ("loss_judge_spearman", "loss_judge_spearman_ci_low", "loss_judge_spearman_ci_high")
    if not all(k in m for k in needed):
        return None
    rank = ("lowest_loss_judge_rank", "lowest_loss_judge_rank_ci_low", "lowest_loss_judge_rank_ci_high")
    return {
        "spearman": with_interval(*(m[k] for k in needed)),
        "rank_low": format_value(m.get(rank[1])),
        "rank_high": format_value(m.get(rank[2])),
    }


def _comparisons(analysis: Analysis) -> list[dict[str, Any]]:
    return [
        {
            "question": redact(c.question),
            "reference": redact(c.reference),
            "answers": [{"label": a.label, "text": redact(a.text), "score": format_value(a.score)} for a in c.answers],
        }
        for c in analysis.comparisons
    ]


def report_context(study: Study, analysis: Analysis, figures: dict[str, bytes]) -> dict[str, Any]:
    estimated = analysis.energy_estimated
    objectives = study.objectives
    recommendations = [
        {
            "title": r.title,
            "trial_id": r.trial_id or "none",
            "reason": r.reason,
            "objective_values": ", ".join(
                f"{_energy_header(m, estimated)} = {format_value(v)}"
                for m, v in describe_trial(analysis, r.trial_id, objectives).items()
            ),
        }
        for r in analysis.recommendations
    ]
    ranked = analysis.ranked
    correlations = analysis.judge_correlations
    return {
        "name": study.name,
        "source": study.source,
        "objectives": [f"{o.mode} {_energy_header(o.metric, estimated)}" for o in objectives],
        "environment": [
            ("GPU type", study.environment.get("gpu_type", "not recorded")),
            ("energy source", _energy_line(study, estimated)),
            ("corpus hash", study.environment.get("corpus_hash", "not recorded")),
            *[
                (k, v)
                for k, v in study.environment.items()
                if k not in ("gpu_type", "energy_source", "corpus_hash")
            ],
        ],
        "energy_estimated": estimated,
        "notes": analysis.notes,
        "n_finished": len(ranked),
        "n_front": len(analysis.front_ids),
        "recommendations": recommendations,
        "baseline": format_value(study.baseline_judge_score),
        "loss_vs_judge": analysis.loss_vs_judge,
        "trials": _table(ranked[_trial_columns(analysis, ranked)], estimated),
        "failed": _table(analysis.failed[_trial_columns(analysis, analysis.failed)], estimated),
        "excluded": _table(analysis.excluded[_trial_columns(analysis, analysis.excluded)], estimated),
        "judges": analysis.judges,
        "judge_summary": [(label, format_value(value)) for label, value in analysis.judge_summary.items()],
        "judge_means": [
            (judge, format_value(pd.to_numeric(ranked[PER_JUDGE_PREFIX + judge], errors="coerce").mean()))
            for judge in analysis.judges
        ],
        "judge_correlations": None
        if correlations is None
        else _table(correlations.reset_index().rename(columns={"index": "judge"}), estimated),
        "hypervolume": format_value(analysis.hypervolume),
        "reference_point": ", ".join(
            f"{_energy_header(m, estimated)} = {format_value(v)}"
            for m, v in (analysis.reference_point or {}).items()
        )
        or MISSING,
        "reference_note": analysis.reference_note,
        "curve_tail": None
        if analysis.curve is None
        else _table(analysis.curve.tail(1).drop(columns=["trial"]), estimated),
        "manifest": _manifest_summary(study.manifest),
        "settings": sorted(redact_settings(study.search_params).items()),
        "figures": {name: base64.b64encode(data).decode("ascii") for name, data in figures.items()},
        "energy_metric": _energy_header(ENERGY, estimated),
        "baseline_table": _baseline_table(study, estimated),
        "uncertainty": _uncertainty_context(study, analysis),
        "loss_vs_judge_intervals": _loss_vs_judge_intervals(study),
        "comparisons": _comparisons(analysis),
        "data": data_context(ranked, study.answers),
        "judge_checks": [(what, with_interval(v, low, high)) for what, v, low, high in analysis.judge_checks],
        "power_savings": None
        if not analysis.power_savings
        else _table(pd.DataFrame([dataclasses.asdict(s) for s in analysis.power_savings]), estimated),
    }


def _markdown_cell(text: str) -> str:
    """A table cell that cannot break the Markdown table: no pipes, no line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


# Emphasis, code, links, images, headings and table pipes; every cell is one line, so list markers cannot start one.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]#|!~])")


def _markdown_text(text: str) -> str:
    """Generated text shown as text in Markdown: HTML escaped, Markdown punctuation backslashed, one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(" ".join(str(text).split()), quote=False))


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.jinja",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["md_cell"] = _markdown_cell
    environment.filters["md_text"] = _markdown_text
    return environment


def render_html(context: dict[str, Any]) -> str:
    return _environment().get_template("report.html.jinja").render(**context)


def render_markdown(context: dict[str, Any]) -> str:
    return _environment().get_template("report.md.jinja").render(**context)
