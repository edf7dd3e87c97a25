"""Batch Grad-CAM (``explain_batch``) vs the per-image ``explain`` loop vs pytorch-grad-cam's per-image loop.

    python -m bench.bench_batch [--n 32] [--repeats 3] [--device cpu|cuda] [--model efficientnet-lite0]
                                [--size 0] [--threads 0] [--skip-peer] [--ray]

On the same N photos (views of the bundled skimage/sklearn photos: crops of 60-95 % of each side, some
mirrored, so sizes differ; ``--size S`` resizes them to S×S, e.g. 224 for ImageNet-size inputs), Grad-CAM of
each photo's top class, from the uint8 photo to its map on the photo's own pixel grid:

- ``batch``: ``explain_batch(model, photos, "grad-cam")``, at the chunk size it picks itself (the engine's
  batch size within the run budget; 8 on CPU) and at the floor's best batch (``chunk=``);
- ``loop``: ``explain(model, photo, "grad-cam")`` per photo;
- ``pytorch-grad-cam``: its ``GradCAM`` on the same layer, per photo (preprocessed by the model's adapter,
  its map at the model's input size, not brought back to the photo's grid).

Timed interleaved (one of each per round, ``--repeats`` rounds, the median). Images/s and ratios printed.
Then the per-image cost of batch Grad-CAM vs the floor: the best per-image time of one bare forward and one
``backward()`` of the sum of each row's target logit, over batch sizes (1, 2, 4, 8, 16, 32) on the same
preprocessed photos (preprocessing left out of the floor, in channels-last as the engine feeds CPU batches;
goal ≤ 1.1×); and vs the tighter floor of what Grad-CAM needs, the backward only down to the target layer.

``--ray``: the same photos written as PNG to a folder and explained through the batch runner
(``explainers.batch.job.run_job``, faithfulness off) with 1 and then 2 Ray workers on this machine; images/s
from ``JobSummary.seconds`` (which includes starting the actors and loading the model in each).

On a GPU: ``--device cuda --n 1000 --size 224`` (1,000 ImageNet-size images); the chunk size then follows
the free GPU memory (``default_batch_size``) within the run budget.

Latest, on a quiet machine (2026-12-07, nothing else running; ``--n 32 --repeats 3 --threads 1 --ray``): floors
70.5 ms/image (bare forward + backward, batch 8) and 20.2 ms/image (to the layer, batch 8); batch Grad-CAM 35.5 and
39.6 images/s (own chunk, chunk 8: the same setting twice), 1.21-1.35x the explain loop (29.4/s), 3.3-3.6x the
pytorch-grad-cam loop (10.9/s); 0.36-0.40x the full floor (goal <= 1.1x: met), 1.25-1.39x the floor to the layer.
Ray, 32 PNG photos: 1 worker 22.9 s (1.4 images/s), 2 workers 21.0 s (1.5 images/s), mostly start-up at this size.

Earlier results. The machine these were measured on was SHARED with three other jobs (2 cores, load average 3-15
during the runs), so the times are noisy (the floors' batch sizes jump about; in one run the two ``batch`` rows,
the same setting, differed by 40 %). Only ratios within one run mean anything, and those loosely; the lead
reruns on a quiet machine. CPU, torch 2.14.1, EfficientNet-Lite0, 32 views of the six bundled photos (32
sizes, 182×290 .. 480×429), ``--n 32 --repeats 3 --threads 1``, 2026-12-07.

The code as committed (batches channels-first, as ``explain`` feeds one image), 00:57 UTC, load 4-6:

    floor (bare forward + backward): best 129.5 ms/image at batch 4 (batch 1: 148.7 ms)
    floor to the layer: best 20.1 ms/image at batch 8 (batch 1: 44.1 ms)
                                images/s  ms/image  loop / this  ÷ floor  ÷ layer floor
    batch (own chunk, 8)            26.7      37.5         1.24     0.29           1.86
    batch (chunk 4)                 26.8      37.3         1.25     0.29           1.86
    loop of explain                 21.5      46.5         1.00     0.36           2.32
    pytorch-grad-cam loop            7.7     129.3         0.36     1.00           6.44
    max |explain_batch - pytorch-grad-cam| over one 224x224 map: 4.17e-07

Two earlier runs fed the batch channels-last (the engine's CPU layout; dropped because it moved saliency's
input gradients by up to 1e-2 away from ``explain``'s): batch 1.43× / 1.78× the loop's images/s, 4-5× the
pytorch-grad-cam loop, 0.36-0.42× the full floor, 1.05× / 1.29× the floor to the layer. With ``--ray``
(00:36 UTC, load 6-7), the batch runner on the 32 photos as PNG: 1 worker 21.7 s (1.5 images/s), 2 workers
37.2 s (0.9 images/s).

Read: batch Grad-CAM made 1.2-1.8× the images/s of the explain loop and 3.5-5× pytorch-grad-cam's loop
(whose map matches to 5e-7); per image it costs 0.3-0.5× the best bare forward + full backward (goal ≤ 1.1×:
met, but Grad-CAM's backward stops at the layer, so the full backward is a loose floor) and 1.05-1.9× the
tight floor (forward + backward to the layer): the rest is each photo's preprocessing (a bicubic resize of a
~400 px photo) and its map's resize back onto the photo, which that floor leaves out, and in the committed
code the channels-first layout. Ray: at 32 photos a job is mostly starting Ray and loading the model in each
worker (~20 s), and 2 workers on 2 busy cores were slower than 1; a quiet machine and ``--n 1000`` are
needed to see the workers' gain.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.common import interleaved, timed
from explainers import explain, explain_batch
from explainers.core.engine import engine_layout
from models import load_model
from models.inputs.samples import sample_views

PHOTOS = ("chelsea (cat)", "coffee", "astronaut", "rocket", "china.jpg", "flower.jpg")
FLOOR_BATCHES = (1, 2, 4, 8, 16, 32)


def photos(n: int, size: int = 0, seed: int = 0) -> list[np.ndarray]:
    """``n`` views of the bundled photos, in turn (``sample_views``: seeded crops, some mirrored); resized to
    ``size``×``size`` when ``size`` > 0."""
    per_photo = -(-n // len(PHOTOS))
    views = [sample_views(name, n=per_photo, seed=seed + k) for k, name in enumerate(PHOTOS)]
    out = [views[i % len(PHOTOS)][i // len(PHOTOS)] for i in range(n)]
    if size > 0:
        out = [np.asarray(Image.fromarray(im).resize((size, size), Image.BICUBIC)) for im in out]
    return out


def floor_per_image(model, x: torch.Tensor, targets: torch.Tensor, repeats: int,
                    to_layer: bool = False) -> tuple[float, int, dict]:
    """The best per-image time of a bare forward + ``backward()`` of Σ rows' target logits over batch sizes
    ``FLOOR_BATCHES`` (those ≤ the number of photos), over the photos in ``x``: (seconds, batch, {batch: s}).
    ``to_layer``: the backward only down to the target layer's output (``autograd.grad``), what Grad-CAM needs."""
    by_batch = {}
    kept = []
    hook = model.target_layer.register_forward_hook(lambda _m, _i, out: kept.append(out)) if to_layer else None
    for b in (b for b in FLOOR_BATCHES if b <= x.shape[0]):
        chunks = [(engine_layout(x[i:i + b]), targets[i:i + b]) for i in range(0, x.shape[0] - b + 1, b)]
        rows = torch.arange(b, device=x.device)

        def run():
            for batch, t in chunks:
                model.module.zero_grad(set_to_none=True)
                kept.clear()
                chosen = model.module(batch)[rows, t].sum()
                if to_layer:
                    torch.autograd.grad(chosen, kept[-1])
                else:
                    chosen.backward()

        run()  # warm-up (allocator, thread pools)
        by_batch[b] = statistics.median(timed(run, model.device) for _ in range(repeats)) / (len(chunks) * b)
    if hook is not None:
        hook.remove()
    best = min(by_batch, key=by_batch.get)
    return by_batch[best], best, by_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=32, help="photos (default 32)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--size", type=int, default=0, help="resize every photo to SIZE×SIZE (0: keep the views)")
    parser.add_argument("--skip-peer", action="store_true", help="leave out pytorch-grad-cam")
    parser.add_argument("--ray", action="store_true", help="also 1 vs 2 Ray workers through run_job")
    parser.add_argument("--threads", type=int, default=0, help="torch's CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    model = load_model(args.model, device=args.device)
    images = photos(args.n, args.size)
    sizes = sorted({im.shape[:2] for im in images})
    print(f"device: {model.device_description}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"model {args.model}, {len(images)} photos of {len(sizes)} sizes ({sizes[0]} .. {sizes[-1]})")
    x = torch.cat([model.preprocess(im) for im in images])
    with torch.no_grad():
        targets = torch.cat([model.module(engine_layout(x[i:i + 8])).argmax(dim=1) for i in range(0, len(x), 8)])
    floor, best_batch, by_batch = floor_per_image(model, x, targets, args.repeats)
    print("floor (bare forward + backward) per image: "
          + ", ".join(f"batch {b}: {t * 1e3:.1f} ms" for b, t in by_batch.items())
          + f"; best {floor * 1e3:.1f} ms at batch {best_batch}")
    layer_floor, layer_batch, by_batch = floor_per_image(model, x, targets, args.repeats, to_layer=True)
    print("floor to the layer (bare forward + backward down to the target layer) per image: "
          + ", ".join(f"batch {b}: {t * 1e3:.1f} ms" for b, t in by_batch.items())
          + f"; best {layer_floor * 1e3:.1f} ms at batch {layer_batch}")

    runs = {
        "batch (own chunk)": lambda: explain_batch(model, images, "grad-cam"),
        f"batch (chunk {best_batch})": lambda: explain_batch(model, images, "grad-cam", chunk=best_batch),
        "loop of explain": lambda: [explain(model, im, method="grad-cam") for im in images],
    }
    if not args.skip_peer:
        from pytorch_grad_cam import GradCAM

        peer = GradCAM(model=model.module, target_layers=[model.target_layer])
        runs["pytorch-grad-cam loop"] = lambda: [peer(input_tensor=model.preprocess(im), targets=None)
                                                 for im in images]
    chunk = explain_batch(model, images[:2], "grad-cam")[0].extras["batch"]  # also a warm-up of the chunk path
    times = {name: statistics.median(t) for name, t in interleaved(runs, args.repeats, model.device).items()}
    own = explain_batch(model, images, "grad-cam")[0].extras["batch"]["inputs"]
    print(f"\nGrad-CAM of {len(images)} photos (median of {args.repeats} interleaved rounds; batch's own chunk: "
          f"{own} photos; a 2-photo warm-up chunk counted {chunk['n_forward']} forward, {chunk['n_backward']} "
          "backward passes)")
    if best_batch == own:
        print(f"(the two batch rows are the same setting, chunk {own}: their difference is this run's noise)")
    base = times["loop of explain"]
    print(f"{'':<26}{'images/s':>10}{'ms/image':>10}{'loop / this':>13}{'÷ floor':>9}{'÷ layer floor':>15}")
    for name, t in times.items():
        per = t / len(images)
        print(f"{name:<26}{len(images) / t:>10.1f}{per * 1e3:>10.1f}{base / t:>13.2f}{per / floor:>9.2f}"
              f"{per / layer_floor:>15.2f}")
    if not args.skip_peer:
        same_maps(model, images[0], peer)
    if args.ray:
        ray_workers(model.name, images, args)


def same_maps(model, image: np.ndarray, peer) -> None:
    """That both compute Grad-CAM alike: on one photo resized to the model's input size (so that neither map
    is resized), the largest difference between the batch's map and pytorch-grad-cam's."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    h, w = model.input_size
    square = np.asarray(Image.fromarray(image).resize((w, h), Image.BICUBIC))
    ours = explain_batch(model, [square, image], "grad-cam")[0]
    theirs = peer(input_tensor=model.preprocess(square), targets=[ClassifierOutputTarget(ours.target)])[0]
    print(f"max |explain_batch - pytorch-grad-cam| over one {w}x{h} map: {np.abs(ours.scores - theirs).max():.2e}")


def ray_workers(model_name: str, images: list[np.ndarray], args) -> None:
    """1 vs 2 Ray workers through the batch runner on these photos (written as PNG to a temporary folder)."""
    try:
        from explainers.batch.job import run_job
    except ImportError:
        print("\n--ray: the batch runner (explainers/batch/job.py) is not in this checkout; skipped.")
        return
    with tempfile.TemporaryDirectory(prefix="lumen-bench-batch-") as tmp:
        data = Path(tmp, "photos")
        data.mkdir()
        for i, im in enumerate(images):
            Image.fromarray(im).save(data / f"photo_{i:04d}.png")
        print(f"\nbatch runner (run_job, grad-cam, faithfulness off) on {len(images)} PNG photos, device "
              f"{args.device or 'default'}:")
        for workers in (1, 2):
            summary = run_job(str(data), model=model_name, methods={"grad-cam": {}}, out=Path(tmp, f"out{workers}"),
                              workers=workers, faithfulness=False)
            print(f"  {workers} worker(s): {summary.done} done, {len(summary.errors)} errors, {summary.seconds:.1f} s,"
                  f" {summary.done / max(summary.seconds, 1e-9):.1f} images/s")


if __name__ == "__main__":
    main()
