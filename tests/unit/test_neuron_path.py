"""neuron-path (explainers/neurons/neuron_path.py): known paths on a hand-built stack, completeness of the joint
influence, which models it applies to, and runs on small timm and Hugging Face ViTs built here (random weights)."""

import numpy as np
import pytest
import torch
from torch import nn

from explainers import ExplainerError, explain, get_method
from explainers.core.registry import methods_for
from explainers.neurons.neuron_path import ablation, joint_influence, neuron_layers, neuron_path_cost
from models.adapters.image import ImageClassifier
from tests.tiny_models import classifier, random_image, small_cnn

WIDTH, DIM = 6, 4
CARRIERS = (4, 1)  # the neuron of block 0 and of block 1 that carry class 0


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(DIM, WIDTH, bias=False), nn.ReLU(), nn.Linear(WIDTH, DIM, bias=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = Mlp()

    def forward(self, x):
        return x + self.mlp(x)


class CarrierStack(nn.Module):
    """Patch tokens (2×2 grid of an 8×8 image, 4 dims: 0 and 3 the patch's mean brightness) through two residual MLP
    blocks to a head on the mean token. In block l only neuron CARRIERS[l] reads dim 0 and writes dim l + 1, which
    the head reads for class 0 (logit 4·(dim 1 + dim 2) − 2); the other neurons read dim 3 three times as strongly
    (they fire more) and write nothing the head reads."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, DIM, 4, stride=4, bias=False)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(DIM, 2)
        with torch.no_grad():
            self.embed.weight.zero_()
            self.embed.weight[0] = self.embed.weight[3] = 1 / 48
            for layer, block in enumerate(self.blocks):
                block.mlp.fc1.weight.zero_()
                block.mlp.fc1.weight[:, 3] = 3.0
                block.mlp.fc1.weight[CARRIERS[layer]] = torch.tensor([1.0, 0, 0, 0])
                block.mlp.fc2.weight.zero_()
                block.mlp.fc2.weight[layer + 1, CARRIERS[layer]] = 1.0
                block.mlp.fc2.weight[3] = -0.01  # the others write to dim 3 only
                block.mlp.fc2.weight[3, CARRIERS[layer]] = 0.0
            self.head.weight.zero_()
            self.head.weight[0, 1] = self.head.weight[0, 2] = 4.0
            self.head.bias.copy_(torch.tensor([-2.0, 0.0]))

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(tokens.mean(1))


@pytest.fixture(scope="module")
def stack():
    return classifier(CarrierStack(), size=8, n_classes=2)


def bright(size: int = 8) -> np.ndarray:
    return random_image(size, seed=1, low=100, high=200)


def small_torchvision_vit():
    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    module = VisionTransformer(image_size=16, patch_size=4, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                               num_classes=3)
    return ImageClassifier("tv-vit", module, ["a", "b", "c"], input_size=(16, 16), device="cpu")


@pytest.mark.parametrize("candidates", [0, 2, 6])
def test_the_search_finds_the_one_neuron_per_block_that_carries_the_class(stack, candidates):
    e = explain(stack, bright(), "neuron-path", target=0, candidates=candidates, n_steps=16)
    assert e.extras["path"] == [(0, CARRIERS[0]), (1, CARRIERS[1])]
    ji = e.extras["joint_influence"]
    assert 0 < ji[0] < ji[1]  # each carrier adds influence
    a = e.extras["ablation"]
    assert a["path"] < a["probability"] - 0.3  # both carriers zeroed: class 0 loses most of its probability
    assert a["top_activation_path"] != [CARRIERS[0], CARRIERS[1]]  # the top-activation rule picks distractors
    assert a["top_activation"] == pytest.approx(a["probability"], abs=1e-6)
    assert e.extras["neuron_maps"].shape == (2, 2, 2) and e.scores.shape == (8, 8)
    assert (e.n_forward, e.n_backward) == neuron_path_cost(e.params, stack)


def model_probability(model, image, target, zeroed=None):
    x = model.preprocess(image)
    names = neuron_layers(model)
    if zeroed is None:
        with torch.inference_mode():
            return float(torch.softmax(model.forward(x), 1)[0, target])
    return float(ablation(model, x, target, names, [zeroed], batch_size=1)[0])


def small_timm_vit(seed=0, deit=False):
    from timm.models.deit import VisionTransformerDistilled
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    kind = VisionTransformerDistilled if deit else VisionTransformer
    module = kind(img_size=16, patch_size=4, embed_dim=32, depth=3, num_heads=2, mlp_ratio=2.0, num_classes=4)
    with torch.no_grad():  # larger weights than timm's init, so neurons matter to the output
        for block in module.blocks:
            block.mlp.fc2.weight.mul_(5)
        module.head.weight.mul_(5)
    return ImageClassifier("timm-vit", module, [str(i) for i in range(4)], input_size=(16, 16), device="cpu")


def small_hf_vit():
    from transformers import ViTConfig, ViTForImageClassification

    from models.adapters.vit import hf_transformer_defaults
    from models.sources.hf_image import LogitsOnly

    torch.manual_seed(0)
    config = ViTConfig(image_size=16, patch_size=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, num_labels=3)
    model = ViTForImageClassification(config)
    return ImageClassifier("hf-vit", LogitsOnly(model), ["a", "b", "c"], input_size=(16, 16), device="cpu",
                           layout=hf_transformer_defaults(model).layout)


@pytest.mark.parametrize("members", [(0, 1, 2), (0,), (1, 2), (2,)])
def test_joint_influence_is_complete_within_one_percent(members):
    """JI(S) = p(class) − p(class with S zeroed) within 1 % at 32 steps, for sets of the found path's neurons."""
    model = small_timm_vit()
    image = random_image(16, seed=2)
    x = model.preprocess(image)
    target = 1
    path = explain(model, image, "neuron-path", target=target, n_steps=8, candidates=8, n_random=1).extras["path"]
    neurons = [path[m] for m in members]
    full = model_probability(model, image, target)
    change = full - ablation_of(model, x, target, neuron_layers(model), dict(neurons))
    assert abs(change) > 1e-3, change  # the set matters, so 1 % of the change is a real bound
    ji = joint_influence(model, x, target, neurons, n_steps=32)
    assert ji == pytest.approx(change, rel=0.01)


def ablation_of(model, x, target, names, chosen: dict[int, int]) -> float:
    """The probability with only the chosen blocks' neurons zeroed (the other blocks as computed)."""
    from explainers.neurons.neuron_path import _Neurons

    hooks = _Neurons(model, names)
    with hooks.installed(), torch.inference_mode():
        for layer, n in chosen.items():
            hooks.overwrite[layer] = (torch.tensor([n]), torch.zeros(()))
        return float(torch.softmax(model.forward(x), 1)[0, target])


def test_neuron_path_is_offered_only_for_vision_transformers(stack):
    spec = get_method("neuron-path", "image")
    assert spec.applies_to(small_timm_vit()) and spec.applies_to(small_hf_vit()) and spec.applies_to(stack)
    assert spec.applies_to(small_timm_vit(deit=True))
    from timm.models.swin_transformer import SwinTransformer

    swin = SwinTransformer(img_size=32, patch_size=4, window_size=4, embed_dim=16, depths=(1, 1), num_heads=(1, 1),
                           num_classes=2)
    assert not spec.applies_to(ImageClassifier("swin", swin, ["a", "b"], input_size=(32, 32), device="cpu"))
    cnn = small_cnn()
    assert not spec.applies_to(cnn)
    assert "neuron-path" not in [m.id for m in methods_for(cnn)]
    with pytest.raises(ExplainerError, match="vision transformers"):
        explain(cnn, random_image(16), "neuron-path")


@pytest.mark.parametrize("build", [small_timm_vit, lambda: small_timm_vit(deit=True), small_hf_vit,
                                   small_torchvision_vit], ids=["timm-vit", "timm-deit", "hf-vit", "torchvision-vit"])
def test_it_runs_on_timm_and_hugging_face_vits_with_passes_equal_to_its_cost(build):
    model = build()
    e = explain(model, random_image(20, seed=3), "neuron-path", n_steps=4, candidates=3, n_random=5)
    blocks = len(neuron_layers(model))
    assert [layer for layer, _ in e.extras["path"]] == list(range(blocks))
    assert len(e.extras["joint_influence"]) == blocks
    assert e.extras["neuron_maps"].shape == (blocks, 4, 4)
    assert e.scores.shape == (20, 20) and np.abs(e.scores).max() == pytest.approx(1.0)
    assert len(e.extras["ablation"]["random"]) == 5
    assert (e.n_forward, e.n_backward) == get_method("neuron-path", "image").estimate(e.params, model)
    again = explain(model, random_image(20, seed=3), "neuron-path", n_steps=4, candidates=3, n_random=5)
    assert again.extras["ablation"]["random_paths"] == e.extras["ablation"]["random_paths"]  # seeded


def test_bad_parameters_are_refused_with_a_sentence(stack):
    with pytest.raises(ExplainerError, match="n_steps must be a whole number of at least 1"):
        explain(stack, bright(), "neuron-path", n_steps=0)
    with pytest.raises(ExplainerError, match="above its maximum"):
        explain(stack, bright(), "neuron-path", candidates=10**6)


def test_the_explanation_round_trips_through_json(stack):
    from explainers import Explanation

    e = explain(stack, bright(), "neuron-path", target=0, n_steps=4)
    back = Explanation.from_json(e.to_json())
    assert [tuple(p) for p in back.extras["path"]] == e.extras["path"]
    assert np.array_equal(back.extras["neuron_maps"], e.extras["neuron_maps"])
    assert back.extras["ablation"] == e.extras["ablation"] or back.extras["ablation"]["path"] == e.extras["ablation"]["path"]


def test_the_page_pieces_the_table_the_neuron_maps_and_the_ablation_figure(stack):
    from reports.figures import renderer
    from explainers.neurons.neuron_path import neuron_map_explanations, path_rows

    image = bright()
    e = explain(stack, image, "neuron-path", target=0, n_steps=4)
    rows = path_rows(e)
    assert [(r["step"], r["block"], r["neuron"]) for r in rows] == [(1, 0, CARRIERS[0]), (2, 1, CARRIERS[1])]
    assert rows[0]["layer"] == "blocks.0.mlp.fc2" and rows[1]["joint influence"] == e.extras["joint_influence"][1]
    maps = neuron_map_explanations(e, 8, 8)
    assert [m.extras["neuron"] for m in maps] == e.extras["path"]
    assert all(m.scores.shape == (8, 8) and np.abs(m.scores).max() == pytest.approx(1.0) for m in maps)
    overlay = renderer("image_overlay").prepare(maps[0], image, shows="activation of neuron 4")
    assert overlay.legend.title == "activation of neuron 4" and "class" not in overlay.legend.meaning
    figure = renderer("neuron_path_ablation")
    d = figure.prepare(e.extras["ablation"], "Ablation", e.target_label)
    assert [len(r.values) for r in d.rows] == [1, 1, 20] and d.x_title == "probability of class 0"
    assert d.drops["influential path zeroed"] > 0.3
    assert len(figure.plotly(d).data) == 4 and figure.png(d).startswith(b"\x89PNG")


def test_progress_counts_to_its_estimate_and_cancel_stops_the_search(stack):
    import threading

    from explainers.core.engine import Cancelled

    seen = []
    e = explain(stack, bright(), "neuron-path", target=0, n_steps=4, batch_size=4, progress=lambda d, t: seen.append((d, t)))
    total = e.n_forward
    assert seen[-1] == (total, total) and all(t == total for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) > 5
    cancel = threading.Event()
    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        explain(stack, bright(), "neuron-path", target=0, n_steps=4, batch_size=4, progress=progress, cancel=cancel)
    assert max(calls) < total
    assert not any(m._forward_pre_hooks for m in stack.module.modules())  # the hooks are gone
