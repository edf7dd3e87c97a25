"""Perturbation methods vs their physical floor: their number of forward passes × the best per-image forward time.

    python -m bench.bench_perturbation [--device cpu|cuda] [--repeats 3] [--quick]

Floor: the preprocessed image, repeated in a batch, through the bare module under
``torch.inference_mode``. A sweep over batch sizes and memory layouts finds the
best per-image time; the floor of a method with N passes is N images through the
bare module at that best batch size and layout — what any method that needs N
passes must at least pay. Method: the whole ``explain()`` call from a uint8 image
(masks, masked inputs, the passes through the engine, the estimator, the map on the
image grid). Floor and method are timed back to back, ``--repeats`` times; the
table gives the best of each, their ratio, and the median of the back-to-back
ratios (robust when other work shares the CPU). Goal: ratio <= 1.25.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from explainers import explain, get_method
from explainers.engine import CPU_BATCH_SIZE
from models import load_model
from models.samples import sample_image

BUDGETS = {  # moderate budgets: the ratio hardly depends on them, the run time does
    "occlusion": {},
    "rise": {"n_masks": 256},
    "sobol": {"grid_size": 8, "nb_design": 8},
    "shap": {"max_evals": 256},
}
QUICK = {
    "occlusion": {"window": 56, "stride": 28},
    "rise": {"n_masks": 64},
    "sobol": {"grid_size": 4, "nb_design": 4},
    "shap": {"max_evals": 64},
}
BATCH_SIZES = (1, 4, 8, 16, 32, 64)


def synced(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def per_image_forward(model, x: torch.Tensor, configs, repeats: int = 3) -> dict[tuple[int, str], float]:
    """Best seconds per image for each (batch size, memory layout), bare module, inference mode."""
    times = {}
    with torch.inference_mode():
        for b, layout in configs:
            inp = x.expand(b, -1, -1, -1).contiguous()
            if layout == "nhwc":
                inp = inp.contiguous(memory_format=torch.channels_last)
            model.module(inp)  # warm-up for this shape
            best = float("inf")
            for _ in range(repeats):
                synced(model.device)
                start = time.perf_counter()
                model.module(inp)
                synced(model.device)
                best = min(best, time.perf_counter() - start)
            times[(b, layout)] = best / b
    return times


def floor_run(model, x: torch.Tensor, n: int, batch: int, layout: str) -> float:
    """Seconds for n images through the bare module at the given batch size and layout."""
    inp = x.expand(batch, -1, -1, -1).contiguous()
    if layout == "nhwc":
        inp = inp.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        synced(model.device)
        start = time.perf_counter()
        for i in range(0, n, batch):
            model.module(inp[: min(batch, n - i)])
        synced(model.device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small budgets (a smoke run)")
    args = parser.parse_args()

    model = load_model("efficientnet-lite0", device=args.device)
    image = sample_image("chelsea (cat)")
    x = model.preprocess(image)
    budgets = QUICK if args.quick else BUDGETS
    print(f"device: {model.device_description}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"image {image.shape[1]}x{image.shape[0]}, engine CPU batch {CPU_BATCH_SIZE}, repeats {args.repeats}")

    sweep = per_image_forward(model, x, [(b, layout) for b in BATCH_SIZES for layout in ("nchw", "nhwc")])
    print("per-image forward (ms), bare module, by batch size:")
    for b in BATCH_SIZES:
        print(f"  batch {b:>3}: nchw {sweep[(b, 'nchw')] * 1e3:7.2f}   nhwc {sweep[(b, 'nhwc')] * 1e3:7.2f}")
    best_batch, best_layout = min(sweep, key=sweep.get)
    print(f"floor runs at batch {best_batch}, {best_layout}")

    print(f"{'method':<10}{'params':<30}{'passes':>7}{'time s':>8}{'floor s':>8}{'ms/pass':>8}{'ratio':>7}{'median':>8}")
    for method, params in budgets.items():
        explain(model, image, method=method, **(QUICK[method]))  # warm-up (shap's numba, allocator)
        passes = get_method(method, "image").estimate(params)[0]
        times, floors = [], []
        for _ in range(args.repeats):
            floors.append(floor_run(model, x, passes, best_batch, best_layout))
            synced(model.device)
            start = time.perf_counter()
            e = explain(model, image, method=method, **params)
            synced(model.device)
            times.append(time.perf_counter() - start)
            assert e.n_forward == passes
        t, f = min(times), min(floors)
        median = statistics.median(a / b for a, b in zip(times, floors))
        shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        print(f"{method:<10}{shown:<30}{passes:>7}{t:>8.2f}{f:>8.2f}{t / passes * 1e3:>8.2f}{t / f:>7.2f}{median:>8.2f}")
    print("ratio = best time / best floor; median = median of back-to-back time / floor. Goal: <= 1.25")


if __name__ == "__main__":
    main()
