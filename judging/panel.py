"""A panel of judges scoring (question, reference, candidate) items; the panel score is the mean over judges.

Per-judge scores are kept next to the mean, with agreement between judges and the correlation of score
with answer length, so a trial's score always comes with how far it can be trusted.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import InputError
from judging import correctness, local_judges, offline
from judging.agreement import STATISTICS, length_correlation, panel_agreement
from judging.cache import JudgementCache
from judging.calls import CallSettings
from judging.judge import Judge
from judging.judgement import Judgement, Usage
from judging.prompt import build_messages, neutralise
from judging.rubric import Rubric
from judging.settings import JudgingConfig


@dataclass(frozen=True)
class JudgeItem:
    id: str
    question: str
    reference: str
    answer: str


@dataclass
class PanelResult:
    judge_score: float
    criteria: dict[str, float]
    per_judge: dict[str, float]
    agreement: dict[str, float]
    length_correlation: float
    usage: dict[str, float]
    items: pd.DataFrame
    judgements: dict[str, list[Judgement]] = field(default_factory=dict, repr=False)

    def metrics(self) -> dict[str, float]:
        """Flat floats for tune.report / MLflow; names follow the trial-metric contract."""
        flat = {"judge_score": self.judge_score}
        flat.update({f"judge_{name}": value for name, value in self.criteria.items()})
        flat["judge_agreement"] = self.agreement["spearman"]
        flat["judge_length_corr"] = self.length_correlation
        for name in ("calls", "cache_hits", "failures", "cost_usd"):
            flat[f"judge_{name}"] = float(self.usage[name])
        flat["judge_tokens"] = float(self.usage["prompt_tokens"] + self.usage["completion_tokens"])
        return flat


class Panel:
    def __init__(
        self,
        models: Sequence[str],
        rubric: Rubric | None = None,
        *,
        cache_dir: Path | None = None,
        api_base: str | None = None,
        max_concurrency: int = 4,
        max_retries: int = 3,
        timeout_seconds: float = 60.0,
        backoff_seconds: float = 1.0,
        completion_kwargs: dict[str, Any] | None = None,
        standby: Sequence[str] = (),
    ):
        """`standby`: judges this panel does not score with but that must answer the preflight probe (the full
        panel under multi-fidelity judging, which scores only at the search's end)."""
        if not models:
            raise InputError("judging.panel", None, "a panel needs at least one judge model")
        if len(set(models)) != len(models):
            raise InputError("judging.panel", None, f"judge models repeat: {list(models)}")
        self.models = list(models)
        self.standby = [m for m in standby if m not in self.models]
        if any(m.startswith(f"{offline.PROVIDER}/") for m in [*self.models, *self.standby]):
            local_judges.register()
        self.rubric = rubric or Rubric()
        self.max_concurrency = max_concurrency
        self.settings = CallSettings(
            api_base=api_base,
            timeout_seconds=timeout_seconds,
            max_retries=max_retries,
            backoff_seconds=backoff_seconds,
            extra=dict(completion_kwargs or {}),
        )
        self.cache = JudgementCache(cache_dir)
        self.judges = {m: Judge(m, self.rubric, self._settings_for(m), self.cache) for m in self.models}

    def _settings_for(self, model: str) -> CallSettings:
        # api_base points at a local OpenAI-compatible server; the offline provider must not receive it.
        if model.startswith(f"{offline.PROVIDER}/"):
            return dataclasses.replace(self.settings, api_base=None)
        return self.settings

    @classmethod
    def from_config(
        cls, cfg: JudgingConfig, cache_dir: Path | None = None, tier: str = "trial", **overrides: Any
    ) -> Panel:
        """The panel a trial scores with (`tier="trial"`: the cheap panel under `judging.full_panel_policy: front`,
        with the full panel on standby for the preflight), or the full panel (`tier="full"`, search/rejudge.py)."""
        if tier not in ("trial", "full"):
            raise ValueError(f"tier must be 'trial' or 'full', got {tier!r}")
        models, standby = (cfg.trial_panel, cfg.end_panel) if tier == "trial" else (cfg.panel, [])
        options: dict[str, Any] = {
            "standby": standby,
            "cache_dir": cache_dir,
            "api_base": cfg.api_base,
            "max_concurrency": cfg.max_concurrency,
            "max_retries": cfg.max_retries,
            "timeout_seconds": cfg.timeout_seconds,
        }
        options.update(overrides)
        return cls(models, Rubric.from_config(cfg.rubric), **options)

    def standby_panel(self) -> Panel | None:
        """The judges on standby as a panel of their own, with this panel's settings and cache (the full panel, so
        the search's start can check it on known answers too); None without any."""
        if not self.standby:
            return None
        return Panel(
            self.standby,
            self.rubric,
            cache_dir=self.cache.root,
            api_base=self.settings.api_base,
            max_concurrency=self.max_concurrency,
            max_retries=self.settings.max_retries,
            timeout_seconds=self.settings.timeout_seconds,
            backoff_seconds=self.settings.backoff_seconds,
            completion_kwargs=self.settings.extra,
        )

    def preflight(self) -> Usage:
        """Call every judge (those on standby too) once with a tiny probe; raise InputError naming the first that
        cannot work. Returns the probes' calls, tokens and cost."""
        from judging.preflight import probe_model

        usage = Usage()
        for model in [*self.models, *self.standby]:
            settings = self._settings_for(model)
            probe_model(model, api_base=settings.api_base, settings=settings, usage=usage)
        return usage

    def ask(
        self, model: str, messages: list[dict[str, str]], schema: dict[str, Any], kind: str
    ) -> tuple[dict[str, Any] | None, Usage, str]:
        """One of the panel's judges asked for a JSON reply (cached, repaired): (reply or None, usage, error).

        Prompt families other than the rubric (judging/pairwise.py) ask through this."""
        data, usage, error, _ = self.judges[model].ask_json(messages, schema, kind=kind)
        return data, usage, error

    def score(self, items: Sequence[JudgeItem]) -> PanelResult:
        prompts = [build_messages(self.rubric, it.question, it.reference, it.answer) for it in items]
        # Batch the offline judges' embeddings into one encode call up front; their calls then only look them up.
        texts = [(neutralise(it.question), neutralise(it.reference), neutralise(it.answer)) for it in items]
        to_embed = [t for q, r, a in texts for t in (q, r, a)] if offline.MODEL in self.models else []
        if correctness.MODEL in self.models:
            to_embed += [t for q, r, a in texts for t in correctness.texts_to_embed(q, r, a)]
        if to_embed:
            offline.prefetch(to_embed)
        tasks = [(model, i) for model in self.models for i in range(len(items))]
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            done = list(pool.map(lambda task: self.judges[task[0]].judge(prompts[task[1]]), tasks))
        judgements: dict[str, list[Judgement]] = {m: [] for m in self.models}
        for (model, _), judgement in zip(tasks, done, strict=True):
            judgements[model].append(judgement)
        return self._summarise(list(items), judgements)

    def _summarise(self, items: list[JudgeItem], judgements: dict[str, list[Judgement]]) -> PanelResult:
        frame = pd.DataFrame(
            {
                "id": [it.id for it in items],
                "question": [it.question for it in items],
                "reference": [it.reference for it in items],
                "answer": [it.answer for it in items],
            }
        )
        per_model = pd.DataFrame({m: [j.overall for j in js] for m, js in judgements.items()}, dtype=float)
        frame["judge_score"] = _row_mean(per_model)
        for name in self.rubric.criteria:
            by_judge = pd.DataFrame({m: [j.scores[name] for j in js] for m, js in judgements.items()}, dtype=float)
            frame[f"judge_{name}"] = _row_mean(by_judge)
        for model in self.models:
            frame[f"judge_score__{model}"] = per_model[model].to_numpy()
        frame["rationale"] = _joined(judgements, lambda j: j.rationale)
        frame["error"] = _joined(judgements, lambda j: j.error)

        usage = Usage()
        for js in judgements.values():
            for j in js:
                usage.add(j.usage)
        agreement = panel_agreement(per_model) if len(self.models) > 1 else dict.fromkeys(STATISTICS, math.nan)
        return PanelResult(
            judge_score=_mean(frame["judge_score"]),
            criteria={name: _mean(frame[f"judge_{name}"]) for name in self.rubric.criteria},
            per_judge={m: _mean(per_model[m]) for m in self.models},
            agreement=agreement,
            length_correlation=length_correlation(frame["judge_score"], frame["answer"]),
            usage=usage.as_dict(),
            items=frame,
            judgements=judgements,
        )


def _row_mean(scores: pd.DataFrame) -> np.ndarray:
    """Mean over the judges that succeeded; NaN where none did (never 0)."""
    return scores.mean(axis=1, skipna=True).to_numpy() if len(scores) else np.array([], dtype=float)


def _mean(values: pd.Series) -> float:
    finite = values.dropna()
    return float(finite.mean()) if len(finite) else math.nan


def _joined(judgements: dict[str, list[Judgement]], text: Any) -> list[str]:
    count = len(next(iter(judgements.values()), []))
    multi = len(judgements) > 1
    rows = []
    for i in range(count):
        parts = [(m, text(js[i])) for m, js in judgements.items() if text(js[i])]
        rows.append(" | ".join(f"{m}: {t}" if multi else t for m, t in parts))
    return rows
