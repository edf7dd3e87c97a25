"""CRAFT at dataset scale on a real Ray: shards on workers, one factorisation on the driver, equal to explain() on
the same images; resumable; from the command line beside a per-image method."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explainers import explain
from explainers.batch.store import read_manifest, read_map, read_results

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"n_concepts": 3, "patch_size": 112, "nb_design": 4}  # 4 crops per image: small enough for 2 cores


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Eight real photos of one class (crops and mirrors of skimage's cat), as PNG files."""
    from models.inputs.samples import IMAGE_SAMPLES, sample_views

    path = tmp_path_factory.mktemp("cats")
    for i, view in enumerate(sample_views(next(iter(IMAGE_SAMPLES)), 8)):
        Image.fromarray(view).save(path / f"cat{i}.png")
    (path / "notes.txt").write_text("not an image")  # an unreadable input: said, left out
    return path


def test_craft_on_ray_workers_equals_craft_in_one_process(folder, cnn, tmp_path):
    from explainers.batch.craft_job import RESULT, run_craft

    steps = []
    e, summary = run_craft(folder, "efficientnet-lite0", PARAMS, tmp_path, batch_size=3, workers=2,
                           progress=steps.append)
    images = [np.asarray(Image.open(folder / f"cat{i}.png").convert("RGB")) for i in range(8)]
    whole = explain(cnn, images, method="craft", **PARAMS)
    assert summary.done == 8 and summary.workers == 2 and e.extras["n_shards"] == 3 and len(steps) == 3
    assert [p for p, _ in summary.errors] == ["notes.txt"]
    assert e.target == whole.target
    np.testing.assert_allclose(e.scores, whole.scores, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(e.extras["concept_bank"], whole.extras["concept_bank"], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(e.extras["importance_local"], whole.extras["importance_local"], rtol=1e-3, atol=1e-5)
    # what was written: one row per image with its concept maps, the whole explanation, a manifest
    frame = pd.read_parquet(tmp_path / summary.sets["craft"] / "rows")
    assert len(frame) == 8 and (frame["method"] == "craft").all() and frame["error"].isna().all()
    rows = read_results(tmp_path)
    maps = {Path(r["path"]).name: read_map(tmp_path, r) for _, r in rows.iterrows()}
    np.testing.assert_allclose(maps["cat0.png"], whole.extras["concept_maps"][0], rtol=1e-3, atol=1e-5)
    assert (tmp_path / summary.sets["craft"] / RESULT).is_file()
    assert read_manifest(tmp_path)["sets"] == summary.sets
    again, rerun = run_craft(folder, "efficientnet-lite0", PARAMS, tmp_path)
    assert rerun.done == 0 and rerun.skipped == 8
    np.testing.assert_array_equal(again.scores, e.scores)


def test_cli_batch_runs_craft_beside_a_per_image_method(folder, tmp_path):
    params = [f"--param=craft.{k}={v}" for k, v in PARAMS.items()]
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "batch", str(folder), "--model", "efficientnet-lite0",
                           "--method", "grad-cam", "--method", "craft", *params, "--no-metrics", "--out", str(tmp_path),
                           "--workers", "2"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = read_manifest(tmp_path)
    assert set(manifest["sets"]) == {"grad-cam", "craft"} and manifest["methods"]["craft"]["n_concepts"] == 3
    rows = read_results(tmp_path)
    assert sorted(rows.groupby("method").size().items()) == [("craft", 8), ("grad-cam", 9)]  # grad-cam: + notes.txt
    assert "results\tcraft\t" in done.stdout
