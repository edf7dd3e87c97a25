"""CRAFT on the embedded CNN: time per stage, and each model-bound stage against its floor.

    python -m bench.bench_craft [--device cpu|cuda] [--images 8] [--concepts 10] [--patch 64] [--repeats 3]

Images: ``--images`` views of chelsea (all "Egyptian cat"). Stages, as ``craft``
reports them: activations (crops and images through g, the images through h),
factorisation (NMF on the crops, NNLS coding of every image position), importance
(Sobol: nb_design · (r + 2) passes through h per image), Lens metrics.

Floors, measured in the same run:
- activations: (crops + images) × the best per-image time of g (the model cut at
  the layer) over batch sizes — what any method reading those activations pays;
- importance: its passes through h × the best per-item time of h over batch sizes.
Ratio = stage time / floor (1.0 is the floor). The whole-run time is the median of
``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from bench.common import median_time
from explainers import explain
from explainers.concepts.model_split import ModelSplit
from models import load_model
from models.inputs.samples import sample_views


def best_per_item(fn, make, device, sizes=(8, 16, 32, 64, 128, 256, 512), repeats=3) -> tuple[float, int]:
    best = (float("inf"), 1)
    with torch.inference_mode():
        for b in sizes:
            x = make(b)
            best = min(best, (median_time(lambda: fn(x), device, repeats) / b, b))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--concepts", type=int, default=10)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    model = load_model("efficientnet-lite0", device=device)
    images = sample_views("chelsea (cat)", args.images)
    params = dict(n_concepts=args.concepts, patch_size=args.patch, seed=0)

    runs = [explain(model, images, method="craft", target="Egyptian cat", **params) for _ in range(args.repeats + 1)][1:]
    stages = {k: statistics.median(r.extras["timings"][k] for r in runs) for k in runs[0].extras["timings"]}
    total = statistics.median(r.runtime_s for r in runs)
    e = runs[0]

    split = ModelSplit.of(model)
    size = model.input_size
    g_time, g_batch = best_per_item(split.g, lambda b: torch.rand(b, 3, *size, device=device), device, sizes=(1, 4, 8, 16, 32))
    C, h, w = split.activation_shape
    h_time, h_batch = best_per_item(split.h, lambda b: torch.rand(b, C, h, w, device=device), device)
    n_g = e.extras["n_crops"] + len(images)
    sobol_passes = len(images) * 32 * (args.concepts + 2)

    print(f"CRAFT on {model.name}, {len(images)} images, {args.concepts} concepts, patch {args.patch}, "
          f"{e.extras['n_crops']} crops, device {device}, torch threads {torch.get_num_threads()}")
    print(f"{'stage':<16}{'seconds':>10}{'floor s':>10}{'ratio':>8}  floor")
    floors = {
        "activations_s": (n_g * g_time, f"{n_g} passes through g × {g_time * 1e3:.2f} ms (best, batch {g_batch})"),
        "importance_s": (sobol_passes * h_time,
                         f"{sobol_passes} passes through h × {h_time * 1e6:.1f} µs (best, batch {h_batch})"),
    }
    for stage, seconds in stages.items():
        floor, how = floors.get(stage, (None, ""))
        ratio = f"{seconds / floor:8.2f}" if floor else f"{'':>8}"
        floor_text = f"{floor:10.3f}" if floor else f"{'':>10}"
        print(f"{stage.removesuffix('_s'):<16}{seconds:10.3f}{floor_text}{ratio}  {how}")
    print(f"{'total':<16}{total:10.3f}")


if __name__ == "__main__":
    main()
