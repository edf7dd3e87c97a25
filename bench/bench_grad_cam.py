"""Grad-CAM vs the physical floor: one bare forward + backward pass of the same model.

    python -m bench.bench_grad_cam [--repeats 30] [--device cpu|cuda] [--size 224]

Floor: the preprocessed input through the model, then ``logit.backward()``
(all parameter gradients) — what any gradient method must at least pay.
Grad-CAM: the whole ``explain()`` call from a uint8 image (preprocessing,
hook, forward, backward to the layer, upsampling to the image grid,
normalisation). Both are timed interleaved in the same process; medians.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from bench.common import forward_backward, timed
from explainers import explain
from models import load_model
from models.samples import sample_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    model = load_model("efficientnet-lite0", device=args.device)
    image = sample_image("chelsea (cat)")
    x = model.preprocess(image)
    target = int(model.predict(image).probs.argmax())

    floor = forward_backward(model, x, target)

    def grad_cam():
        explain(model, image, method="grad-cam", target=target)

    for _ in range(3):  # warm-up: allocator, autograd, thread pools
        floor()
        grad_cam()
    floors, cams = [], []
    for _ in range(args.repeats):
        floors.append(timed(floor, model.device))
        cams.append(timed(grad_cam, model.device))
    f, c = statistics.median(floors), statistics.median(cams)
    print(f"device: {model.device_description}, torch {torch.__version__}, image {image.shape[1]}x{image.shape[0]}, "
          f"repeats {args.repeats}")
    print(f"{'what':<34}{'median ms':>10}{'min ms':>10}")
    print(f"{'floor: forward + backward':<34}{f * 1e3:>10.2f}{min(floors) * 1e3:>10.2f}")
    print(f"{'grad-cam (explain, end to end)':<34}{c * 1e3:>10.2f}{min(cams) * 1e3:>10.2f}")
    print(f"ratio grad-cam / floor: {c / f:.3f}  (goal <= 1.1)")


if __name__ == "__main__":
    main()
