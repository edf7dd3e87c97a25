"""How much less does CF-CAM's map move than Grad-CAM's under the same gradient noise?

    python -m bench.cf_cam_noise [--seeds 8] [--layer bn2]

For every bundled sample image (its top class, the embedded CNN's default
layer), the gradients are perturbed by ``level · std(G) · ε`` (the
``grad_noise`` option of both methods, identical ε for both), and each noisy
map is compared with the same method's clean map: Pearson correlation and SSIM
(1 = unmoved). Prints the means over images × seeds per noise level.
"""

from __future__ import annotations

import argparse

import numpy as np
from skimage.metrics import structural_similarity

from explainers.image.cam import add_gradient_noise, grad_cam, layer_gradients
from explainers.image.cf_cam import cf_cam
from explainers.image.maps import to_pixel_grid
from models import load_model
from models.inputs.samples import IMAGE_SAMPLES, sample_image

RULES = {"grad-cam": grad_cam, "cf-cam": cf_cam}
LEVELS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--layer", default=None)
    args = parser.parse_args()
    model = load_model("efficientnet-lite0")
    rows = {(name, level): {"pearson": [], "ssim": []} for name in RULES for level in LEVELS}
    for sample in IMAGE_SAMPLES:
        image = sample_image(sample)
        A, G, _ = layer_gradients(model, image, None, args.layer)
        h, w = image.shape[:2]
        for name, rule in RULES.items():
            clean = to_pixel_grid(rule(A, G), h, w)
            for level in LEVELS:
                for seed in range(args.seeds):
                    noisy = to_pixel_grid(rule(A, add_gradient_noise(G, level, seed)), h, w)
                    rows[name, level]["pearson"].append(np.corrcoef(clean.ravel(), noisy.ravel())[0, 1])
                    rows[name, level]["ssim"].append(structural_similarity(clean, noisy, data_range=1.0))
    print(f"{len(IMAGE_SAMPLES)} images x {args.seeds} seeds, layer {args.layer or model.target_layer_name}; "
          "similarity of the noisy map to the clean map (1 = unmoved)")
    print(f"{'noise (x std G)':>16} | {'Grad-CAM r':>10} {'CF-CAM r':>9} | {'Grad-CAM SSIM':>13} {'CF-CAM SSIM':>11}"
          f" | {'movement ratio CF/Grad (1-r)':>28}")
    for level in LEVELS:
        g, c = rows["grad-cam", level], rows["cf-cam", level]
        gr, cr = np.nanmean(g["pearson"]), np.nanmean(c["pearson"])
        gs, cs = np.nanmean(g["ssim"]), np.nanmean(c["ssim"])
        ratio = (1 - cr) / (1 - gr) if gr < 1 else float("nan")
        print(f"{level:>16.2f} | {gr:>10.3f} {cr:>9.3f} | {gs:>13.3f} {cs:>11.3f} | {ratio:>28.2f}")


if __name__ == "__main__":
    main()
