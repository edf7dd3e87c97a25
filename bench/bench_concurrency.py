"""What the per-model lock costs: throughput of 8 threads against 1 thread on the same explanations.

An explanation with hooks holds its model's lock for its whole run (hooks and captured tensors
live on the shared module), the others per pass, so sessions on one model take turns; this measures what that costs against running
the same jobs one after another, and what taking the lock on every pass costs a single thread.
As in the Streamlit server, all torch work runs in worker threads, never in the main thread
(a main thread that has run torch keeps OpenMP workers that slow other threads down).

    python -m bench.bench_concurrency [--jobs 48] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import torch

from explainers import explain
from models import load_model
from models.inputs.samples import sample_image

# a mixed workload: hooked CAMs, Captum gradients, seeded noise, batched perturbation
WORKLOAD = [
    ("grad-cam", "chelsea (cat)", {}),
    ("layer-cam", "coffee", {}),
    ("saliency", "chelsea (cat)", {}),
    ("integrated-gradients", "coffee", {"n_steps": 8}),
    ("smoothgrad", "chelsea (cat)", {"n_samples": 8}),
    ("occlusion", "coffee", {"window": 56, "stride": 56}),
]


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def hold(self, estimate_s=None):  # what explain takes for a whole hooked run
        return nullcontext()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=48)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    with ThreadPoolExecutor(1) as pool:
        model = pool.submit(load_model, "efficientnet-lite0", device=args.device).result()
    images = {name: sample_image(name) for _, name, _ in WORKLOAD}
    jobs = [WORKLOAD[i % len(WORKLOAD)] for i in range(args.jobs)]

    def run(job):
        method, image, params = job
        return explain(model, images[image], method=method, **params)

    def throughput(threads: int) -> float:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, WORKLOAD * threads))  # warm-up of every worker: autograd, allocator, OpenMP team
            start = time.perf_counter()
            list(pool.map(run, jobs))
            if model.device.type == "cuda":
                torch.cuda.synchronize()
            return len(jobs) / (time.perf_counter() - start)

    one, eight = throughput(1), throughput(8)
    lock = model.lock
    model.lock = _NoLock()  # one thread only: what taking the lock on every pass costs
    try:
        unlocked = throughput(1)
    finally:
        model.lock = lock
    print(f"device {model.device}, torch threads {torch.get_num_threads()}, {len(jobs)} explanations")
    print(f"1 thread : {one:6.2f} explanations/s")
    print(f"8 threads: {eight:6.2f} explanations/s   ratio 8/1 = {eight / one:.2f}")
    print(f"1 thread without the lock: {unlocked:6.2f} explanations/s   lock cost = {unlocked / one:.3f}x")


if __name__ == "__main__":
    main()
