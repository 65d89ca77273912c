"""The table's configurations: the `tiny` preset's search space as Optuna distributions, stable config ids, and
the nearest table configuration to a point a sampler proposes (the replay's lookup)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna

from experiment.search_settings import ParamSpec


def distributions(space: Mapping[str, ParamSpec]) -> dict[str, optuna.distributions.BaseDistribution]:
    """The same distributions Ray's OptunaSearch builds from `search.space.tune_space`, built directly."""
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    for name, spec in space.items():
        if spec.choices is not None:
            out[name] = optuna.distributions.CategoricalDistribution(list(spec.choices))
        elif spec.integer:
            out[name] = optuna.distributions.IntDistribution(int(spec.low), int(spec.high), log=spec.log)
        else:
            out[name] = optuna.distributions.FloatDistribution(spec.low, spec.high, log=spec.log)
    return out


def config_id(params: Mapping[str, Any]) -> str:
    """Stable id of a configuration, so a resumed generator skips what it has done."""
    canonical = json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True, default=str)
    return hashlib.sha1(canonical.encode()).hexdigest()[:12]


class NearestConfig:
    """Maps any point of the space to the closest configuration in the table.

    A categorical mismatch costs more than the whole width of every numeric axis, so a proposal lands on a
    table configuration with its categorical values whenever one exists; numeric axes are compared on their
    own scale (log where the distribution is log), normalised to [0, 1].
    """

    def __init__(
        self, configs: Sequence[Mapping[str, Any]], dists: Mapping[str, optuna.distributions.BaseDistribution]
    ):
        self.configs = [dict(c) for c in configs]
        self.dists = dict(dists)
        self._numeric = [
            n for n, d in self.dists.items() if not isinstance(d, optuna.distributions.CategoricalDistribution)
        ]
        self._categorical = [n for n in self.dists if n not in self._numeric]
        self._mismatch_cost = float(len(self._numeric) + 1)
        self._points = np.array([[self._scaled(n, c[n]) for n in self._numeric] for c in self.configs]).reshape(
            len(self.configs), len(self._numeric)
        )
        self._labels = np.array([[str(c[n]) for n in self._categorical] for c in self.configs], dtype=object).reshape(
            len(self.configs), len(self._categorical)
        )

    def _scaled(self, name: str, value: float) -> float:
        dist = self.dists[name]
        low, high, x = float(dist.low), float(dist.high), float(value)
        if dist.log:
            low, high, x = math.log(low), math.log(high), math.log(x)
        return (x - low) / (high - low)

    def index(self, params: Mapping[str, Any]) -> int:
        point = np.array([self._scaled(n, params[n]) for n in self._numeric])
        numeric = np.abs(self._points - point).sum(axis=1) if self._numeric else np.zeros(len(self.configs))
        labels = np.array([str(params[n]) for n in self._categorical], dtype=object)
        mismatches = (self._labels != labels).sum(axis=1) if self._categorical else 0
        return int(np.argmin(numeric + self._mismatch_cost * mismatches))
