"""Build a search's report: `python -m reports.build EXPERIMENT` or `... --csv results.csv`.

Writes `<out_dir>/<experiment>/report.html` (self-contained), `report.md` and the figures as PNGs, as one
directory renamed into place, then attaches them to the search's MLflow parent run.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from common.atomic import staged_path, write_bytes, write_text
from common.errors import InputError, exit_on_input_error
from front.objectives import DEFAULT_OBJECTIVES, parse_objectives
from reports import csv_source, mlflow_source
from reports.analysis import analyse
from reports.plots import report_figures
from reports.render import render_html, render_markdown, report_context
from reports.study import Study

DEFAULT_OUT_DIR = Path("reports")
HTML_NAME = "report.html"
MARKDOWN_NAME = "report.md"
HUMAN_SECTION = "human.md"

log = logging.getLogger(__name__)


def report_dir_name(experiment_name: str) -> str:
    """A directory name for an experiment: MLflow names may hold '/' or spaces."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment_name).strip("._")
    if not safe:
        raise InputError("experiment", "name", f"cannot make a directory name from {experiment_name!r}")
    return safe


def write_report(study: Study, out_dir: Path) -> Path:
    """Analyse `study` and write its report directory; returns the path of report.html."""
    analysis = analyse(study)
    figures = report_figures(study, analysis)
    context = report_context(study, analysis, figures)
    target = Path(out_dir) / report_dir_name(study.name)
    # `python -m judging.human` writes the support staff's ratings against the judges beside the report.
    human = target / HUMAN_SECTION
    # Its headings go under the report's own "Human ratings" heading.
    context["human_ratings"] = (
        re.sub(r"^#{1,2} ", "### ", human.read_text(encoding="utf-8"), flags=re.MULTILINE) if human.is_file() else None
    )
    with staged_path(target) as staging:
        # The search's own outputs (pareto_front.csv, trials.csv, baseline.json, pareto.html) live in the same
        # folder: keep them.
        kept = ("*.csv", "*.json", "pareto.html", HUMAN_SECTION)
        kept_files = [path for pattern in kept for path in target.glob(pattern)] if target.is_dir() else []
        for kept in kept_files:
            write_bytes(staging / kept.name, kept.read_bytes())
        write_text(staging / HTML_NAME, render_html(context))
        write_text(staging / MARKDOWN_NAME, render_markdown(context))
        for name, png in figures.items():
            write_bytes(staging / name, png)
    return target / HTML_NAME


def build_report(
    experiment_name: str,
    tracking_uri: str | None,
    out_dir: Path = DEFAULT_OUT_DIR,
    log_to_mlflow: bool = True,
) -> Path:
    """Report of the latest search in MLflow experiment `experiment_name`; logged to its parent run."""
    study = mlflow_source.load_study(experiment_name, tracking_uri)
    html_path = write_report(study, out_dir)
    if log_to_mlflow and study.parent_run_id:
        mlflow_source.log_report(tracking_uri, study.parent_run_id, html_path.parent)
    log.info("report for %s written to %s", experiment_name, html_path)
    return html_path


def build_report_from_csv(
    csv_path: Path,
    out_dir: Path = DEFAULT_OUT_DIR,
    objectives_spec: str | None = None,
    reference_spec: str | None = None,
    energy_budget_wh: float | None = None,
    judge_threshold: float | None = None,
) -> Path:
    """Report of a CSV of external results with the trial table's column names."""
    objectives = parse_objectives(objectives_spec) if objectives_spec else DEFAULT_OBJECTIVES
    reference = csv_source.parse_reference_point(reference_spec) if reference_spec else None
    study = csv_source.load_study(Path(csv_path), objectives, reference, energy_budget_wh, judge_threshold)
    return write_report(study, out_dir)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reports.build", description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", help="MLflow experiment (the search's name)")
    parser.add_argument("--csv", type=Path, help="analyse a CSV of external results instead of MLflow")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: MLflow's own default)")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    parser.add_argument(
        "--objectives", help="CSV only: METRIC:max|min,... (default judge_score:max,energy_wh:min)"
    )
    parser.add_argument("--reference-point", help="CSV only: METRIC:VALUE,... (default: the observed nadir)")
    parser.add_argument("--energy-budget-wh", type=float, help="CSV only: energy budget for a recommendation")
    parser.add_argument(
        "--judge-threshold", type=float, help="CSV only: judge score a recommendation must reach"
    )
    parser.add_argument(
        "--no-mlflow-log", action="store_true", help="do not attach the report to the parent run"
    )
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> Path:
    args = _parser().parse_args(argv)
    if (args.experiment is None) == (args.csv is None):
        raise InputError(
            "command line", "experiment", "give either an EXPERIMENT name or --csv FILE, not both"
        )
    if args.csv is not None:
        path = build_report_from_csv(
            args.csv,
            args.out_dir,
            args.objectives,
            args.reference_point,
            args.energy_budget_wh,
            args.judge_threshold,
        )
    else:
        path = build_report(
            args.experiment, args.tracking_uri, args.out_dir, log_to_mlflow=not args.no_mlflow_log
        )
    print(path)
    return path


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main()
