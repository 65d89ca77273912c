"""The human-ratings section of a search's report: human.json (every figure) and human.md (the study's tables),
written side by side in reports/<experiment>/ for the main report to link."""

from __future__ import annotations

import math
from pathlib import Path

from common.atomic import write_json, write_text

JSON_NAME = "human.json"
MARKDOWN_NAME = "human.md"


def _ci(entry: dict, percent: bool = False, signed: bool = False) -> str:
    scale, unit = (100.0, "%") if percent else (1.0, "")
    sign = "+" if signed else ""
    value, low, high = (math.nan if entry[k] is None else entry[k] * scale for k in ("value", "ci_low", "ci_high"))
    if not math.isfinite(value):
        return "n/a"
    digits = 1 if percent else 2
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{value:{sign}.{digits}f}{unit} (interval n/a)"
    return f"{value:{sign}.{digits}f}{unit} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def render_markdown(summary: dict) -> str:
    tables, criteria = summary["tables"], summary["criteria"]
    raters = f"{summary['raters']} rater{'s' if summary['raters'] != 1 else ''}"
    lines = [
        f"# Human ratings: {summary['search']}",
        "",
        f"{summary['ratings']} ratings by {raters} of {summary['answers']} answers to "
        f"{summary['questions']} questions; each answer rated 1-5 on {', '.join(criteria)} (weights "
        f"{', '.join(f'{w:.2f}' for w in summary['weights'].values())}), the weighted rating rounded half up for "
        "the counts. Brackets: 95% bootstrap intervals over questions.",
        "",
        "## Ratings per model",
        "",
        "| model | ratings | 1 | 2 | 3 | 4 | 5 | negative (1-2) | positive (3-5) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model, t in tables.items():
        counts = " | ".join(str(t["counts"][str(p)]) for p in range(1, 6))
        shares = f"{_ci(t['negative_share'], True)} | {_ci(t['positive_share'], True)}"
        lines.append(f"| {model} | {t['ratings']} | {counts} | {shares} |")
    lines += ["", "## Criterion means (overall: the weighted rating)", "",
              f"| model | {' | '.join(criteria)} | overall |", "|---" * (len(criteria) + 2) + "|"]  # fmt: skip
    for model, t in tables.items():
        lines.append(f"| {model} | " + " | ".join(_ci(t["means"][c]) for c in [*criteria, "overall"]) + " |")
    against = summary.get("against_base") or {}
    if against:
        lines += ["", "## Against the untuned base model, paired by question", "",
                  "| model | questions | weighted rating minus base's | resolved |", "|---|---|---|---|"]  # fmt: skip
        for model, d in against.items():
            lines.append(f"| {model} | {d['questions']} | {_ci(d, signed=True)} | {'yes' if d['resolved'] else 'no'} |")
    lines += ["", "## Judges against the humans", ""]
    agreement = summary["agreement"]
    if not agreement:
        lines.append("No rated answer has judge scores (answers to new questions are not judged).")
    else:
        lines += ["| judge | items | weighted kappa (quadratic) | Spearman |", "|---|---|---|---|"]
        for judge, a in agreement.items():
            lines.append(f"| {judge} | {a['items']} | {_ci(a['kappa_quadratic'])} | {_ci(a['spearman'])} |")
    cal = summary["calibration"]
    lines += ["", "## Calibration of the panel", ""]
    if not cal.get("fitted"):
        lines.append(f"Not fitted: {cal.get('reason', 'no judged items')}.")
    else:
        lines += [
            f"Isotonic map from the panel's score to the human rating, fitted on {cal['train_items']} rated answers "
            f"and measured on {cal['held_out_items']} answers to other questions:",
            "",
            "| on held-out answers | weighted kappa | Spearman | mean absolute error |",
            "|---|---|---|---|",
        ]
        for label in ("before", "after"):
            c = cal[label]
            lines.append(
                f"| {label} | {_ci(c['kappa_quadratic'])} | {_ci(c['spearman'])} | {_ci(c['mean_abs_error'])} |"
            )
        lines += [
            "",
            "The error says how far the calibrated scores sit from the humans' ratings; kappa how well they agree on "
            "the rounded 1-5 scale, rewarding spread. A map that pulls a judge's scores into the humans' range can "
            "lower the error while kappa moves either way: read the two together, and their intervals.",
        ]
    return "\n".join(lines) + "\n"


def write_section(summary: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    write_json(out_dir / JSON_NAME, summary)
    write_text(out_dir / MARKDOWN_NAME, render_markdown(summary))
    return out_dir / MARKDOWN_NAME, out_dir / JSON_NAME
