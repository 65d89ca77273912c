"""The plain loop that benchmarks/bench_overhead.py holds `search.run` against: the same configurations trained
with the same recipe, per-epoch probe and final judging (benchmarks.lora_table.generate.train_config), in a
process pool of the same parallelism, with no Ray, MLflow, checkpoints or reports.

It is a program of its own so that its wall time, like search.run's, counts its interpreter start and imports.
Like any plain script it imports its training code once, at the top; the forked workers share it.

    python -m benchmarks.overhead_loop --config-json CONFIG.json --corpus DIR --configs CONFIGS.json \
        --concurrency 2 --probe-items 8 --out ROWS.json
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import trainables.recipe  # noqa: E402, F401  (the training code, imported once and shared by the forked workers)
from benchmarks.lora_table.generate import _init_worker, train_config  # noqa: E402
from common.atomic import write_json  # noqa: E402
from common.errors import InputError, exit_on_input_error  # noqa: E402
from experiment.config import ExperimentConfig  # noqa: E402


@exit_on_input_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-json", type=Path, required=True, help="the search's ExperimentConfig as JSON")
    parser.add_argument("--corpus", type=Path, required=True, help="the corpus directory the search used")
    parser.add_argument("--configs", type=Path, required=True, help="JSON list of the sampled hyperparameters")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--probe-items", type=int, default=8)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        configs = json.loads(args.configs.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(args.configs, None, f"cannot be read as JSON ({type(err).__name__}: {err})") from None
    if not isinstance(configs, list) or not configs or not all(isinstance(c, dict) for c in configs):
        raise InputError(args.configs, None, "must hold a non-empty JSON list of hyperparameter objects")
    if args.concurrency < 1:
        raise InputError("--concurrency", None, f"must be positive (got {args.concurrency})")
    config = ExperimentConfig.model_validate_json(args.config_json.read_text())
    n = len(configs)
    with ProcessPoolExecutor(
        max_workers=args.concurrency,
        initializer=_init_worker,
        initargs=(config.model_dump_json(), str(args.corpus), int(config.search.cpus_per_trial)),
    ) as pool:
        rows = list(pool.map(train_config, configs, [args.probe_items] * n, [False] * n))
    write_json(args.out, {"train_seconds": [r[-1]["train_seconds"] for r in rows], "final": [r[-1] for r in rows]})


if __name__ == "__main__":
    main()
