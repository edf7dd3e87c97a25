"""The CAM family vs the physical floor, and Score-CAM vs pytorch-grad-cam.

    python -m bench.bench_cams [--repeats 20] [--device cpu|cuda] [--skip-peer]

Gradient CAMs: the whole ``explain()`` call from a uint8 image vs one bare
forward + full backward of the same model on the same preprocessed input
(goal ≤ 1.1). Score-CAM: vs its floor = its forward passes × the best
per-image forward time over batch sizes, measured in this run (goal ≤ 1.25);
and vs pytorch-grad-cam's ScoreCAM on the same 224×224 input (time, and the
largest difference between the two maps).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from bench.common import best_forward_per_image, forward_backward, median_time
from explainers import explain, get_method
from models import load_model
from models.inputs.samples import sample_image

GRADIENT_CAMS = ("grad-cam", "grad-cam++", "xgrad-cam", "hires-cam", "layer-cam", "cf-cam", "eigen-cam")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default=None)
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()

    model = load_model("efficientnet-lite0", device=args.device)
    image = sample_image("chelsea (cat)")
    x = model.preprocess(image)
    target = int(model.predict(image).probs.argmax())
    floor = median_time(forward_backward(model, x, target), model.device, args.repeats, warmup=3)
    print(f"device: {model.device_description}, torch {torch.__version__}, image {image.shape[1]}x{image.shape[0]}")
    print(f"floor: forward + backward = {floor * 1e3:.2f} ms (median of {args.repeats})")
    print(f"{'method':<14}{'median ms':>11}{'ratio to floor':>16}")
    for method in GRADIENT_CAMS:
        t = median_time(lambda: explain(model, image, method=method, target=target), model.device, args.repeats, 2)
        print(f"{method:<14}{t * 1e3:>11.2f}{t / floor:>16.3f}")

    per_image, best_batch = best_forward_per_image(model, x)
    n_forward, _ = get_method("score-cam", "image").estimate(model=model)
    score_floor = n_forward * per_image
    square = np.asarray(Image.fromarray(image).resize((224, 224), Image.BICUBIC))
    ours = None

    def run_ours():
        nonlocal ours
        ours = explain(model, square, method="score-cam", target=target)

    t_ours = median_time(run_ours, model.device, max(1, args.repeats // 10))
    print(f"\nscore-cam: {n_forward} forward passes; best forward {per_image * 1e3:.2f} ms/image at batch {best_batch}")
    print(f"{'score-cam (lumen)':<28}{t_ours:>9.2f} s   ratio to floor ({score_floor:.2f} s): {t_ours / score_floor:.3f}")
    if args.skip_peer:
        return
    from pytorch_grad_cam import ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    peer = ScoreCAM(model=model.module, target_layers=[model.target_layer])
    peer_map = None

    def run_peer():
        nonlocal peer_map
        peer_map = peer(input_tensor=model.preprocess(square), targets=[ClassifierOutputTarget(target)])[0]

    t_peer = median_time(run_peer, model.device, max(1, args.repeats // 10), warmup=0)
    print(f"{'score-cam (pytorch-grad-cam)':<28}{t_peer:>9.2f} s   lumen is {t_peer / t_ours:.2f}x faster")
    print(f"max |lumen - pytorch-grad-cam| over the 224x224 map: {np.abs(ours.scores - peer_map).max():.2e}")


if __name__ == "__main__":
    main()
