"""Wall-time overhead of `search.run` (Ray Tune + Optuna + MLflow) over the same trainings in a plain loop.

In one call: a real search of the `local` preset with `--trials` random configurations of `--epochs` epochs each
(`search.run`'s own code path, run_search), then the very same configurations (read back from its Optuna
study) trained with the same recipe, probe and final judging in a plain process pool of the same parallelism
(benchmarks.lora_table.generate.train_config). The figure is the ratio of the two wall times (goal: at most
1.15 for trials of about 10 seconds; Ray Tune's own scalability benchmark reports about 14% on 1-second
trials). The plain loop writes no MLflow runs, checkpoints or reports: those are part of what is measured.

    .venv/bin/python -m benchmarks.bench_overhead [--trials 8] [--out benchmarks/results/overhead.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.lora_table.generate import _init_worker, train_config  # noqa: E402
from common.atomic import write_json  # noqa: E402
from common.errors import InputError, exit_on_input_error  # noqa: E402
from corpus.pipeline import build_corpus  # noqa: E402
from search.config import load_config  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _overrides(work: Path, trials: int, concurrency: int, probe_items: int, epochs: int) -> list[str]:
    return [
        f"experiment.name=bench-overhead-{int(time.time())}",
        "search.sampler=random",
        "search.seed_grid=none",
        f"search.num_samples={trials}",
        f"search.max_concurrent_trials={concurrency}",
        f"search.space.epochs={{choices: [{epochs}]}}",
        f"training.probe_items={probe_items}",
        f"tracking.uri=sqlite:///{work}/mlflow.db",
        f"search.storage_path={work}/ray_results",
        f"paths.reports_dir={work}/reports",
    ]


@exit_on_input_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--probe-items", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per trial (2: about 10 s on this machine)")
    parser.add_argument("--out", type=Path, default=RESULTS / "overhead.json")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.concurrency < 1 or args.epochs < 1:
        raise InputError("--trials/--concurrency", None, "must be positive")
    import optuna

    from search.orchestrate import run_search

    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    config = load_config(
        "local", overrides=_overrides(work, args.trials, args.concurrency, args.probe_items, args.epochs)
    )
    started = time.perf_counter()
    summary = run_search(config)
    search_seconds = time.perf_counter() - started

    study = optuna.load_study(study_name=config.experiment.name, storage=summary["optuna_storage"])
    configs = [t.params for t in study.trials]
    corpus = build_corpus(config.corpus, config.paths.data_dir.resolve())
    started = time.perf_counter()
    with ProcessPoolExecutor(
        max_workers=args.concurrency,
        initializer=_init_worker,
        initargs=(config.model_dump_json(), str(corpus.path), int(config.search.cpus_per_trial)),
    ) as pool:
        rows = list(pool.map(train_config, configs, [args.probe_items] * len(configs), [False] * len(configs)))
    loop_seconds = time.perf_counter() - started
    train_seconds = [r[-1]["train_seconds"] for r in rows]
    ratio = search_seconds / loop_seconds
    write_json(
        args.out,
        {
            "what": "wall time of search.run (run_search) over the same trainings in a plain process pool",
            "command": f"python -m benchmarks.bench_overhead --trials {args.trials} --concurrency {args.concurrency} "
            f"--epochs {args.epochs}",
            "trials": len(configs),
            "concurrency": args.concurrency,
            "search_seconds": search_seconds,
            "plain_loop_seconds": loop_seconds,
            "ratio_search_over_loop": ratio,
            # Where the search's wall time went: setup (ray.init, corpus, preflight, MLflow parent run), the
            # Tuner (trials, with the baseline beside them), recording (front, MLflow, report).
            "search_stage_seconds": summary["stage_seconds"],
            "ratio_tuner_stage_over_loop": summary["stage_seconds"]["trials"] / loop_seconds,
            "mean_trial_train_seconds_in_loop": sum(train_seconds) / len(train_seconds),
            "goal": "<= 1.15 for ~10-second trials",
            "includes": "search side: ray.init, corpus check, baseline scoring, MLflow runs, checkpoints, report",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        },
    )
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in summary["stage_seconds"].items())
    print(
        f"search.run / plain loop wall-time ratio: {ratio:.3f} (goal <= 1.15); search stages: {stages}; "
        f"plain loop {loop_seconds:.1f} s; written to {args.out}"
    )


if __name__ == "__main__":
    main()
