"""Replay search strategies on the tabular benchmark (benchmarks/lora_table/table.csv), without training.

Strategies: `grid16` (the reconstructed reference grid), and Optuna's random, TPE, NSGA-II and GP samplers as
the search builds them (search.space.make_sampler), each with and without the MO-ASHA scheduler
(search.moasha.RungBook, the rule the Ray scheduler runs), over `--seeds` seeds. Each replays what
`python -m search.run` does with the `tiny` preset (plus any `--set` overrides): the seed grid
(search.space.seed_points, in its configured order) is evaluated first, then the sampler proposes, and each
proposal is mapped to the nearest configuration in the table. Trials run on `--concurrency` simulated workers;
an epoch takes as long as its energy (both are CPU time on this machine), so rung arrivals interleave as in a
real search.

The energy of a strategy is the sum of the table's training energy (`energy_wh`) of the epochs it actually
trained: an early-stopped trial costs only its epochs. Reported: hypervolume against cumulative energy, and the
energy each strategy needs to reach the hypervolume of the full `grid16` run, as a ratio to grid16's energy
(goal: 0.5 or less).

    .venv/bin/python -m benchmarks.bench_search [--seeds 20] [--set search.seed_grid=none] [--table PATH]
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.lora_table.space import NearestConfig, config_id, distributions  # noqa: E402
from common.atomic import write_bytes, write_json  # noqa: E402
from common.config_file import add_set_option  # noqa: E402
from common.errors import InputError, exit_on_input_error  # noqa: E402
from experiment.config import ExperimentConfig, load_config  # noqa: E402
from front.objectives import DEFAULT_OBJECTIVES  # noqa: E402
from front.pareto import hypervolume  # noqa: E402
from search.moasha import RungBook, rung_settings  # noqa: E402
from search.space import make_sampler, record_energy_constraint, seed_points  # noqa: E402

TABLE = Path(__file__).resolve().parent / "lora_table" / "table.csv"
RESULTS = Path(__file__).resolve().parent / "results"
SAMPLERS = ("grid16", "random", "tpe", "nsga2", "gp")
OBJECTIVE_NAMES = ("judge_score", "energy_wh")


@dataclass
class Table:
    """The benchmark table grouped by configuration: per config, its params and its rows by epoch."""

    params: dict[str, dict[str, Any]]
    epochs: dict[str, pd.DataFrame]
    grid_ids: list[str]

    @classmethod
    def load(cls, path: Path, space, grid: list[dict[str, Any]]) -> Table:
        if not path.is_file():
            raise InputError(path, None, "no table; build it: python -m benchmarks.lora_table.generate")
        frame = pd.read_csv(path)
        axes = list(space)
        params, epochs = {}, {}
        for cid, rows in frame.groupby("config_id", sort=False):
            rows = rows.sort_values("epoch")
            if not rows["is_final"].iloc[-1]:
                continue  # an interrupted configuration: the generator will finish it on its next run
            params[cid] = {a: _native(rows[a].iloc[0]) for a in axes}
            epochs[cid] = rows.reset_index(drop=True)
        grid_ids = [config_id(p) for p in grid]
        missing = [cid for cid in grid_ids if cid not in params]
        if missing:
            raise InputError(path, "config_id", f"{len(missing)} grid16 configurations missing, e.g. {missing[0]}")
        return cls(params, epochs, grid_ids)


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class Run:
    """One replayed search: the events (cumulative energy, hypervolume) after each finished trial."""

    energy: list[float] = field(default_factory=list)
    hv: list[float] = field(default_factory=list)
    trials: int = 0
    stopped: int = 0

    def energy_to_reach(self, target: float) -> float:
        for energy, hv in zip(self.energy, self.hv, strict=True):
            if hv >= target * (1 - 1e-9):
                return energy
        return math.inf

    def hv_at(self, energy: float) -> float:
        reached = [hv for e, hv in zip(self.energy, self.hv, strict=True) if e <= energy * (1 + 1e-9)]
        return reached[-1] if reached else 0.0


def replay(
    table: Table,
    config: ExperimentConfig,
    grid: list[dict[str, Any]],
    seed: int,
    energy_budget: float,
    concurrency: int,
    reference: dict[str, float],
) -> Run:
    """Simulate one search as `search.run` runs it until its trained energy reaches `energy_budget`.

    As in search/orchestrate.py: the seed grid (`grid`, from search.space.seed_points) is enqueued first, in
    its order, as Ray's OptunaSearch does with points_to_evaluate; then the config's sampler proposes; with
    `scheduler: moasha` the config's early-stopping rule (search.moasha.RungBook) judges every epoch; the
    `grid16` strategy stops after the grid. Trials that the scheduler stopped reach Optuna as pruned.
    """
    search = config.search
    dists = distributions(search.space)
    nearest = NearestConfig([table.params[c] for c in table.params], dists)
    ids = list(table.params)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(search, seed))
    for point in grid:
        study.enqueue_trial(point)
    max_trials = len(grid) if search.sampler == "grid16" else math.inf
    book = None
    if search.scheduler == "moasha":
        book = RungBook(**rung_settings(search.early_stopping, config.max_epochs()))

    run = Run()
    finished: list[dict[str, float]] = []
    spent = 0.0
    clock = 0.0
    events: list[tuple[float, int, str, int, Any]] = []  # (time, tiebreak, trial key, epoch index, optuna trial)
    started = 0

    def start(now: float) -> bool:
        nonlocal started
        if started >= max_trials:
            return False
        ot_trial = study.ask(fixed_distributions=dists)
        cid = ids[nearest.index(ot_trial.params)]
        started += 1
        first = table.epochs[cid].iloc[0]
        heapq.heappush(events, (now + float(first["energy_wh"]), started, cid, 0, ot_trial))
        return True

    active = sum(start(clock) for _ in range(concurrency))
    while active:
        clock, key, cid, index, ot_trial = heapq.heappop(events)
        rows = table.epochs[cid]
        row = rows.iloc[index]
        previous = float(rows["energy_wh"].iloc[index - 1]) if index else 0.0
        spent += float(row["energy_wh"]) - previous
        final = index == len(rows) - 1
        keep = book is None or book.on_result(f"{key}", float(row["epoch"]), row.to_dict(), final=final)
        if not final and keep:
            step = float(rows["energy_wh"].iloc[index + 1]) - float(row["energy_wh"])
            heapq.heappush(events, (clock + step, key, cid, index + 1, ot_trial))
            continue
        run.trials += 1
        record_energy_constraint(ot_trial, float(row["energy_wh"]), search.energy_budget_wh)
        if final:
            finished.append({"judge_score": float(row["judge_score"]), "energy_wh": float(row["energy_wh"])})
            study.tell(ot_trial, [float(row["judge_score"]), float(row["energy_wh"])])
        else:
            run.stopped += 1
            study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
        run.energy.append(spent)
        run.hv.append(hypervolume(pd.DataFrame(finished), DEFAULT_OBJECTIVES, reference) if finished else 0.0)
        active -= 1
        if spent < energy_budget and start(clock):
            active += 1
    return run


def summarise(runs: list[Run], grid_hv: float, grid_energy: float) -> dict[str, Any]:
    ratios = [r.energy_to_reach(grid_hv) / grid_energy for r in runs]
    reached = [x for x in ratios if math.isfinite(x)]
    return {
        "seeds": len(runs),
        "seeds_reaching_grid16_hv": len(reached),
        "energy_ratio_to_reach_grid16_hv": {
            "median": statistics.median(ratios) if reached else None,
            "mean_over_reaching": statistics.mean(reached) if reached else None,
            "per_seed": [None if not math.isfinite(x) else round(x, 4) for x in ratios],
        },
        "hv_at_grid16_energy": {
            "median": statistics.median(r.hv_at(grid_energy) for r in runs),
            "ratio_to_grid16_hv": statistics.median(r.hv_at(grid_energy) for r in runs) / grid_hv,
        },
        "trials_mean": statistics.mean(r.trials for r in runs),
        "early_stopped_mean": statistics.mean(r.stopped for r in runs),
    }


def _median_curve(runs: list[Run], energies: np.ndarray) -> list[float]:
    return [float(statistics.median(r.hv_at(e) for r in runs)) for e in energies]


def _plot(curves: dict[str, list[float]], energies: np.ndarray, grid_energy: float, grid_hv: float, out: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, curve in curves.items():
        ax.plot(energies / grid_energy, curve, label=name, linestyle="--" if name.endswith("+moasha") else "-")
    ax.axhline(grid_hv, color="grey", linewidth=0.8)
    ax.axvline(1.0, color="grey", linewidth=0.8)
    ax.set_xlabel("cumulative training energy / energy of the full grid16 run")
    ax.set_ylabel("hypervolume (judge_score x energy_wh), median over seeds")
    ax.set_title("Search strategies replayed on the lora_table benchmark")
    ax.legend(fontsize=8, ncol=2)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_bytes(out, buffer.getvalue())


def _repo_relative(path: Path) -> str:
    """Paths recorded in results name the file within the repository, not this machine's checkout."""
    path = Path(path).resolve()
    root = Path(__file__).resolve().parent.parent
    return str(path.relative_to(root)) if path.is_relative_to(root) else path.name


def strategy_config(config: ExperimentConfig, name: str) -> ExperimentConfig:
    """The config `search.run` would run for a strategy name: `<sampler>` or `<sampler>+moasha`."""
    sampler, _, scheduler = name.partition("+")
    search = config.search.model_copy(update={"sampler": sampler, "scheduler": scheduler or "fifo"})
    return config.model_copy(update={"search": search})


@exit_on_input_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument(
        "--gp-seeds", type=int, default=None, help="seeds for gp (its fits take ~1 s a trial here); default --seeds"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="simulated workers (the tiny preset's 2)")
    parser.add_argument("--budget", type=float, default=2.0, help="energy budget per run, in grid16 energies")
    parser.add_argument("--strategies", default=",".join(SAMPLERS))
    add_set_option(parser, "override the tiny preset as `python -m search.run --set` does, e.g. search.seed_grid=none")
    parser.add_argument("--out", type=Path, default=RESULTS / "search.json")
    args = parser.parse_args(argv)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in SAMPLERS]
    if unknown:
        raise InputError("--strategies", None, f"unknown {unknown}; known: {', '.join(SAMPLERS)}")
    if args.seeds < 1 or args.concurrency < 1 or args.budget <= 0:
        raise InputError("--seeds/--concurrency/--budget", None, "must be positive")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = load_config("tiny", overrides=args.overrides)
    reference = dict(config.search.reference_point)
    reference_grid = seed_points(config.search.model_copy(update={"sampler": "grid16"}), config.training)
    table = Table.load(args.table, config.search.space, reference_grid)
    grid_final = pd.DataFrame([table.epochs[c].iloc[-1] for c in table.grid_ids])
    grid_energy = float(grid_final["energy_wh"].sum())
    grid_hv = hypervolume(grid_final, DEFAULT_OBJECTIVES, reference)
    budget = args.budget * grid_energy

    results: dict[str, Any] = {}
    all_runs: dict[str, list[Run]] = {}
    for strategy in strategies:
        for name in (strategy, f"{strategy}+moasha"):
            run_config = strategy_config(config, name)
            grid = seed_points(run_config.search, run_config.training)
            runs = [
                replay(table, run_config, grid, seed, budget, args.concurrency, reference)
                for seed in range(args.gp_seeds if strategy == "gp" and args.gp_seeds else args.seeds)
            ]
            all_runs[name] = runs
            results[name] = summarise(runs, grid_hv, grid_energy)
            ratio = results[name]["energy_ratio_to_reach_grid16_hv"]["median"]
            print(
                f"{name:16s} median energy to reach grid16 hv: "
                f"{'not reached' if ratio is None or not math.isfinite(ratio) else f'{ratio:.3f}'} x grid16 "
                f"({results[name]['seeds_reaching_grid16_hv']}/{results[name]['seeds']} seeds)",
                flush=True,
            )
    energies = np.linspace(0.0, budget, 101)
    curves = {name: _median_curve(runs, energies) for name, runs in all_runs.items()}
    plot_path = args.out.with_suffix(".png")
    _plot(curves, energies, grid_energy, grid_hv, plot_path)
    energy_probe = pd.concat(table.epochs.values())
    stopping = config.search.early_stopping
    write_json(
        args.out,
        {
            "what": "search strategies replayed on the lora_table benchmark (no training); energy = sum of the "
            "table's energy_wh over the epochs each strategy trained",
            "command": "python -m benchmarks.bench_search "
            f"--seeds {args.seeds} --gp-seeds {args.gp_seeds or args.seeds} --concurrency {args.concurrency} "
            f"--budget {args.budget}" + "".join(f" --set {o}" for o in args.overrides),
            "table": {"path": _repo_relative(args.table), "configurations": len(table.params)},
            "objectives": [["judge_score", "max"], ["energy_wh", "min"]],
            "reference_point": reference,
            "search": {
                "seed_grid": config.search.seed_grid,
                "seed_order": config.search.seed_order,
            },
            "moasha": {
                **{k: v for k, v in stopping.model_dump(mode="json").items()},
                "max_t": config.max_epochs(),
                # The probe is evaluation energy, outside energy_wh; this is its size relative to training.
                "probe_energy_over_train_energy": float(
                    energy_probe["energy_probe_wh"].sum() / energy_probe.groupby("config_id")["energy_wh"].max().sum()
                ),
            },
            "grid16": {"energy_wh": grid_energy, "hypervolume": grid_hv},
            "energy_budget_per_run_wh": budget,
            "goal": "energy to reach grid16's hypervolume <= 0.5 x grid16's energy",
            "strategies": results,
            "median_curves": {
                "energy_over_grid16_energy": [round(float(e / grid_energy), 4) for e in energies],
                **{name: [round(v, 8) for v in curve] for name, curve in curves.items()},
            },
            "plot": _repo_relative(plot_path),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "optuna": optuna.__version__},
        },
    )
    print(f"written {args.out} and {plot_path}")


if __name__ == "__main__":
    main()
