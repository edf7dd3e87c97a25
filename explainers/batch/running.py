"""What every dataset job on Ray shares: Ray started or joined (quietly), the workers' pool, the job's summary.

``job.run_job`` (a method per input) and ``craft_job.run_craft`` (CRAFT over every image) both run through these.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from models.errors import ExplainerError, InputError

REPO = Path(__file__).resolve().parents[2]


@dataclass
class JobSummary:
    """What a job did: explanations written (error rows included) and skipped as already done (items × methods),
    the errors as (path, sentence) pairs, its seconds, where the results are and each method's result set id."""

    done: int = 0
    skipped: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    out: Path | None = None
    sets: dict[str, str] = field(default_factory=dict)
    total: int = 0  # items × methods this run had to do
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)
    workers: int = 0
    address: str | None = None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def quiet_ray() -> None:
    """Ray's and Ray Data's own messages off the terminal: errors only, no progress bars."""
    for name in ("ray", "ray.data", "ray._private", "ray.util"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.print_on_execution_start = False


def check_address(address: str | None) -> str | None:
    """``address`` (else ``$RAY_ADDRESS``), or a sentence when nothing answers there: a HOST:PORT is tried with a
    TCP connection (5 s) first, since Ray itself waits minutes for a head that is not there."""
    import socket

    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address or address == "auto" or "://" in address:
        return address
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise InputError(f"The Ray address {address!r} must read HOST:PORT (the head's address that "
                         "`ray start --head` prints), 'auto', or ray://HOST:PORT.")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise InputError(f"Nothing answers at the Ray address {address} ({err.strerror or type(err).__name__}); "
                         "start a head there with `ray start --head --port PORT`, or check the address.") from None
    return address


def start_ray(address: str | None = None) -> bool:
    """Ray for this process: the one already started, else the cluster at ``address`` / ``$RAY_ADDRESS``, else a
    new one on this machine (every core, no dashboard). True when this call started it (the job then stops it)."""
    import ray

    quiet_ray()
    if ray.is_initialized():
        return False
    address = check_address(address)
    paths = [str(REPO), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    if os.environ.get("LUMEN_CACHE_DIR"):
        env["LUMEN_CACHE_DIR"] = os.environ["LUMEN_CACHE_DIR"]
    common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                  runtime_env={"env_vars": env})
    try:
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(address="local", num_cpus=os.cpu_count() or 1, **common)  # never a stray `ray start` here
    except Exception as err:  # noqa: BLE001 - ConnectionError, ValueError, RuntimeError: one sentence
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        if address and "auth" in str(err).lower():
            raise ExplainerError(f"The Ray cluster at {address} asks for its token: set RAY_AUTH_MODE=token and the "
                                 "head's token (RAY_AUTH_TOKEN, or ~/.ray/auth_token; `ray get-auth-token` on the "
                                 "head prints it) before the job.") from None
        raise ExplainerError(f"Could not start or join {where} ({type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else 'no detail'}).") from None
    quiet_ray()
    return True


def _pool(workers: int | None, notes: list[str]) -> tuple[int, dict]:
    """How many actors, and what each asks Ray for: one GPU each when the cluster has GPUs, else one CPU."""
    import ray

    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    have, ask = (gpus, {"num_gpus": 1}) if gpus else (cpus, {"num_cpus": 1})
    n = have if workers is None else int(workers)
    if n < 1:
        raise InputError("--workers must be at least 1.")
    if n > have:
        notes.append(f"{n} workers asked for; the cluster has {have} {'GPUs' if gpus else 'CPUs'}, so {have} run.")
        n = have
    return n, ask
