"""Dataset jobs on a real Ray: the digits with the embedded ViT, a job killed and resumed, a cluster joined by address,
unreadable inputs, reruns, texts and a table. Every result is read back with pandas, as a person would.

One local Ray serves the in-process jobs of this module (``ray_local``); the command-line jobs start their own (a
job's own process) or join a head started here (``ray start --head --block``, stopped by its process id)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explainers import explain
from explainers.batch.reader import BUNDLED, load_item, read_items
from explainers.batch.store import FAITH_PREFIX, read_manifest, read_map, read_results, read_set

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"grad-cam": {}, "rise": {"n_masks": 40, "seed": 1}}  # a gradient CAM and a perturbation method
N_DIGITS = 200
FIGURES = ("faith_srg", "faith_morf_auc", "faith_lerf_auc", "faith_average_drop")


@pytest.fixture(scope="module")
def digits_job(ray_local, tmp_path_factory):
    from explainers.batch.job import run_job

    out = tmp_path_factory.mktemp("digits-job")
    seen = []
    summary = run_job("digits", model="vit-digits", methods=METHODS, out=out, limit=N_DIGITS, workers=2,
                      progress=lambda done, total: seen.append((done, total)))
    return summary, out, seen


def _cli(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "batch", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def _scores_by_id(out: Path, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {row["input_id"]: read_map(out, row) for _, row in frame.iterrows()}


def test_a_200_digit_job_with_two_methods_matches_explain(digits_job, vit):
    summary, out, seen = digits_job
    assert summary.done == N_DIGITS * len(METHODS) and summary.skipped == 0 and summary.errors == []
    assert seen[0] == (0, N_DIGITS * 2) and seen[-1] == (N_DIGITS * 2, N_DIGITS * 2)
    manifest = read_manifest(out)
    assert manifest["status"] == "finished" and manifest["model"]["name"] == "vit-digits"
    assert set(manifest["methods"]) == set(METHODS) and manifest["methods"]["rise"]["n_masks"] == 40
    assert manifest["lumen"]["packages"]["ray"] and manifest["n_items"] == N_DIGITS
    items = {i.input_id: i for i in read_items("digits", vit, limit=N_DIGITS)}
    for method, set_id in summary.sets.items():
        frame = pd.read_parquet(out / set_id / "rows")  # plain pandas, no Lumen
        assert len(frame) == N_DIGITS and frame["input_id"].is_unique and set(frame["input_id"]) == set(items)
        assert frame["error"].isna().all() and (frame["method"] == method).all()
        assert frame["label"].notna().all() and frame["prediction"].notna().all()
        assert frame["correct"].mean() > 0.8  # the digits ViT is right about most of them
        for figure in FIGURES:
            assert frame[figure].notna().all(), figure
        assert (frame["n_forward"] > 0).all() and (frame["runtime_s"] > 0).all()
        frame["set"] = set_id
        for _, row in frame.iterrows():
            x = load_item(vit, items[row["input_id"]])
            alone = explain(vit, x, method=method, **METHODS[method])
            assert np.allclose(read_map(out, row), alone.scores, atol=1e-5), (method, row["path"])
            assert row["target"] == alone.target_label
    rows = read_results(out)
    assert len(rows) == N_DIGITS * 2 and rows.groupby("input_id").size().eq(2).all()


def test_a_job_killed_mid_run_resumes_with_every_item_once_and_the_same_scores(digits_job, tmp_path):
    reference, reference_out, _ = digits_job
    n, out = 64, tmp_path / "killed"
    args = ["digits", "--model", "vit-digits", "--method", "grad-cam", "--method", "rise", "--param",
            "rise.n_masks=40", "--param", "rise.seed=1", "--out", out, "--limit", n, "--workers", 1,
            "--batch-size", 8]
    job = _cli(*args)
    rise_rows = out / reference.sets["rise"] / "rows"  # the same configuration: the same set id
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and job.poll() is None and len(list(rise_rows.glob("part-*.parquet"))) < 2:
        time.sleep(0.05)
    assert job.poll() is None, f"the job ended before it could be killed: {job.communicate()}"
    os.killpg(job.pid, signal.SIGKILL)  # the job's process group: its driver and the Ray it started
    job.wait()
    written = {m: len(read_set(out / s)) for m, s in reference.sets.items()}
    assert 0 < written["rise"] < n, written
    rerun = _cli(*args)
    stdout, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr
    assert "skipped as already done: " in stdout and f"skipped as already done: {sum(written.values())};" in stdout
    for method, set_id in reference.sets.items():
        frame = read_set(out / set_id).assign(set=set_id)
        assert len(frame) == n and frame["input_id"].is_unique and frame["error"].isna().all()
        expected = read_set(reference_out / set_id).assign(set=set_id).set_index("input_id")
        for input_id, scores in _scores_by_id(out, frame).items():
            assert np.allclose(scores, read_map(reference_out, expected.loc[input_id].to_dict() | {"input_id": input_id}),
                               atol=1e-5)
        mine = frame.set_index("input_id")
        for figure in FIGURES:
            assert np.allclose(mine[figure], expected.loc[mine.index, figure], atol=1e-4), figure


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_job_joins_a_ray_head_by_address(tmp_path):
    """A head without token authentication (RAY_AUTH_MODE=disabled): a job given an address does not look for a
    token (Ray's rule for an explicit address), so a token head needs RAY_AUTH_MODE=token on the job's side too."""
    port = _free_port()
    ray = Path(sys.executable).parent / "ray"
    head = subprocess.Popen([str(ray), "start", "--head", "--port", str(port),
                             "--num-cpus", "1", "--include-dashboard=false", "--disable-usage-stats", "--block"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None, "ray start --head exited"
                time.sleep(0.5)
        out = tmp_path / "on-head"
        job = _cli("digits", "--model", "vit-digits", "--method", "grad-cam", "--out", out, "--limit", 8,
                   "--no-metrics", "--address", f"127.0.0.1:{port}", env={**os.environ, "RAY_AUTH_MODE": "disabled"})
        stdout, stderr = job.communicate(timeout=400)
        assert job.returncode == 0, stderr
        manifest = read_manifest(out)
        assert manifest["address"].endswith(f":{port}") and manifest["workers"] == 1  # the head's one CPU
        frame = read_results(out)
        assert len(frame) == 8 and frame["error"].isna().all() and frame["map_part"].notna().all()
        assert "done: 8 explanations" in stdout
    finally:  # the head by its process id: `ray start --block` stops what it started on Ctrl-C (SIGTERM drains 30 s)
        head.send_signal(signal.SIGINT)
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


@pytest.fixture
def digit_folder(tmp_path):
    from PIL import Image

    from models.embedded.digits_vit import digit_images

    images, labels = digit_images("test")
    folder = tmp_path / "digits"
    for i in range(6):
        (folder / str(labels[i])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(folder / str(labels[i]) / f"{i}.png")
    (folder / "3").mkdir(exist_ok=True)
    (folder / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"hidden")
    return folder


def test_unreadable_inputs_become_error_rows_and_reruns_skip_or_start_a_new_set(ray_local, digit_folder, tmp_path):
    from explainers.batch.job import run_job

    out = tmp_path / "out"
    first = run_job(digit_folder, "vit-digits", {"grad-cam": {}}, out, faithfulness=False, workers=1)
    assert first.done == 8 and len(first.errors) == 2  # 6 digits, the broken PNG, the text file; not .DS_Store
    errors = dict(first.errors)
    assert "truncated or corrupt" in errors["3/broken.png"] or "not an image" in errors["3/broken.png"]
    assert errors["notes.txt"].startswith("notes.txt is not an image file")
    frame = read_results(out)
    assert len(frame) == 8 and frame["error"].notna().sum() == 2 and frame["map_part"].notna().sum() == 6
    assert frame.loc[frame["path"] == "notes.txt", "label"].isna().all()
    again = run_job(digit_folder, "vit-digits", {"grad-cam": {}}, out, faithfulness=False, workers=1)
    assert (again.done, again.skipped, again.errors) == (0, 8, [])
    changed = run_job(digit_folder, "vit-digits", {"grad-cam": {"grad_noise": 0.1}}, out, faithfulness=False,
                      workers=1)
    assert changed.done == 8 and changed.sets["grad-cam"] != first.sets["grad-cam"]
    manifest = read_manifest(out)
    assert manifest["sets"] == changed.sets and set(manifest["all_sets"]) == {first.sets["grad-cam"],
                                                                              changed.sets["grad-cam"]}
    assert len(read_set(out / first.sets["grad-cam"])) == 8 and len(read_set(out / changed.sets["grad-cam"])) == 8


@pytest.mark.parametrize("argv, words", [
    (["batch", "no-such-folder", "--model", "vit-digits", "--method", "grad-cam", "--out", "{tmp}"], "does not exist"),
    (["batch", "digits", "--model", "vit-digits", "--method", "nope", "--out", "{tmp}"], "No image explainer named"),
    (["batch", "digits", "--model", "vit-digits", "--method", "grad-cam", "--param", "rise.n_masks=3", "--out",
      "{tmp}"], "--param 'rise.n_masks=3'"),
    (["batch", "digits", "--model", "vit-digits", "--method", "grad-cam", "--out", "{tmp}", "--address",
      "127.0.0.1:1"], "Nothing answers at the Ray address 127.0.0.1:1"),
    (["batch", "digits", "--model", "vit-digits", "--method", "grad-cam"], "--out"),
    (["batch", "digits", "--model", "vit-digits", "--method", "grad-cam", "--out", "{tmp}", "--limit", "0"],
     "--limit must be at least 1"),
])
def test_a_bad_command_exits_2_with_one_sentence(argv, words, tmp_path, capsys):
    from cli import main

    assert main([a.replace("{tmp}", str(tmp_path / "out")) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cli.py: ") and words in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()  # a bad command leaves nothing behind


def test_texts_and_a_table_go_through_the_same_runner(ray_local, tmp_path):
    from explainers.batch.job import run_job
    from models import load_model

    text_out = tmp_path / "tweets"
    texts = run_job("tweets", "minilm-sentiment", {"occlusion": {}}, text_out, limit=20, workers=1)
    assert texts.done == 20 and texts.errors == []
    frame = read_results(text_out)
    assert len(frame) == 20 and set(frame["label"]) <= {"negative", "positive"} and frame["correct"].notna().all()
    assert frame["faith_aopc_comprehensiveness"].notna().all()
    model = load_model("minilm-sentiment")
    items = {i.input_id: i for i in read_items("tweets", model, limit=20)}
    for _, row in frame.head(3).iterrows():
        scores = read_map(text_out, row)
        assert len(scores) == len(row["tokens"])
        alone = explain(model, load_item(model, items[row["input_id"]]), method="occlusion")
        assert list(alone.tokens) == list(row["tokens"]) and np.allclose(scores, alone.scores, atol=1e-5)

    table_out = tmp_path / "table"
    source = "tabular:breast_cancer:random-forest"
    table = run_job("breast_cancer", source, {"shap-tree": {}}, table_out, limit=20, workers=1)
    assert table.done == 20 and table.errors == []
    frame = read_results(table_out)
    assert len(frame) == 20 and set(frame["label"]) <= {"malignant", "benign"} and frame["correct"].mean() > 0.8
    assert frame["faith_deletion_auc"].notna().all()
    manifest = read_manifest(table_out)
    assert len(manifest["feature_names"]) == 30 and manifest["bundled"] == "breast_cancer"
    model = load_model(source)
    items = {i.input_id: i for i in read_items("breast_cancer", model, limit=20)}
    row = frame.iloc[0]
    alone = explain(model, load_item(model, items[row["input_id"]]), method="shap-tree")
    assert np.allclose(read_map(table_out, row), alone.scores) and len(alone.scores) == 30
    assert json.loads(row["params"]) == alone.params


def test_the_bundled_datasets_are_real_files():
    digits = BUNDLED["digits"].path()
    assert len(list(digits.glob("*/*.png"))) == 1797 and sorted(p.name for p in digits.iterdir()) == list("0123456789")
    from models.embedded.minilm_sentiment import tweets as training_tweets

    tweets = pd.read_csv(BUNDLED["tweets"].path())
    assert tweets["label"].value_counts().to_dict() == {"negative": 500, "positive": 168}
    assert not set(tweets["text"]) & set(training_tweets()[0])  # none the head was trained on
    table = pd.read_csv(BUNDLED["breast_cancer"].path())
    assert table.shape == (569, 31)
