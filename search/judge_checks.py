"""The judges checked on every search: against known answers at the start (judging/calibration.py), against each
other at the end (the panel's agreement with its interval, search/judged_items.py), both logged on the parent run.

A judge that cannot rank a known-good answer above the same answer with a wrong detail, or above a loop, makes
every score of the search suspect: the warning is printed at the start, not found later in MLflow.
"""

from __future__ import annotations

import logging
import math

from judging.calibration import CalibrationResult, calibrate
from judging.judgement import Usage
from judging.panel import Panel

log = logging.getLogger(__name__)


def calibrate_panel(panel: Panel, probes: Usage | None = None) -> CalibrationResult:
    """Every judge of the panel on the calibration set, those on standby too (under multi-fidelity judging the full
    panel scores the front at the end: a judge that fails here would decide it); one printed (and logged) warning
    line per judge that fails. The result's `usage` counts every call the checks at the start made, for the
    search's judging cost: these, and `probes` (the preflight's one call per judge, `Panel.preflight`)."""
    results = [calibrate(p) for p in (panel, panel.standby_panel()) if p is not None]
    if probes is not None:
        results.append(CalibrationResult(accuracy={}, pairs=0, warnings=[], usage=probes.as_dict()))
    result = merged(results)
    for line in result.warnings:
        log.warning(line)
        print(line, flush=True)
    return result


def merged(results: list[CalibrationResult]) -> CalibrationResult:
    """One result from the tiers' (each judge's accuracy, every warning, the calls summed)."""
    usage: dict[str, float] = {}
    for result in results:
        for name, value in result.usage.items():
            usage[name] = usage.get(name, 0) + value
    accuracy = {model: value for result in results for model, value in result.accuracy.items()}
    warnings = [line for result in results for line in result.warnings]
    return CalibrationResult(accuracy=accuracy, pairs=results[0].pairs, warnings=warnings, usage=usage)


def record_judge_checks(client, parent_run_id: str, calibration: CalibrationResult | None, agreement: dict) -> None:
    """`calibration_accuracy__<judge>` (and the warnings as a tag) and `panel_agreement_*` on the parent run."""
    from mlflow.entities import Metric

    metrics = {**(calibration.metrics() if calibration else {}), **agreement}
    rows = [Metric(k, float(v), 0, 0) for k, v in metrics.items() if math.isfinite(v)]
    if rows:
        client.log_batch(parent_run_id, metrics=rows)
    if calibration and calibration.warnings:
        client.set_tag(parent_run_id, "calibration_warnings", " | ".join(calibration.warnings)[:5000])
