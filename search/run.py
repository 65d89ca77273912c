"""`python -m search.run`: the product's front door. Validate the config, build or reuse the corpus, score the
untuned baseline, run the multi-objective Ray Tune + Optuna search, and record the Pareto front in MLflow.

Nothing starts (no Ray, no MLflow run) until the whole config is valid.
"""

from __future__ import annotations

import argparse
import gc
import logging
import shlex
import signal
import sys

from common.config_file import PRESETS, add_set_option, available_presets
from common.errors import exit_on_input_error
from experiment.config import load_config
from experiment.search_settings import SAMPLERS
from search import stopping
from search.lock import search_lock
from search.storage import check_output_dirs, lock_path
from search.summary import SearchSummary

log = logging.getLogger("search.run")

# The search finished and its results are safe, but MLflow lacks some of them until `--resync` runs.
EXIT_MLFLOW_PENDING = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m search.run",
        description="Multi-objective search over LoRA configurations: maximise judge score, minimise energy.",
        epilog="Without arguments the `local` preset runs (smollm2-135m, offline judge, CPU, about 15 minutes). "
        "For the reference study's setting on GPU workers: python -m search.run --preset paper --address auto",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--preset",
        choices=available_presets() or list(PRESETS),
        help="a config from configs/ (default: local)",
    )
    source.add_argument(
        "--config", metavar="FILE", help="a YAML config file (same schema as configs/local.yaml)"
    )
    add_set_option(parser, "override one config value, parsed as YAML (repeatable), e.g. --set search.num_samples=8")
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join ('auto' or host:port; default: RAY_ADDRESS if set, else start a local Ray)",
    )
    parser.add_argument(
        "--resume",
        metavar="NAME",
        default=None,
        help="finish an interrupted search by its experiment name: completed trials are kept, interrupted ones "
        "continue from their checkpoints",
    )
    parser.add_argument(
        "--resync",
        metavar="NAME",
        default=None,
        help="log into MLflow the trials of search NAME that Tune's storage holds but MLflow lacks (after MLflow "
        "was unreachable); each trial is logged once, however often this runs",
    )
    parser.add_argument(
        "--sampler", choices=SAMPLERS, default=None, help="shorthand for --set search.sampler=NAME"
    )
    return parser.parse_args(argv)


@exit_on_input_error
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = list(args.overrides)
    if args.sampler:
        overrides.append(f"search.sampler={args.sampler}")
    if args.resume or args.resync:
        overrides.append(f"experiment.name={args.resume or args.resync}")
    if not args.preset and not args.config and not argv:
        print(
            "Running the `local` preset (smollm2-135m, offline judge). For the study's setting on GPU workers: "
            "python -m search.run --preset paper --address auto",
            flush=True,
        )
    config = load_config(preset=args.preset, config_file=args.config, overrides=overrides)
    check_output_dirs(config)
    stopping.install()
    with search_lock(lock_path(config), config.experiment.name):
        if args.resync:
            from search.resync import resync
            from search.tracking import resolve_tracking_uri

            print(resync(config, resolve_tracking_uri(config.tracking.uri)).line(args.resync), flush=True)
            return 0
        return _search(config, args)


def _search(config, args: argparse.Namespace) -> int:
    from search.startup_checks import probe_ray_address, seed_grid_notice
    from search.storage import check_resumable

    probe_ray_address(args.address)
    if args.resume:
        check_resumable(config)
    from search.orchestrate import run_search
    from search.space import seed_points

    notice = seed_grid_notice(config, len(seed_points(config.search, config.training)))
    if notice:
        print(notice, flush=True)
    try:
        summary = run_search(config, address=args.address, resume=bool(args.resume))
    except KeyboardInterrupt as stop:
        name = stop.signal_name if isinstance(stop, stopping.SearchStopped) else "SIGINT"
        print(
            f"stopped by {name}: the trials that finished are kept (Tune's storage, Optuna, MLflow) and interrupted "
            f"ones continue from their last checkpoint with: {_command(config, args, '--resume')}",
            file=sys.stderr,
            flush=True,
        )
        return 128 + signal.Signals[name].value
    print_summary(summary)
    if summary.mlflow_pending:
        print(
            f"warning: MLflow at {summary.tracking_uri} stopped answering ({summary.mlflow_pending}). Every "
            f"trial's results are in Tune's storage and the front in {summary.front_csv}; once MLflow is back, "
            f"log them with: {_command(config, args, '--resync')}",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_MLFLOW_PENDING
    return 0


def _command(config, args: argparse.Namespace, option: str) -> str:
    """The exact command that resumes (or resyncs) this search with the same config, storage and cluster."""
    address = [f"--address {shlex.quote(args.address)}"] if args.address and option == "--resume" else []
    parts = [sys.executable, "-m", "search.run", option, config.experiment.name, *_config_args(args), *address]
    return " ".join(parts)


def _config_args(args: argparse.Namespace) -> list[str]:
    """The options that chose this config, so the printed --resync command finds the same storage and MLflow."""
    chosen = [f"--preset {args.preset}"] if args.preset else [f"--config {args.config}"] if args.config else []
    return chosen + [f"--set {shlex.quote(o)}" for o in args.overrides]


def print_summary(summary: SearchSummary) -> None:
    print("\n".join(summary.lines()), flush=True)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Everything is written and closed by now. Without this, the interpreter's shutdown spends seconds in the
    # garbage collector walking torch's, Ray's and MLflow's objects (4.4 s of a 2-trial search here); the
    # collector skips frozen objects.
    gc.freeze()
    sys.exit(code)
