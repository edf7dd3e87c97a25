"""The methods × faithfulness-figures table on bundled images, the random baseline included.

    python -m bench.faithfulness_table [--images 3] [--fill road] [--cells 14] [--cells-per-step 4] [--pixel-curves]

Each of grad-cam, rise, occlusion, sobol (modest parameters, METHODS below) and the random
baseline (mean over ``--seeds`` random maps) explains the top class of each image with the
embedded EfficientNet-Lite0; the table shows each figure per image and its mean, with
"higher/lower is better" (the image spec's ``better``) and the rank of random among the methods on the mean.
All maps of an image are measured together (``image_faithfulness_many``), as Compare measures them.
"""

from __future__ import annotations

import argparse

import numpy as np

from explainers import explain
from explainers import get_modality
from explainers.metrics.image import image_faithfulness_many
from models import load_model
from models.inputs.samples import sample_image

IMAGES = ("chelsea (cat)", "coffee", "astronaut", "rocket", "china.jpg", "flower.jpg")
METHODS = {"grad-cam": {}, "rise": {"n_masks": 500}, "occlusion": {}, "sobol": {}}
BETTER = {k: v for k, v in get_modality("image").better.items() if k != "increase_in_confidence"}  # IC: 0 or 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fill", default="road")
    parser.add_argument("--cells", type=int, default=14)
    parser.add_argument("--cells-per-step", type=int, default=4)
    parser.add_argument("--pixel-curves", action="store_true", help="also the RISE-paper pixel curves")
    args = parser.parse_args()
    model = load_model("efficientnet-lite0", device="cpu")
    kw = dict(cells=args.cells, cells_per_step=args.cells_per_step, fill=args.fill, pixel_curves=args.pixel_curves)
    figures = [k for k in BETTER if args.pixel_curves or k not in ("deletion_auc", "insertion_auc")]
    rows: dict[str, list[dict]] = {m: [] for m in [*METHODS, "random"]}
    for name in IMAGES[: args.images]:
        image = sample_image(name)
        target, maps = None, []
        for method, params in METHODS.items():
            maps.append(explain(model, image, method=method, target=target, **params))
            target = maps[-1].target
        maps += [explain(model, image, method="random", target=target, seed=s) for s in range(args.seeds)]
        found = image_faithfulness_many(model, image, maps, **kw)
        for method, figures_of in zip(METHODS, found):
            rows[method].append(figures_of)
        randoms = found[len(METHODS):]
        rows["random"].append({k: float(np.mean([r[k] for r in randoms])) for k in figures})
    names = [n.split(" ")[0] for n in IMAGES[: args.images]]
    print(f"fill={args.fill} cells={args.cells} cells_per_step={args.cells_per_step}; random: mean of {args.seeds} seeds")
    for k in figures:
        print(f"\n{k} ({BETTER[k]} is better)")
        print(f"| method | {' | '.join(names)} | mean |")
        print("|---" * (len(names) + 2) + "|")
        means = {}
        for method, rs in rows.items():
            values = [r[k] for r in rs]
            means[method] = float(np.mean(values))
            print(f"| {method} | {' | '.join(f'{v:.3f}' for v in values)} | {means[method]:.3f} |")
        ordered = sorted(means, key=means.get, reverse=BETTER[k] == "higher")
        print(f"random ranks {ordered.index('random') + 1} of {len(ordered)}")


if __name__ == "__main__":
    main()
