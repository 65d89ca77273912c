"""Checks a search makes before it builds or records anything, each in seconds: the Ray cluster and the MLflow
server answer, the cluster can hold one trial, and how many seed-grid points the search runs.

A dead address used to cost minutes: `ray.init(address="127.0.0.1:1")` retried for more than two minutes with
Ray's own connection warnings, and MLflow's client retries a dead server with backoff for about four. One TCP
connect with a short timeout says the same within seconds, naming the address and the option that gave it.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlsplit

from common.errors import InputError
from experiment.config import ExperimentConfig

CONNECT_TIMEOUT_SECONDS = 3.0


def probe_tcp(
    host: str, port: int, source: str, what: str, timeout: float = CONNECT_TIMEOUT_SECONDS, shown: str | None = None
) -> None:
    """One TCP connect; InputError naming `source` and the address (`shown`, else host:port) if nothing accepts it
    within `timeout`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as err:
        reason = f"no answer within {timeout:g} s" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        where = shown or f"{host}:{port}"
        raise InputError(source, None, f"{what} at {where} does not answer ({reason.lower()})") from None


def ray_address_option(address: str | None) -> tuple[str | None, str]:
    """The cluster this search joins and the option that named it: --address, else RAY_ADDRESS."""
    if address:
        return address, "--address"
    return os.environ.get("RAY_ADDRESS") or None, "RAY_ADDRESS"


def probe_ray_address(address: str | None) -> None:
    """A host:port cluster address accepts a connection within seconds (before the driver imports torch or Ray)."""
    target, option = ray_address_option(address)
    if target and target not in ("auto", "local"):
        parts = urlsplit(target if "://" in target else f"ray://{target}")
        try:
            host, port = parts.hostname, parts.port
        except ValueError:  # a port that is not a number
            host = port = None
        if host is None or port is None:
            raise InputError(option, None, f"expected host:port, 'auto' or 'local', got {target!r}")
        probe_tcp(host, port, option, "the Ray cluster")


def start_ray(address: str | None) -> None:
    """`ray.init` on the given cluster (or a local one), after a short probe of a host:port address."""
    import ray

    target, option = ray_address_option(address)
    probe_ray_address(address)
    try:
        ray.init(address=address, include_dashboard=False, configure_logging=False, log_to_driver=True)
    except ConnectionError as err:  # 'auto' with no cluster running on this machine
        reason = " ".join(str(err).split())[:200]
        raise InputError(option, None, f"cannot join the Ray cluster {target!r}: {reason}") from None


def probe_tracking_server(uri: str) -> None:
    """An http(s) tracking URI: its host accepts a connection within seconds (check_reachable then asks MLflow)."""
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.hostname:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        probe_tcp(parts.hostname, port, "tracking.uri", "MLflow", shown=uri)


def check_trial_fits(config: ExperimentConfig, nodes: list[dict[str, Any]], joined_cluster: bool) -> None:
    """Local Ray: one trial's CPUs and GPUs fit on this machine, or Tune would wait for them forever. A joined
    cluster may grow (the autoscaler starts workers as trials queue), so there only Tune's own message warns."""
    if joined_cluster:
        return
    for key, field in (("CPU", "search.cpus_per_trial"), ("GPU", "search.gpus_per_trial")):
        wanted = getattr(config.search, field.split(".")[1])
        largest = max((node.get("Resources", {}).get(key, 0.0) for node in nodes if node.get("Alive")), default=0.0)
        if wanted > largest:
            raise InputError(
                field, None, f"{wanted:g} {key}s per trial, but this machine gives Ray {largest:g}: no trial can start"
            )


def seed_grid_notice(config: ExperimentConfig, grid_size: int) -> str | None:
    """One line when num_samples is below the seed grid: then only the first num_samples points run."""
    samples = config.search.num_samples
    if config.search.sampler == "grid16" or samples >= grid_size:
        return None
    return (
        f"note: search.num_samples={samples} is below the {grid_size} points of the {config.search.seed_grid} seed "
        f"grid: the first {samples} in seed_order={config.search.seed_order} run and the sampler proposes none; "
        f"set search.num_samples above {grid_size} for sampler trials"
    )
