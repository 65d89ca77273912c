"""Wall-time overhead of `python -m search.run` (Ray Tune + Optuna + MLflow) over the same trainings in a plain loop.

In one call, each side runs as a program of its own and is timed from launch to exit, so both count their
interpreter start and imports:
  - search: `python -m search.run` on the `tiny` preset with `--trials` random configurations of `--epochs`
    epochs each, `--concurrency` at a time;
  - loop: benchmarks/overhead_loop.py trains the very same configurations (read back from the first search's
    Optuna study) with the same recipe, probe and final judging in a process pool of the same parallelism. It
    writes no MLflow runs, checkpoints or reports: those are part of what is measured.

The machine drifts by several percent over minutes, so with `--repeats 2` the runs go search, loop, loop,
search (ABBA) and the figure is the total search time over the total loop time (goal: at most 1.15 for trials
of about 10 seconds; Ray Tune's own scalability benchmark reports about 14% on 1-second trials). The corpus, the
tiny base model and the MLflow and Optuna stores are made once beforehand, as for any search after the first;
a first search on a machine also creates the stores (about 2.5 s).

    .venv/bin/python -m benchmarks.bench_overhead [--trials 40] [--epochs 3] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common.atomic import write_bytes, write_json, write_text  # noqa: E402
from common.errors import InputError, exit_on_input_error  # noqa: E402
from experiment.config import ExperimentConfig, load_config  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def overrides(work: Path, name: str, trials: int, concurrency: int, probe_items: int, epochs: int) -> list[str]:
    return [
        f"experiment.name={name}",
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


def run_order(repeats: int) -> list[str]:
    """search, loop, loop, search, ...: ABBA blocks cancel a linear drift of the machine's speed."""
    order: list[str] = []
    for block in range(repeats):
        order += ["search", "loop"] if block % 2 == 0 else ["loop", "search"]
    return order


def same_configs(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    return sorted(json.dumps(c, sort_keys=True) for c in a) == sorted(json.dumps(c, sort_keys=True) for c in b)


def prepare(config: ExperimentConfig) -> Path:
    """Corpus, tiny base model and both stores, made before any timed run; returns the corpus directory."""
    import optuna

    from corpus.pipeline import build_corpus, read_split
    from search.tracking import check_reachable, default_optuna_storage, resolve_tracking_uri
    from trainables.base_model import corpus_texts, resolve_base_model

    corpus = build_corpus(config.corpus, config.paths.data_dir.resolve())
    train = read_split(corpus.path, "train").to_dict("records")
    resolve_base_model(config.model, corpus_texts(train), config.paths.cache_dir.resolve())
    uri = resolve_tracking_uri(config.tracking.uri)
    check_reachable(uri)
    optuna.storages.RDBStorage(default_optuna_storage(uri, config.tracking.optuna_storage))
    return corpus.path


def machine_counters(proc: Path = Path("/proc")) -> dict[str, float]:
    """Linux's counters of what the machine did to a run besides running it: CPU time the hypervisor took from this
    VM (steal), file pages read back in after the kernel had dropped them, and major page faults. Empty where /proc
    lacks them."""
    counters: dict[str, float] = {}
    try:
        cpu = (proc / "stat").read_text().splitlines()[0].split()
        counters["steal_seconds"] = int(cpu[8]) / os.sysconf("SC_CLK_TCK")
        vmstat = dict(line.split() for line in (proc / "vmstat").read_text().splitlines() if line.count(" ") == 1)
        counters["file_pages_refaulted"] = float(vmstat["workingset_refault_file"])
        counters["major_faults"] = float(vmstat["pgmajfault"])
    except (OSError, IndexError, KeyError, ValueError):
        return {}
    return counters


def timed(command: list[str], log: Path) -> tuple[float, dict[str, float]]:
    """Wall seconds of `command`, and how much each machine counter grew meanwhile."""
    before = machine_counters()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - started
    after = machine_counters()
    write_bytes(log, done.stdout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... exited {done.returncode}; see {log}")
    return seconds, {k: after[k] - before[k] for k in before.keys() & after.keys()}


def search_run(config: ExperimentConfig, sets: list[str], work: Path) -> dict[str, Any]:
    import optuna
    import pandas as pd

    from search.tracking import default_optuna_storage, resolve_tracking_uri

    name = config.experiment.name
    command = [sys.executable, "-m", "search.run", "--preset", "tiny"]
    for item in sets:
        command += ["--set", item]
    seconds, counters = timed(command, work / f"{name}.log")
    storage = default_optuna_storage(resolve_tracking_uri(config.tracking.uri), config.tracking.optuna_storage)
    study = optuna.load_study(study_name=name, storage=storage)
    report = config.paths.reports_dir / name
    timings = json.loads((report / "timings.json").read_text())
    inside = timings["setup_seconds"] + timings["trials_seconds"] + timings["recording_seconds"]
    return {
        "seconds": seconds,
        "machine_counters": counters,
        "configs": [t.params for t in study.trials],
        "stages_seconds": timings | {"outside_run_search_seconds": seconds - inside},
        "mean_trial_train_seconds": float(pd.read_csv(report / "trials.csv")["train_seconds"].mean()),
    }


def loop_run(config: ExperimentConfig, corpus: Path, configs: list[dict], args, work: Path, k: int) -> dict:
    config_json, configs_json, out = (work / f"loop-{k}-{what}.json" for what in ("config", "configs", "rows"))
    write_text(config_json, config.model_dump_json())
    write_json(configs_json, configs)
    command = [
        sys.executable, "-m", "benchmarks.overhead_loop", "--config-json", str(config_json), "--corpus", str(corpus),
        "--configs", str(configs_json), "--concurrency", str(args.concurrency), "--probe-items",
        str(args.probe_items), "--out", str(out),
    ]  # fmt: skip
    seconds, counters = timed(command, work / f"loop-{k}.log")
    train = json.loads(out.read_text())["train_seconds"]
    return {"seconds": seconds, "machine_counters": counters, "mean_trial_train_seconds": statistics.fmean(train)}


@exit_on_input_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--probe-items", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial (3: about 10 s on this machine)")
    parser.add_argument("--repeats", type=int, default=2, help="search/loop pairs, in ABBA order")
    parser.add_argument("--out", type=Path, default=RESULTS / "overhead.json")
    args = parser.parse_args(argv)
    for flag in ("trials", "concurrency", "epochs", "repeats"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag}", None, f"must be positive (got {getattr(args, flag)})")

    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    stamp = int(time.time())
    shape = (args.trials, args.concurrency, args.probe_items, args.epochs)
    first = load_config("tiny", overrides=overrides(work, f"bench-overhead-{stamp}-0", *shape))
    corpus = prepare(first)
    searches: list[dict[str, Any]] = []
    loops: list[dict[str, Any]] = []
    for kind in run_order(args.repeats):
        if kind == "search":
            sets = overrides(work, f"bench-overhead-{stamp}-{len(searches)}", *shape)
            result = search_run(load_config("tiny", overrides=sets), sets, work)
            if searches and not same_configs(result["configs"], searches[0]["configs"]):
                raise RuntimeError("the searches sampled different configurations; the comparison would not hold")
            searches.append(result)
        else:
            loops.append(loop_run(first, corpus, searches[0]["configs"], args, work, len(loops)))
        done = searches if kind == "search" else loops
        print(f"{kind} {len(done)}: {done[-1]['seconds']:.1f} s", flush=True)

    search_total = sum(s["seconds"] for s in searches)
    loop_total = sum(s["seconds"] for s in loops)
    ratio = search_total / loop_total
    write_json(
        args.out,
        {
            "what": "wall time of `python -m search.run` over the same trainings in a plain process pool, "
            "each a program of its own timed from launch to exit",
            "command": f"python -m benchmarks.bench_overhead --trials {args.trials} --concurrency {args.concurrency} "
            f"--epochs {args.epochs} --repeats {args.repeats}",
            "order": run_order(args.repeats),
            "trials": args.trials,
            "concurrency": args.concurrency,
            "ratio_search_over_loop": ratio,
            "ratio_per_pair": [s["seconds"] / lp["seconds"] for s, lp in zip(searches, loops, strict=True)],
            "search_seconds": [s["seconds"] for s in searches],
            "plain_loop_seconds": [lp["seconds"] for lp in loops],
            # Inside a search: setup (imports, ray.init, corpus check, preflight, baseline, MLflow parent run),
            # the Tuner, recording (front, MLflow, report); outside: interpreter start, Ray's shutdown at exit.
            "search_stages_seconds": [s["stages_seconds"] for s in searches],
            # The same trainings' own time on each side: how much the machine drifted, and how much the
            # harness's processes slowed the trials.
            "mean_trial_train_seconds": {
                "search": [s["mean_trial_train_seconds"] for s in searches],
                "loop": [lp["mean_trial_train_seconds"] for lp in loops],
            },
            # What the rest of the machine did during each run (see machine_counters): a run slowed by the machine
            # shows here, not in the ratio alone.
            "machine_counters": {
                "search": [s["machine_counters"] for s in searches],
                "loop": [lp["machine_counters"] for lp in loops],
            },
            "goal": "<= 1.15 for ~10-second trials",
            "stores": "MLflow and Optuna stores, corpus and base model made before the timed runs",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        },
    )
    pairs = ", ".join(f"{s['seconds'] / lp['seconds']:.3f}" for s, lp in zip(searches, loops, strict=True))
    print(
        f"search.run / plain loop wall-time ratio: {ratio:.3f} (goal <= 1.15; per pair {pairs}); "
        f"search {search_total:.1f} s, plain loop {loop_total:.1f} s; written to {args.out}"
    )


if __name__ == "__main__":
    main()
