"""What a person reads in the MLflow UI without opening an artifact: the parent run's description (Markdown in
the `mlflow.note.content` tag), the experiment's, the trial runs' names with the front's markers, and the
registered knee version's description. Pure functions of the search's records; search/recording.py (and, for
the experiment, search/tracking.py) sets them.

An interval the bootstrap did not compute (no judged items, a failed judge) is written "interval not computed",
never made up; energy is called an estimate wherever a trial's `energy_source` says so.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from common.mlflow_names import KNEE_TAG, NAME_LEGEND, RUN_NAME_TAG, marked_run_name
from front.pareto import RANK_COLUMN

# `_share`, the uncertainty module's way of writing a share (never 0% or 100% for one strictly between), is used
# as it is so that the note and the report say the same.
from front.uncertainty import JUDGE_METRIC, FrontUncertainty, Interval, _share
from search.front_table import Front, energy_source_label, status_counts

NOT_COMPUTED = "interval not computed"
ENERGY_METRIC = "energy_wh"
UNITS = {JUDGE_METRIC: "panel mean, 1-5 rubric", ENERGY_METRIC: "training energy, Wh"}
# MLflow refuses a run tag longer than this (mlflow/utils/validation.py, MAX_TAG_VAL_LENGTH in 3.17); a front
# too large for it is cut, with the count left out, rather than failing the search's end.
NOTE_LIMIT = 8000


@dataclass(frozen=True)
class NoteContext:
    """What the parent run's description says beyond the front itself."""

    search: str
    base_model: str
    reference_point: Mapping[str, float]
    run_names: Mapping[str, str]  # trial id -> its run's name, markers included
    baseline_judge_score: float  # the untuned model's point score (NaN if it could not be scored)
    registered_model: str | None  # e.g. `name-knee v1`
    commands: Mapping[str, str]  # what it does -> the exact command


def experiment_note(search: str) -> str:
    """The experiment's description: where the search's results are in this experiment."""
    return (
        f"LoRA search **{search}** (lorapareto). The runs table holds one parent run named `{search}` and one "
        f"child run per trial, named by its LoRA settings ({NAME_LEGEND}) and origin (`paper16` grid point or "
        "`sampler`); `★` marks the Pareto front, `★ knee ·` the knee (the balanced choice). The parent run's "
        "description has the front, the knee, the baseline and the commands to resume, resync and open the report."
        "\n\n"
        "MLflow 3.17 opens an experiment in the view its sidebar switch selects, GenAI unless changed: choose "
        "**Model training** there (or add `?workflowType=machine_learning` to this page's address) to land on the "
        "runs, then unfold the parent run (its `+`) to list the trials."
    )


def trial_run_tags(front: Front, runs: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Per child run id: its name with the front's and the knee's markers, and for completed trials the
    `lorapareto.knee` tag (search/recording.py sets `pareto_rank` beside it).

    `runs` is search/tracking.py's `child_runs` table (run_id, trial_id, name)."""
    done = front.done
    ranks = dict(zip(done["trial_id"].astype(str), done[RANK_COLUMN], strict=True)) if len(done) else {}
    knee = _knee_trial(front)
    out = {}
    for run in runs.itertuples(index=False):
        tags = {RUN_NAME_TAG: marked_run_name(run.name, False, False)}
        if run.trial_id in ranks:
            rank = ranks[run.trial_id]
            tags = {
                RUN_NAME_TAG: marked_run_name(run.name, rank == 0, run.trial_id == knee),
                KNEE_TAG: str(run.trial_id == knee).lower(),
            }
        out[run.run_id] = tags
    return out


def parent_note(front: Front, context: NoteContext) -> str:
    """The parent run's description, Markdown, within MLflow's limit on a tag's length."""
    result = front.uncertainty
    head = [f"# LoRA search `{context.search}` on `{context.base_model}`", ""]
    head += _overview(front, context, result)
    head += ["", f"## Pareto front: {len(front.rows)} of {len(front.done)} completed trials", ""]
    tail = ["", "## Knee (the balanced choice)", ""]
    tail += _knee(front, context, result)
    tail += ["", "## Baseline (the untuned base model, same judge items and panel)", ""]
    tail += _baseline(front, context, result)
    tail += ["", "## Commands", "", "```bash"]
    tail += [f"# {what}\n{command}" for what, command in context.commands.items()]
    tail += ["```"]
    table = _front_table(front, context, result)
    room = NOTE_LIMIT - len("\n".join(head + tail)) - 200
    shown = len(table)
    while shown > 2 and len("\n".join(table[:shown])) > room:
        shown -= 1
    if shown < len(table):
        table = table[:shown] + ["", f"{len(table) - shown} more front members: see `pareto/pareto_front.csv`."]
    return "\n".join(head + table + tail) + "\n"


def search_commands(
    search: str,
    python: str,
    workdir: Path,
    config_file: Path,
    tracking_uri: str,
    experiment_id: str,
    report_html: Path,
) -> dict[str, str]:
    """The commands the description gives, each runnable as it is (in `workdir`, where the config's relative
    paths resolve, with the `python` that ran the search). A tracking URI's password is written `***`."""
    uri = shown_uri(tracking_uri)
    python = shlex.quote(python)
    cd = f"cd {shlex.quote(str(workdir))} && "
    options = f"{shlex.quote(search)} --config {shlex.quote(str(config_file))}"
    runs = f"#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    if uri.startswith(("http://", "https://")):
        ui = f"{python} -m webbrowser -t {shlex.quote(uri.rstrip('/') + '/' + runs)}"
    else:
        ui = f"{cd}{python} -m mlflow ui --backend-store-uri {shlex.quote(uri)}  # then open http://127.0.0.1:5000/{runs}"
    return {
        "finish an interrupted search (completed trials are kept, interrupted ones continue)": (
            f"{cd}{python} -m search.run --resume {options}"
        ),
        "log into MLflow what an outage kept from it (each trial once)": (
            f"{cd}{python} -m search.run --resync {options}"
        ),
        "open the report": f"{python} -m webbrowser -t {shlex.quote(report_html.as_uri())}",
        "rebuild the report from MLflow": (
            f"{cd}{python} -m reports.build {shlex.quote(search)} --tracking-uri {shlex.quote(uri)} "
            f"--out-dir {shlex.quote(str(report_html.parent.parent))}"
        ),
        "open this search's runs in the MLflow UI": ui,
    }


def shown_uri(uri: str) -> str:
    """The URI with any password in it replaced by `***`."""
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def knee_version_description(front: Front, context: NoteContext) -> str:
    """The registered knee version's description: what the adapter is and how good and costly it was."""
    knee = _knee_trial(front)
    row = front.done.loc[front.knee]
    name = marked_run_name(context.run_names.get(knee, knee), on_front=False, knee=False)
    energy = _energy(row.get(ENERGY_METRIC), str(row.get("energy_source", "")))
    return (
        f"Knee of search `{context.search}`'s Pareto front: a peft LoRA adapter for `{context.base_model}`, trial "
        f"`{knee}` named `{name}` ({NAME_LEGEND}). Judge score "
        f"{_scored(row.get(JUDGE_METRIC), _score_interval(front.uncertainty, knee))} "
        f"({UNITS[JUDGE_METRIC]}); untuned base model {_baseline_score(context, front.uncertainty)}. "
        f"Training energy {energy}."
    )


def _overview(front: Front, context: NoteContext, result: FrontUncertainty | None) -> list[str]:
    counts = status_counts(front)
    objectives = ", ".join(
        f"{'maximise' if o.mode == 'max' else 'minimise'} `{o.metric}`"
        + (f" ({UNITS[o.metric]})" if o.metric in UNITS else "")
        for o in front.objectives
    )
    reference = ", ".join(f"`{k}` {v:g}" for k, v in context.reference_point.items())
    hv = result.hypervolume if result is not None else None
    lines = [
        f"- **Objectives:** {objectives}.",
        f"- **Reference point** (the declared worst corner bounding the hypervolume): {reference}.",
        f"- **Hypervolume:** {_scored(front.hypervolume, hv)}.",
        f"- **Trials:** {counts['completed']} completed, {counts['failed']} failed, {counts['stopped']} stopped "
        f"early, {counts['excluded']} left off the front for a NaN objective.",
        f"- **Energy:** {_energy_source(energy_source_label(front.trials))}.",
        f"- **Run names:** {NAME_LEGEND}; then the origin (`paper16` grid point, a reconstruction of the reference "
        "study's grid, or `sampler`). `★` marks the front (tag `pareto_rank=0`), `★ knee ·` the knee.",
    ]
    if result is not None:
        lines.append(
            f"- **Intervals:** {result.confidence:.0%} paired bootstrap intervals over {result.n_items} judge items "
            f"in {result.n_scenarios} scenarios ({result.n_replicates} replicates); they cover which judge items "
            "were drawn, not training noise."
        )
    return lines


def _front_table(front: Front, context: NoteContext, result: FrontUncertainty | None) -> list[str]:
    metrics = [o.metric for o in front.objectives]
    lines = ["| trial | " + " | ".join(f"`{m}`" for m in metrics) + " | front probability |"]
    lines.append("|---" * (len(metrics) + 2) + "|")
    for _, row in front.rows.iterrows():
        trial = str(row["trial_id"])
        cells = [_cell(context.run_names.get(trial, trial))]
        for metric in metrics:
            if metric == JUDGE_METRIC:
                cells.append(_scored(row[metric], _score_interval(result, trial)))
            elif metric == ENERGY_METRIC:
                cells.append(_energy(row[metric], str(row.get("energy_source", ""))))
            else:
                cells.append(_number(row[metric]))
        cells.append(_front_probability(result, trial))
        lines.append("| " + " | ".join(cells) + " |")
    if front.rows.empty:
        lines = ["No completed trial has every objective: the front is empty."]
    return lines


def _knee(front: Front, context: NoteContext, result: FrontUncertainty | None) -> list[str]:
    knee = _knee_trial(front)
    if knee is None:
        return ["No knee: the front is empty."]
    row = front.done.loc[front.knee]
    name = context.run_names.get(knee, knee)
    lines = [
        f"**{_cell(name)}** (trial `{knee}`): `{JUDGE_METRIC}` "
        f"{_scored(row.get(JUDGE_METRIC), _score_interval(result, knee))}, `{ENERGY_METRIC}` "
        f"{_energy(row.get(ENERGY_METRIC), str(row.get('energy_source', '')))}."
    ]
    if context.registered_model:
        lines.append(f"Its adapter is registered as model version `{context.registered_model}`.")
    if result is None or result.knee is None or str(result.knee.trial) != knee:
        lines += ["", f"How stable the knee is and which trials are tied with it: {NOT_COMPUTED}."]
        return lines
    lines += ["", f"It is the knee in {_share(result.knee.stability)} of the bootstrap replicates."]
    if not result.knee.alternatives:
        lines.append("No trial is tied with it (every other judge score differs with resolution, or is dominated).")
        return lines
    lines += ["", "Tied alternatives (judge-score difference from the knee not resolved):", ""]
    for alternative in result.knee.alternatives:
        trial = str(alternative.trial)
        what = "cheaper" if alternative.cheaper else "not dominated by the knee"
        lines.append(
            f"- {_cell(context.run_names.get(trial, trial))}: difference "
            f"{_interval_text(alternative.difference.difference)}, {what}."
        )
    return lines


def _baseline(front: Front, context: NoteContext, result: FrontUncertainty | None) -> list[str]:
    score = _baseline_score(context, result)
    if score == "not measured":
        return ["Not scored (the baseline's judging failed or was not run)."]
    lines = [f"`{JUDGE_METRIC}` {score}."]
    knee = _knee_trial(front)
    if result is not None and result.baseline is not None and knee is not None:
        try:
            pair = result.difference(knee, result.baseline)
        except KeyError:
            return lines
        verdict = "resolved" if pair.resolved else "not resolved"
        lines.append(f"The knee minus the baseline: {_interval_text(pair.difference)}, {verdict}.")
    return lines


def _baseline_score(context: NoteContext, result: FrontUncertainty | None) -> str:
    """The untuned model's score with its interval where the bootstrap scored it as a row."""
    interval = _score_interval(result, result.baseline) if result is not None and result.baseline else None
    return _scored(interval.estimate if interval is not None else context.baseline_judge_score, interval)


def _knee_trial(front: Front) -> str | None:
    return None if front.knee is None else str(front.done.loc[front.knee, "trial_id"])


def _score_interval(result: FrontUncertainty | None, trial: Hashable | None) -> Interval | None:
    if result is None or trial is None:
        return None
    try:
        return result.trial(trial).score
    except KeyError:
        return None


def _scored(point, interval: Interval | None) -> str:
    """`3.21 [3.02, 3.40]`, or the point and `(interval not computed)`."""
    if not _finite(point):
        return "not measured"
    if interval is None or not (_finite(interval.low) and _finite(interval.high)):
        return f"{_number(point)} ({NOT_COMPUTED})"
    return f"{_number(point)} [{_number(interval.low)}, {_number(interval.high)}]"


def _interval_text(interval: Interval) -> str:
    return _scored(interval.estimate, interval)


def _front_probability(result: FrontUncertainty | None, trial: str) -> str:
    if result is None:
        return NOT_COMPUTED
    try:
        probability = result.trial(trial).front_probability
    except KeyError:
        return NOT_COMPUTED
    return _share(probability) if _finite(probability) else NOT_COMPUTED


def _energy(value, source: str) -> str:
    if not _finite(value):
        return "not measured"
    return f"{_number(value)} Wh" + (" (estimate)" if source.startswith("estimate") else "")


def _energy_source(label: str) -> str:
    sources = label.split("; ")
    if all(s.startswith("estimate") for s in sources):
        return f"an **estimate**, not measured (`{label}`)"
    if all(s.startswith("measured") for s in sources):
        return f"measured (`{label}`)"
    return f"measured for some trials, an **estimate** for others (`{label}`)"


def _number(value) -> str:
    return f"{float(value):.3g}" if _finite(value) else "n/a"


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|")
