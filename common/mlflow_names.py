"""Names in the MLflow layout that every stage reads or writes: one experiment per search, a parent run tagged
`lorapareto.role=search`, a child run per trial tagged `lorapareto.role=trial`, and how a trial's run is named.

Kept here, below every stage, so the trial that writes a run and the report or ratings CLI that reads it share
one spelling without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping

ROLE_TAG = "lorapareto.role"
RUN_NAME_TAG = "mlflow.runName"
# The Markdown description MLflow's UI shows (and edits) on a run's or an experiment's page.
NOTE_TAG = "mlflow.note.content"
# The tag the MLflow UI itself writes when a user picks an experiment's kind. The values it knows (MLflow 3.17's
# JS bundle): genai_development, custom_model_development ("Machine learning"), finetuning, regression, ...;
# a search is model training, not a GenAI app, so its experiment says so.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# The knee's child run is tagged `lorapareto.knee=true` (the others `false`) beside `pareto_rank`.
KNEE_TAG = "lorapareto.knee"

# The judged answers' tables: on a trial's run (and in its checkpoint), and the untuned base model's on the search's
# parent run; each beside the full panel's table where it judged again at the search's end (search/rejudge.py).
JUDGE_ANSWERS = "judge_answers.json"
JUDGE_ANSWERS_FULL = "judge_answers_full.json"
BASELINE_ANSWERS = f"baseline/{JUDGE_ANSWERS}"
BASELINE_ANSWERS_FULL = f"baseline/{JUDGE_ANSWERS_FULL}"

# Both lead the name: the runs table cuts long names at about 15 characters (MLflow 3.17, default width).
FRONT_MARKER = "★ "
KNEE_MARKER = "knee · "  # after the front's marker: `★ knee · r16-a32-qv-lr5e-3-e1 · paper16`
ORIGIN_SEPARATOR = " · "
# What the compact trial name abbreviates, for whoever reads one for the first time.
NAME_LEGEND = "r = LoRA rank, a = alpha, then the target modules, lr = learning rate, e = epochs"


def trial_run_name(params: Mapping[str, object], origin: str | None, fallback: str) -> str:
    """A trial's LoRA settings in a compact, stable form and its origin, e.g. `r16-a32-qkvo-lr2e-4-e2 · paper16`.

    `params` are the trial's MLflow params (`trainables.contract.trial_params`: Python values when the trial logs
    them, strings when read back from MLflow); `fallback` (the trial id) names a run whose params never arrived.
    """
    try:
        rank, alpha = int(float(str(params["rank"]))), float(str(params["alpha"]))
        learning_rate, epochs = float(str(params["learning_rate"])), int(float(str(params["epochs"])))
        modules = _modules(str(params["target_modules"]))
    except (KeyError, ValueError):
        return fallback
    parts = [f"r{rank}", f"a{alpha:g}", modules, f"lr{_short_float(learning_rate)}", f"e{epochs}"]
    parts += [flag for flag in ("dora", "rslora") if str(params.get(f"use_{flag}")) == "True"]
    if params.get("quantization") not in (None, "bf16"):
        parts.append(str(params["quantization"]))
    if params.get("gpu_power_limit_w") not in (None, "None"):
        parts.append(f"{params['gpu_power_limit_w']}W")
    name = "-".join(parts)
    return f"{name}{ORIGIN_SEPARATOR}{origin}" if origin else name


def marked_run_name(name: str, on_front: bool, knee: bool) -> str:
    """The name with the front's marker (`★ `) and the knee's (`knee · `); an unmarked name for the others."""
    base = name.removeprefix(FRONT_MARKER).removeprefix(KNEE_MARKER)
    return f"{FRONT_MARKER if on_front else ''}{KNEE_MARKER if knee else ''}{base}"


def _modules(target_modules: str) -> str:
    """A named module set as it is (`qv`, `qkvo`, `all-linear`); an explicit list as `q+v+gate`."""
    names = [m.strip() for m in target_modules.split(",") if m.strip()]
    if len(names) == 1:
        return names[0]
    return "+".join(m.removesuffix("_proj") for m in names)


def _short_float(value: float) -> str:
    """Two significant digits in exponent form without padding: 0.0002 -> `2e-4`, 0.0025 -> `2.5e-3`."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"
