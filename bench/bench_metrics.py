"""The default image faithfulness figures on the embedded CNN, against their floor: one map, and five maps together.

    python -m bench.bench_metrics [--device cpu|cuda] [--repeats 3] [--maps 5] [--pixel-curves] [--fill road]

What is timed (median of ``--repeats``, after a warm-up), on chelsea at 224 px:

- ``one map``: ``image_faithfulness`` of a Grad-CAM map with Compare's default options (the MoRF and LeRF
  region curves, 14 × 14 patches, ROAD imputation; Average Drop / Increase in Confidence): 100 passes;
- ``N maps``: ``image_faithfulness_many`` of ``--maps`` maps (grad-cam, saliency, occlusion, random seeds…),
  every input in one engine call, as Compare measures them;
- ``N maps one at a time``: the same maps through ``image_faithfulness`` one after the other.

Floor: the passes made (counted by the adapter) × the best per-image forward time over batch sizes (bare
module, ``torch.inference_mode``), measured in the same run: what any implementation of these curves must pay
for its forward passes. Ratio = time / floor; what is above 1 is building the inputs (ROAD's imputation,
masks) and the engine's batching. ``--pixel-curves`` adds the RISE-paper pixel curves (450 more passes a map).
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.common import best_forward_per_image, median_time
from explainers import explain
from explainers.metrics.image import image_faithfulness, image_faithfulness_many
from models import load_model
from models.inputs.samples import sample_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--maps", type=int, default=5)
    parser.add_argument("--pixel-curves", action="store_true")
    parser.add_argument("--fill", default="road")
    args = parser.parse_args()
    device = torch.device(args.device)
    model = load_model("efficientnet-lite0", device=device)
    image = sample_image("chelsea (cat)")
    first = explain(model, image, method="grad-cam")
    others = [explain(model, image, method=m, target=first.target) for m in ("saliency", "occlusion")]
    others += [explain(model, image, method="random", target=first.target, seed=s) for s in range(args.maps)]
    maps = [first, *others][: args.maps]
    options = dict(fill=args.fill, pixel_curves=args.pixel_curves)

    runs = {
        "one map": lambda: image_faithfulness(model, image, first, **options),
        f"{len(maps)} maps together": lambda: image_faithfulness_many(model, image, maps, **options),
        f"{len(maps)} maps one at a time": lambda: [image_faithfulness(model, image, e, **options) for e in maps],
    }
    x = model.preprocess(image)
    if device.type == "cpu":
        x = x.contiguous(memory_format=torch.channels_last)
    per_image, batch = best_forward_per_image(model, x, batch_sizes=(1, 4, 8, 16, 32, 64) if device.type == "cpu"
                                              else (32, 64, 128, 256, 512))
    print(f"image faithfulness on {model.name}, chelsea at {model.input_size[0]} px, fill {args.fill}, pixel curves "
          f"{'on' if args.pixel_curves else 'off'}, device {device}, torch threads {torch.get_num_threads()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"best forward {per_image * 1e3:.2f} ms per image at batch {batch}")
    print(f"{'run':<24}{'passes':>8}{'time s':>10}{'floor s':>10}{'ratio':>8}")
    for name, fn in runs.items():
        before = model.n_forward
        fn()
        passes = model.n_forward - before
        seconds = median_time(fn, device, args.repeats, warmup=0)
        floor = passes * per_image
        print(f"{name:<24}{passes:>8}{seconds:>10.3f}{floor:>10.3f}{seconds / floor:>8.2f}")


if __name__ == "__main__":
    main()
