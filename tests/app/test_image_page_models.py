"""The image page with several methods and with models the user brings (AppTest, real files)."""

import pytest

import timm
import torch
from safetensors.torch import save

from tests.app.test_image_page import caption_texts, heatmap_charts
from tests.markdown import as_read


def test_several_methods_in_a_grid_with_cost_estimate(at):
    at.multiselect(key="methods:cam").set_value(["grad-cam", "eigen-cam", "layer-cam"]).run()
    # grad-cam and layer-cam share one forward and one backward; eigen-cam needs one forward of its own
    assert "Estimated cost: 2 forward + 1 backward passes" in caption_texts(at)
    at.button(key="run").click().run()
    assert not at.exception and not at.error
    assert heatmap_charts(at) == 3


def test_bad_parameter_is_a_sentence(at):
    at.multiselect(key="methods:perturbation").set_value(["sobol"]).run()
    at.number_input(key="param:sobol:nb_design").set_value(3).run()
    assert at.error and "power of two" in at.error[0].value


@pytest.mark.slow  # an embedded model on every method of a page: seconds to minutes
def test_vit_digits_explains_a_digit(at):
    at.selectbox(key="image_model").set_value("vit-digits").run()
    at.selectbox(key="image_sample").set_value("digit 3 (for vit-digits)").run()
    at.button(key="run").click().run()
    assert not at.error and heatmap_charts(at) == 1
    assert "grad-cam for **3**" in caption_texts(at)


def _tiny_timm_weights() -> bytes:
    torch.manual_seed(0)
    module = timm.create_model("test_resnet", pretrained=False, num_classes=3)
    return save(module.state_dict())


def test_user_timm_model_with_labels(at):
    at.selectbox(key="model_source").set_value("timm").run()
    at.selectbox(key="arch:timm").set_value("test_resnet").run()
    uploaders = {u.label: u for u in at.file_uploader}
    uploaders["Weights (state dict)"].set_value(("w.safetensors", _tiny_timm_weights(), "application/octet-stream"))
    uploaders["Class names (optional)"].set_value(("names.txt", b"apple\nbanana\ncherry\n", "text/plain"))
    at.run()
    assert not at.error, [e.value for e in at.error]
    assert any("3 classes" in c.value for c in at.sidebar.caption)
    at.button(key="run").click().run()
    assert not at.error and heatmap_charts(at) == 1
    assert any(fruit in caption_texts(at) for fruit in ("apple", "banana", "cherry"))


def test_pickled_model_is_refused_and_the_page_goes_on(at, tmp_path):
    module = timm.create_model("test_resnet", pretrained=False, num_classes=3)
    path = tmp_path / "full_model.pth"
    torch.save(module, path)  # a whole pickled module, not a state dict
    at.selectbox(key="model_source").set_value("timm").run()
    at.selectbox(key="arch:timm").set_value("test_resnet").run()
    at.file_uploader(key="weights:timm").set_value(("full_model.pth", path.read_bytes(), "application/octet-stream")).run()
    assert at.error and "pickle" in at.error[0].value.lower()
    at.selectbox(key="model_source").set_value("embedded").run()
    at.button(key="run").click().run()
    assert not at.error and heatmap_charts(at) == 1


def test_torchscript_model_offers_no_layer_methods(at, tmp_path):
    module = timm.create_model("test_resnet", pretrained=False, num_classes=3).eval()
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.trace(module, torch.zeros(1, 3, 224, 224)), str(path))
    at.selectbox(key="model_source").set_value("torchscript").run()
    at.file_uploader(key="weights:ts").set_value(("scripted.pt", path.read_bytes(), "application/octet-stream")).run()
    assert not at.error, [e.value for e in at.error]
    keys = {m.key for m in at.multiselect}
    assert "methods:cam" not in keys and "methods:perturbation" in keys


def test_torchscript_that_writes_a_file_is_refused_and_writes_nothing(at, tmp_path):
    """Issue 14: an uploaded TorchScript module whose forward writes a file on the server."""
    target = tmp_path / "written"

    class Writer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.target = str(target)

        def forward(self, x):
            t = torch.from_file(self.target, shared=True, size=16, dtype=torch.uint8)
            t[:2].copy_(torch.tensor([72, 105], dtype=torch.uint8))
            return x.mean(dim=(2, 3)) + t[0].float()

    path = tmp_path / "writer.pt"
    torch.jit.save(torch.jit.script(Writer()), str(path))
    at.selectbox(key="model_source").set_value("torchscript").run()
    at.file_uploader(key="weights:ts").set_value(("writer.pt", path.read_bytes(), "application/octet-stream")).run()
    assert not at.exception
    assert at.error and "aten::from_file" in as_read(at.error[0].value) and "pure tensor operations" in at.error[0].value
    assert not target.exists()
