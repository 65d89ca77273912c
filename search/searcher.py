"""OptunaSearch that records each trial's constraint values for Optuna 5's constrained samplers, tells Optuna that
trials stopped early by a scheduler were pruned, and keeps a journal so a killed driver's resume neither reruns
nor loses a sampled point.

Why the journal: Tune saves the searcher only inside its experiment snapshot, at most every
`TUNE_GLOBAL_CHECKPOINT_S` (10 s or more when "auto"), while Optuna's database records each `ask` at once. A
driver killed after a suggestion and before the next snapshot came back with the older searcher: its seeded
sampler drew the same point again under a new Optuna and Tune trial, and the point asked before the kill stayed
RUNNING (closed as FAIL), so one point ran twice (a loaded full-suite run in 2026-11 showed five Tune folders for a
four-trial search). The journal is the searcher's state written after every ask and every completion; on resume
the points asked after Tune's snapshot are handed to Tune's next trials under their own Optuna trial, and the
sampler continues from its state after them.
"""

from __future__ import annotations

import logging
import math
import pickle
from pathlib import Path

from optuna.trial import Trial, TrialState, create_trial
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils.util import unflatten_dict

from common.atomic import write_bytes
from search.space import CONSTRAINT_ATTR, record_energy_constraint

log = logging.getLogger(__name__)

UNRECORDED_ATTR = "unrecorded_ask"  # on a FAIL Optuna trial that never ran (see _missed_ask)
UNRECORDED_REASON = "asked by a driver killed before it recorded the ask; never ran, the point was drawn again"
RETRY_ATTR = "retry_of"  # on a COMPLETE Optuna trial: the number of the failed attempt it completes


class ConstrainedOptunaSearch(OptunaSearch):
    def __init__(
        self, *args, energy_budget_wh: float | None = None, journal_path: Path | None = None, **kwargs
    ):  # fmt: skip
        super().__init__(*args, **kwargs)
        self.energy_budget_wh = energy_budget_wh
        self.journal_path = journal_path
        self._unclaimed: list[Trial] = []  # points asked after Tune's last snapshot, for Tune's next trials
        self._retried: set[str] = set()  # failed trials a resume completed (recorded once each)

    def suggest(self, trial_id: str) -> dict | None:
        if self._unclaimed and trial_id not in self._ot_trials:
            ot_trial = self._unclaimed.pop(0)
            # Study.ask stores a point's values one by one; a kill between them (seen: only `rank` stored) left
            # the rest unset. _suggest (what ask itself calls) keeps stored values and draws only the missing.
            for name, distribution in self._space.items():
                ot_trial._suggest(name, distribution)
            self._ot_trials[trial_id] = ot_trial
            self._write_journal()
            return unflatten_dict(ot_trial.params)
        params = super().suggest(trial_id)
        self._write_journal()
        return params

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self._complete(trial_id, result, error)
        self._write_journal()

    def _complete(self, trial_id: str, result: dict | None, error: bool) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        energy = (result or {}).get("energy_wh")
        if ot_trial is not None and isinstance(energy, int | float):
            record_energy_constraint(ot_trial, energy, self.energy_budget_wh)
        if ot_trial is not None and result and not error and result.get("is_final") is False:
            # Stopped early by a scheduler: its objectives are not final values, so Optuna sees it as pruned
            # (multi-objective samplers skip pruned trials instead of learning from partial scores).
            if trial_id not in self._completed_trials:
                self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
                self._completed_trials.add(trial_id)
            return
        if trial_id in self._completed_trials and result and not error:
            if trial_id not in self._retried:
                self._record_retry(trial_id, result)
            return
        super().on_trial_complete(trial_id, result=result, error=error)

    def _record_retry(self, trial_id: str, result: dict) -> None:
        """A trial Optuna already closed as failed completed after all: `--resume` relaunched it (Tune's
        resume_errored) once its fault was mended. Optuna never reopens a finished trial, so the result becomes a
        COMPLETE trial with the same point, naming the failed attempt in `retry_of`."""
        failed = self._ot_study._storage.get_trial(self._ot_trials[trial_id]._trial_id)
        metrics = self._metric if isinstance(self._metric, list) else [self._metric]
        values = [result.get(metric) for metric in metrics]
        if failed.state != TrialState.FAIL or not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            return
        attrs = {RETRY_ATTR: failed.number}
        energy = result.get("energy_wh")
        if self.energy_budget_wh is not None and isinstance(energy, int | float) and math.isfinite(energy):
            attrs[CONSTRAINT_ATTR] = [float(energy) - self.energy_budget_wh]
        self._ot_study.add_trial(
            create_trial(params=failed.params, distributions=failed.distributions, values=values, user_attrs=attrs)
        )
        self._retried.add(trial_id)

    def restore(self, checkpoint_path: str) -> None:
        """Tune's snapshot first, then the newer journal: the points it asked that Tune never recorded become the
        next suggestions, each with its own Optuna trial."""
        super().restore(checkpoint_path)
        journal = self._read_journal()
        if journal is not None:
            # The trials Tune will relaunch: its searcher snapshot's, and any its experiment state (written just
            # before the searcher's) names.
            recorded = _experiment_states(Path(checkpoint_path).parent)
            known = set(self._ot_trials) | {tid for tid in journal["_ot_trials"] if tid in recorded}
            if known <= set(journal["_ot_trials"]):
                self.__dict__.update(journal)
                asked_after = [
                    tid for tid in self._ot_trials if tid not in known and tid not in self._completed_trials
                ]
                self._unclaimed.extend(self._ot_trials.pop(tid) for tid in asked_after)
        bound = {t._trial_id for t in [*self._ot_trials.values(), *self._unclaimed]}
        for missed in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if missed._trial_id not in bound:
                self._missed_ask(missed)
        self._unclaimed.sort(key=lambda t: t.number)
        if self._unclaimed:
            numbers = ", ".join(str(t.number) for t in self._unclaimed)
            log.info("resume: Optuna trials %s were asked after Tune's last snapshot; they run next", numbers)

    def _missed_ask(self, missed) -> None:
        """An ask no snapshot holds: the driver was killed while Optuna stored the point (one commit per value,
        milliseconds on a loaded machine) or before the journal's write. A seed-grid point (Optuna's
        `fixed_params`, taken from its queue) is claimed, so it is not lost. A sampled point is closed as FAIL,
        labelled, never having run: the sampler, restored to its state before that ask, draws again, whereas
        claiming it would let the sampler draw the same values a second time."""
        if "fixed_params" in missed.system_attrs:
            self._unclaimed.append(Trial(self._ot_study, missed._trial_id))
            return
        self._ot_study._storage.set_trial_user_attr(missed._trial_id, UNRECORDED_ATTR, UNRECORDED_REASON)
        self._ot_study.tell(missed.number, state=TrialState.FAIL)

    def _write_journal(self) -> None:
        if self.journal_path is not None:
            write_bytes(self.journal_path, pickle.dumps(self.__dict__))

    def _read_journal(self) -> dict | None:
        if self.journal_path is None or not Path(self.journal_path).is_file():
            return None
        with open(self.journal_path, "rb") as fh:
            return pickle.load(fh)


def _experiment_states(folder: Path) -> str:
    """The text of Tune's experiment state files (`experiment_state-<session>.json`) in its restore folder."""
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob("experiment_state-*.json")))
