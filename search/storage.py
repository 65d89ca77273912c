"""Where a search keeps its files: Tune's storage (a local folder or a shared URI), the report folder, and the
checks that a search can write there before anything starts.

A storage path with `://` (s3://, gs://, file:///) is given to Tune as is; any other is a local folder, made
absolute because Ray's workers run elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from common.atomic import ensure_writable_dir
from common.errors import InputError
from experiment.config import ExperimentConfig

DEFAULT_TUNE_STORAGE = "ray_results"


def is_uri(storage: str) -> bool:
    return "://" in storage


def tune_storage(config: ExperimentConfig) -> str:
    """Tune's storage_path: the configured URI, or the local folder as an absolute path."""
    configured = config.search.storage_path
    if configured and is_uri(configured):
        return configured
    return str(Path(configured or DEFAULT_TUNE_STORAGE).resolve())


def experiment_path(config: ExperimentConfig) -> str:
    """Tune's record of this search (what `--resume` and `--resync` read back)."""
    storage = tune_storage(config)
    if is_uri(storage):
        return f"{storage.rstrip('/')}/{config.experiment.name}"
    return str(Path(storage) / config.experiment.name)


def reports_dir(config: ExperimentConfig) -> Path:
    """reports/<experiment>/: the front and trial tables, the baseline, timings and the report."""
    return (config.paths.reports_dir / config.experiment.name).resolve()


def lock_path(config: ExperimentConfig) -> Path:
    """The lock that keeps one driver per search name (search/lock.py): beside Tune's record of the search, or in
    the cache folder when Tune's storage is a URI (an object store has no atomic create)."""
    storage = tune_storage(config)
    folder = config.paths.cache_dir.resolve() / "locks" if is_uri(storage) else Path(storage)
    return folder / f"{config.experiment.name}.lock"


def searcher_journal_path(config: ExperimentConfig) -> Path:
    """The searcher's own record of every point it asked (search/searcher.py), beside the lock: read back by
    `--resume` on this machine; a resume elsewhere falls back to Tune's snapshot of the searcher."""
    return lock_path(config).with_suffix(".searcher.pkl")


def check_output_dirs(config: ExperimentConfig) -> None:
    """Every local directory the search writes to, checked before anything starts (not after the last trial)."""
    outputs = {
        "paths.data_dir": config.paths.data_dir,
        "paths.cache_dir": config.paths.cache_dir,
        "paths.reports_dir": config.paths.reports_dir,
    }
    if not is_uri(tune_storage(config)):
        outputs["search.storage_path"] = Path(tune_storage(config))
    for field, path in outputs.items():
        ensure_writable_dir(path, field)


def check_resumable(config: ExperimentConfig, option: str = "--resume") -> None:
    """A search Tune never stored is refused before Ray starts (a URI is checked by Tune itself)."""
    path = experiment_path(config)
    if not is_uri(path) and not Path(path).is_dir():
        raise InputError(option, None, f"no search named {config.experiment.name!r} under {Path(path).parent}")


def check_shared_storage(storage: str, alive_nodes: int, joined_cluster: bool) -> None:
    """Checkpoints must land where every node sees them. A joined cluster may grow (the autoscaler starts GPU
    workers as trials queue), so there a local path is refused even while only the head is up."""
    if is_uri(storage) or (alive_nodes <= 1 and not joined_cluster):
        return
    where = f"the cluster has {alive_nodes} nodes" if alive_nodes > 1 else "this search joins a Ray cluster"
    raise InputError(
        "search.storage_path",
        None,
        f"{storage!r} is a local path but {where}; use shared storage (s3://, gs://) or a mount every node "
        "sees, given as file:///path",
    )
