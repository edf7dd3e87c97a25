"""The command line: images and texts to HTML, PDF and bundle; bad arguments give exit 2 and one sentence."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cli import main
from models.inputs.samples import sample_image
from reports.bundle import read_bundle
from tests.conftest import encode

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    (folder / "cat.png").write_bytes(encode(Image.fromarray(sample_image("chelsea (cat)")), "PNG"))
    (folder / "cup.jpg").write_bytes(encode(Image.fromarray(sample_image("coffee")), "JPEG"))
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_images_to_every_format(image_folder, tmp_path, capsys):
    html, pdf, bundle = tmp_path / "r.html", tmp_path / "r.pdf", tmp_path / "r.zip"
    code = main(["explain", "--model", "efficientnet-lite0", "--methods", "grad-cam,random", "--input",
                 str(image_folder), "--param", "random.seed=3", "--html", str(html), "--pdf", str(pdf),
                 "--bundle", str(bundle)])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("cat.png\tgrad-cam\tEgyptian cat") and out[3].startswith("cup.jpg\trandom\tespresso")
    report = read_bundle(bundle.read_bytes())
    assert [(i.input_name, i.explanation.method) for i in report.items] == [
        ("cat.png", "grad-cam"), ("cat.png", "random"), ("cup.jpg", "grad-cam"), ("cup.jpg", "random")]
    assert report.items[1].explanation.params["seed"] == 3
    text = html.read_text()
    assert "grad-cam" in text and "espresso" in text
    from pypdf import PdfReader

    assert len(PdfReader(str(pdf)).pages) >= 1


def test_texts_with_metrics(tmp_path, capsys):
    lines = tmp_path / "texts.txt"
    lines.write_text("The food was awful.\n\nWhat a lovely day!\n")
    bundle = tmp_path / "t.zip"
    assert main(["explain", "--model", "minilm-sentiment", "--methods", "occlusion", "--input", str(lines),
                 "--metrics", "--bundle", str(bundle)]) == 0
    items = read_bundle(bundle.read_bytes()).items
    assert [i.input for i in items] == ["The food was awful.", "What a lovely day!"]
    assert [i.explanation.target_label for i in items] == ["negative", "positive"]
    assert "aopc_comprehensiveness" in items[0].metrics


@pytest.mark.parametrize("argv, message", [
    (["explain", "--model", "efficientnet-lite0", "--methods", "nope", "--input", "."], "No image explainer named 'nope'"),
    (["explain", "--model", "no-such-model", "--input", "."], "Unknown model"),
    (["explain", "--model", "efficientnet-lite0", "--input", "missing.png"], "does not exist"),
    (["explain", "--model", "efficientnet-lite0", "--param", "x", "--input", "."], "METHOD.NAME=VALUE"),
    (["explain", "--input", "."], "required: --model"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_sentence(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_real_process_exit_code(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG broken")
    run = subprocess.run([sys.executable, "cli.py", "explain", "--model", "efficientnet-lite0", "--input", str(bad)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr.strip().startswith("cli.py: ") and "Traceback" not in run.stderr



def test_methods_of_the_modules_lumen_plugins_names_are_listed():
    """A user's method module, named in LUMEN_PLUGINS, is a method like Lumen's own for a real process."""
    env = {**os.environ, "LUMEN_PLUGINS": "tests.plugins.toy_method"}
    run = subprocess.run([sys.executable, "cli.py", "list", "--modality", "image"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    methods = [line.split("\t")[2].split() for line in run.stdout.splitlines() if line.startswith("methods\timage")]
    assert methods and "toy-plugin" in methods[0] and "grad-cam" in methods[0]
    run = subprocess.run([sys.executable, "cli.py", "list"], cwd=ROOT, env={**env, "LUMEN_PLUGINS": "no_such_module"},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.startswith("cli.py: LUMEN_PLUGINS names the module 'no_such_module', which could not be imported")

def test_csv_rows(tmp_path, capsys):
    from models.inputs.tables import load_dataset

    csv = tmp_path / "rows.csv"
    load_dataset("iris").features.iloc[[0, 100]].to_csv(csv, index=False)
    bundle = tmp_path / "rows.zip"
    assert main(["explain", "--model", "tabular:iris:linear", "--methods", "shap-linear,random", "--input", str(csv),
                 "--metrics", "--bundle", str(bundle)]) == 0
    items = read_bundle(bundle.read_bytes()).items
    assert [i.explanation.method for i in items] == ["shap-linear", "random"] * 2
    assert items[0].explanation.feature_names == list(load_dataset("iris").features.columns)
    assert "deletion_auc" in items[0].metrics
    assert main(["explain", "--model", "tabular:iris:linear", "--input", str(csv), "--metrics",
                 "--metric-option", "pixel_curves=true"]) == 2
    assert "The tabular faithfulness figures take no option 'pixel_curves'" in capsys.readouterr().err
    lacking = tmp_path / "lacking.csv"
    load_dataset("iris").features.iloc[:3, :2].to_csv(lacking, index=False)
    assert main(["explain", "--model", "tabular:iris:linear", "--input", str(lacking)]) == 2
    assert "lacks 2 columns" in capsys.readouterr().err


def test_prompts(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The capital of France is\n")
    bundle = tmp_path / "g.zip"
    assert main(["explain", "--model", "smollm2-135m", "--methods", "occlusion", "--input", str(prompts),
                 "--target", " Paris", "--metrics", "--bundle", str(bundle)]) == 0
    item = read_bundle(bundle.read_bytes()).items[0]
    assert item.explanation.target_label == " Paris" and item.explanation.scores.shape[1] == 5
    assert "soft_ns_mean" in item.metrics


def test_list_limits_is_one_row_per_method_parameter(capsys):
    from explainers import get_method, list_explainers

    assert main(["list", "--limits", "--modality", "text"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    expected = [(method, name) for method in list_explainers("text") for name in get_method(method, "text").limits]
    assert [tuple(row.split(" | ")[1:3]) for row in rows] == expected and expected
    assert all(row.startswith("| text | ") for row in rows)
