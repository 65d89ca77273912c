"""The Pareto plot as a self-contained interactive page: an inline SVG whose points show each trial's
configuration on hover (SVG <title>), with no script and nothing fetched, so it opens anywhere, offline."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import pandas as pd

WIDTH, HEIGHT, PAD = 720, 480, 60


def _scale(values: pd.Series, lo_px: float, hi_px: float):
    lo, hi = float(values.min()), float(values.max())
    span = (hi - lo) or 1.0
    return lambda v: lo_px + (float(v) - lo) / span * (hi_px - lo_px)


def pareto_html(
    trials: pd.DataFrame, x: str, y: str, front_mask: pd.Series, hover: Sequence[str], title: str, x_label: str
) -> str:
    """`trials` with columns x and y; front members drawn filled, the rest hollow; hover lists `hover` columns."""
    points = trials[
        pd.to_numeric(trials[x], errors="coerce").notna() & pd.to_numeric(trials[y], errors="coerce").notna()
    ]
    if points.empty:
        body = "<p>No trial has both objectives.</p>"
    else:
        sx = _scale(points[x], PAD, WIDTH - PAD / 2)
        sy = _scale(points[y], HEIGHT - PAD, PAD / 2)
        marks = []
        for index, row in points.iterrows():
            on_front = bool(front_mask.get(index, False))
            tip = "\n".join(f"{c}: {row[c]}" for c in hover if c in row and not _missing(row[c]))
            marks.append(
                f'<circle cx="{sx(row[x]):.1f}" cy="{sy(row[y]):.1f}" r="6" '
                f'fill="{"#d62728" if on_front else "none"}" stroke="#d62728" stroke-width="1.5">'
                f"<title>{html.escape(tip)}</title></circle>"
            )
        axes = (
            f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD / 2}" y2="{HEIGHT - PAD}" stroke="black"/>'
            f'<line x1="{PAD}" y1="{PAD / 2}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="black"/>'
            f'<text x="{WIDTH / 2}" y="{HEIGHT - 15}" text-anchor="middle">{html.escape(x_label)}</text>'
            f'<text x="15" y="{HEIGHT / 2}" transform="rotate(-90 15 {HEIGHT / 2})" text-anchor="middle">'
            f"{html.escape(y)}</text>"
            f'<text x="{PAD}" y="{HEIGHT - PAD + 18}">{points[x].min():.4g}</text>'
            f'<text x="{WIDTH - PAD / 2}" y="{HEIGHT - PAD + 18}" text-anchor="end">{points[x].max():.4g}</text>'
            f'<text x="{PAD - 5}" y="{HEIGHT - PAD}" text-anchor="end">{points[y].min():.4g}</text>'
            f'<text x="{PAD - 5}" y="{PAD / 2 + 10}" text-anchor="end">{points[y].max():.4g}</text>'
        )
        body = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
            f'aria-label="{html.escape(title)}">{axes}{"".join(marks)}</svg>'
            "<p>Filled: Pareto front. Hover a point for its trial's configuration and metrics.</p>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
