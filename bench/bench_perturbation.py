"""Perturbation methods vs their physical floor: their number of forward passes × the best per-image forward time.

    python -m bench.bench_perturbation [--device cpu|cuda] [--repeats 3] [--quick]

Floor: the preprocessed image, repeated in a batch, through the bare module under
``torch.inference_mode``; several batch sizes (and both memory layouts) are tried
and the best per-image time is kept — what any method that needs N passes must at
least pay. The floor is measured before every method and the best of all is used,
so that a slow moment of a shared machine cannot flatter the ratios.
Methods: the whole ``explain()`` call from a uint8 image (masks, masked inputs,
passes through the engine, the estimator, the map on the image grid). Best of
``--repeats`` runs. Goal: ratio <= 1.25.
"""

from __future__ import annotations

import argparse
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

    first = per_image_forward(model, x, [(b, layout) for b in BATCH_SIZES for layout in ("nchw", "nhwc")])
    best_configs = sorted(first, key=first.get)[:2]  # re-measured between methods
    print("per-image forward (ms), bare module, by batch size:")
    for b in BATCH_SIZES:
        print(f"  batch {b:>3}: nchw {first[(b, 'nchw')] * 1e3:7.2f}   nhwc {first[(b, 'nhwc')] * 1e3:7.2f}")
    floor_per_image = min(first.values())

    rows = []
    for method, params in budgets.items():
        explain(model, image, method=method, **(QUICK[method]))  # warm-up (shap's numba, allocator)
        floor_per_image = min(floor_per_image, *per_image_forward(model, x, best_configs).values())
        best, passes = float("inf"), 0
        for _ in range(args.repeats):
            synced(model.device)
            start = time.perf_counter()
            e = explain(model, image, method=method, **params)
            synced(model.device)
            best = min(best, time.perf_counter() - start)
            passes = e.n_forward
        assert passes == get_method(method, "image").estimate(params)[0]
        rows.append((method, params, passes, best))
    floor_per_image = min(floor_per_image, *per_image_forward(model, x, best_configs).values())

    print(f"best per-image forward: {floor_per_image * 1e3:.2f} ms (first sweep's best: batch {best_configs[0][0]}, "
          f"{best_configs[0][1]})")
    print(f"{'method':<10}{'params':<38}{'passes':>7}{'time s':>9}{'floor s':>9}{'ratio':>7}")
    for method, params, passes, seconds in rows:
        floor = passes * floor_per_image
        shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        print(f"{method:<10}{shown:<38}{passes:>7}{seconds:>9.2f}{floor:>9.2f}{seconds / floor:>7.2f}")
    print("goal: ratio <= 1.25")


if __name__ == "__main__":
    main()
