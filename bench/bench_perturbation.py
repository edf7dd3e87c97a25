"""Perturbation methods vs their physical floor: their number of forward passes × the best per-image forward time.

    python -m bench.bench_perturbation [--device cpu|cuda] [--repeats 3] [--quick]

Floor: the preprocessed image, repeated in a batch, through the bare module under
``torch.inference_mode``. A sweep over batch sizes and memory layouts finds the
best per-image time; the floor of a method with N passes is N images through the
bare module at that best batch size and layout — what any method that needs N
passes must at least pay. Method: the whole ``explain()`` call from a uint8 image
(masks, masked inputs, the passes through the engine, the estimator, the map on the
image grid), best of ``--repeats``. Ratio = method / (passes × the best per-image
time seen in the whole run), goal <= 1.25. Each method run is preceded by a floor
run of the same number of passes; the median of those back-to-back ratios is shown
too, as it suffers less when other work shares the CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from explainers import explain, get_method
from explainers.core.engine import CPU_BATCH_SIZE
from models import load_model
from models.inputs.samples import sample_image

BUDGETS = {  # moderate budgets: the ratio hardly depends on them, the run time does
    "occlusion": {},
    "rise": {"n_masks": 256},
    "sobol": {"grid_size": 8, "nb_design": 8},
    "shap": {},  # its default, max_evals=500
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
    parser.add_argument("--methods", nargs="+", default=list(BUDGETS), choices=list(BUDGETS))
    args = parser.parse_args()

    model = load_model("efficientnet-lite0", device=args.device)
    image = sample_image("chelsea (cat)")
    x = model.preprocess(image)
    budgets = {m: (QUICK if args.quick else BUDGETS)[m] for m in args.methods}
    print(f"device: {model.device_description}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"image {image.shape[1]}x{image.shape[0]}, engine CPU batch {CPU_BATCH_SIZE}, repeats {args.repeats}")

    configs = [(b, layout) for b in BATCH_SIZES for layout in ("nchw", "nhwc")]
    sweep = per_image_forward(model, x, configs)
    again = per_image_forward(model, x, configs[::-1])  # twice, in both orders: a busy moment hits no config twice
    sweep = {c: min(sweep[c], again[c]) for c in configs}
    print("per-image forward (ms), bare module, by batch size:")
    for b in BATCH_SIZES:
        print(f"  batch {b:>3}: nchw {sweep[(b, 'nchw')] * 1e3:7.2f}   nhwc {sweep[(b, 'nhwc')] * 1e3:7.2f}")
    best_batch, best_layout = min(sweep, key=sweep.get)
    print(f"floor runs at batch {best_batch}, {best_layout}")

    rows = []
    best_per_image = min(sweep.values())
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
        best_per_image = min(best_per_image, min(floors) / passes)
        rows.append((method, params, passes, min(times), statistics.median(a / b for a, b in zip(times, floors))))

    print(f"best per-image forward in this run: {best_per_image * 1e3:.2f} ms")
    print(f"{'method':<10}{'params':<30}{'passes':>7}{'time s':>8}{'floor s':>8}{'ms/pass':>8}{'ratio':>7}{'b2b':>6}")
    for method, params, passes, t, back_to_back in rows:
        floor = passes * best_per_image
        shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        print(f"{method:<10}{shown:<30}{passes:>7}{t:>8.2f}{floor:>8.2f}{t / passes * 1e3:>8.2f}{t / floor:>7.2f}"
              f"{back_to_back:>6.2f}")
    print("floor = passes x best per-image forward time of the run; ratio = best time / floor (goal <= 1.25);")
    print("b2b = median of time / floor run timed just before it (less sensitive to other work on the CPU)")


if __name__ == "__main__":
    main()
