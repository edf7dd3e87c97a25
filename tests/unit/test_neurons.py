"""Channel attribution in CNNs and what an LM's MLP neurons write, on tiny models whose answers are known."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from explainers import explain, get_method, methods_for
from explainers.core.engine import Cancelled
from explainers.neurons.channels import crop_around, top_crops
from explainers.neurons.lm_neurons import decode_neuron, direction_logits, search_bounds, search_neurons
from models.errors import ExplainerError, InputError
from tests.tiny_lm import VOCAB, tiny_lm, tiny_llama
from tests.tiny_models import SmallCNN, classifier, random_image


# ---------------------------------------------------------------- channel attribution


def one_channel_cnn(channel: int = 2, weight: float = 3.0, bias: float = 0.5):
    """SmallCNN (conv 3→4, ReLU, global average pool, linear head) whose class 0 reads channel ``channel`` alone."""
    torch.manual_seed(0)
    net = SmallCNN(n_classes=2)
    with torch.no_grad():
        net.features[0].bias.add_(1.0)  # every channel fires somewhere
        net.head.weight.zero_()
        net.head.weight[0, channel] = weight
        net.head.bias.fill_(bias)
    return classifier(net, 16, 2)


def test_the_one_channel_that_carries_the_class_ranks_first_and_gradient_x_activation_sums_to_the_logit():
    model = one_channel_cnn(channel=2, weight=3.0, bias=0.5)
    image = random_image(16)
    e = explain(model, image, "channel-attribution", target=0, top_k=4)
    neurons = e.extras["neurons"]
    assert [n["index"] for n in neurons][0] == 2 and neurons[0]["layer"] == "features"
    scores = e.extras["channel_scores"]
    assert np.count_nonzero(scores) == 1 and scores[2] > 0
    with torch.no_grad():
        logit = float(model.module(model.preprocess(image))[0, 0])
    # linear after average pooling: Σ_k Σ_ij A·∂logit/∂A = Σ_k w_k mean(A_k) = logit - bias
    assert scores.sum() == pytest.approx(logit - 0.5, rel=1e-5)
    assert e.n_forward == 1 and e.n_backward == 1
    assert e.extras["channel_maps"].shape == (4, 16, 16)
    assert e.scores.shape == image.shape[:2] and 0 <= e.scores.min() and e.scores.max() == pytest.approx(1.0)


def test_the_analytic_sum_holds_for_any_head_and_conductance_finds_the_same_channel():
    torch.manual_seed(1)
    net = SmallCNN(n_classes=3)
    model = classifier(net, 16, 3)
    image = random_image(16, seed=3)
    e = explain(model, image, "channel-attribution", target=1)
    with torch.no_grad():
        features = net.features(model.preprocess(image)).mean(dim=(2, 3))[0]
        expected = net.head.weight[1] * features
    np.testing.assert_allclose(e.extras["channel_scores"], expected.numpy(), rtol=1e-5, atol=1e-7)

    carried = one_channel_cnn(channel=1)
    c = explain(carried, image, "channel-attribution", target=0, rule="conductance", n_steps=16)
    assert list(np.flatnonzero(c.extras["channel_scores"])) == [1]  # the one channel the class reads
    # a linear head on the pooled map: conductance of the layer is complete, Σ = logit(x) - logit(black)
    with torch.no_grad():
        black = carried.module(carried.preprocess(np.zeros((16, 16, 3), np.uint8)))[0, 0]
        now = carried.module(carried.preprocess(image))[0, 0]
    assert c.extras["channel_scores"].sum() == pytest.approx(float(now - black), rel=1e-3)
    spec = get_method("channel-attribution", "image")
    assert (c.n_forward, c.n_backward) == spec.estimate({"rule": "conductance", "n_steps": 16}, carried)


def test_a_layer_by_name_and_a_layer_without_a_channel_map():
    model = one_channel_cnn()
    e = explain(model, random_image(16), "channel-attribution", layer="features.0", top_k=2)
    assert e.extras["layer"] == "features.0" and len(e.extras["neurons"]) == 2
    with pytest.raises(ExplainerError, match="no layer named"):
        explain(model, random_image(16), "channel-attribution", layer="nope")
    with pytest.raises(ExplainerError, match="spatial feature map"):
        explain(model, random_image(16), "channel-attribution", layer="head")


def test_cancel_stops_channel_attribution():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        explain(one_channel_cnn(), random_image(16), "channel-attribution", cancel=cancel)


def test_most_activating_crops_over_a_folder(tmp_path):
    from PIL import Image

    model = one_channel_cnn(channel=2)
    for i in range(5):
        Image.fromarray(random_image(16, seed=i)).save(tmp_path / f"img{i}.png")
    crops = top_crops(model, tmp_path, [2, 0], per_channel=3, size=8)
    assert set(crops) == {2, 0} and all(len(v) == 3 for v in crops.values())
    for c, found in crops.items():
        values = [crop.activation for crop in found]
        assert values == sorted(values, reverse=True)
        assert all(crop.image.shape == (8, 8, 3) and crop.image.dtype == np.uint8 for crop in found)
    # the best crop's activation is that image's peak of the channel, found again alone
    best = crops[2][0]
    image = np.asarray(Image.open(tmp_path / best.path.split("/")[-1]).convert("RGB"))
    with torch.no_grad():
        peak = float(model.module.features(model.preprocess(image))[0, 2].max())
    assert best.activation == pytest.approx(peak, rel=1e-5)
    with pytest.raises(InputError, match="channels 0..3"):
        top_crops(model, tmp_path, [9])
    with pytest.raises(InputError, match="per channel"):
        top_crops(model, tmp_path, [0], per_channel=100)


def test_crop_around_stays_inside_the_image():
    image = np.arange(20 * 10 * 3, dtype=np.uint8).reshape(20, 10, 3)
    assert crop_around(image, (0, 0), (4, 4), 0.5, 5).shape == (5, 5, 3)
    np.testing.assert_array_equal(crop_around(image, (3, 3), (4, 4), 0.5, 5), image[15:20, 5:10])


# ---------------------------------------------------------------- requires


def test_channel_attribution_is_offered_for_cnns_only_and_lm_neurons_for_causal_lms_only():
    from tests.tiny_text import bag_model

    assert "channel-attribution" in [m.id for m in methods_for(one_channel_cnn())]
    assert "lm-neurons" not in [m.id for m in methods_for(one_channel_cnn())]
    assert "channel-attribution" not in [m.id for m in methods_for(bag_model())]
    assert "lm-neurons" not in [m.id for m in methods_for(bag_model())]
    assert "lm-neurons" in [m.id for m in methods_for(tiny_llama())]
    assert "channel-attribution" not in [m.id for m in methods_for(tiny_llama())]
    assert "lm-neurons" not in [m.id for m in methods_for(tiny_lm())]  # no MLP blocks, no LM head to decode with


def test_channel_attribution_is_not_offered_for_a_vision_transformer():
    import timm

    from models.adapters.image import ImageClassifier

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3, img_size=32, depth=2)
    model = ImageClassifier("tiny-vit", vit, ["a", "b", "c"], input_size=(32, 32), device="cpu")
    assert "channel-attribution" not in [m.id for m in methods_for(model)]
    assert "grad-cam" in [m.id for m in methods_for(model)]


# ---------------------------------------------------------------- lm-neurons


def planted_llama(layer: int = 1, neuron: int = 5, token: int = 7, scale: float = 4.0):
    """tiny_llama with unit-norm unembedding rows and block ``layer``'s neuron ``neuron`` writing ``scale`` × the
    unembedding row of ``token`` (so, decoded, ``token`` comes first); the final norm's scale is left at ones."""
    model = tiny_llama(seed=2)
    module = model.module
    with torch.no_grad():
        head = module.lm_head.weight
        head.div_(head.norm(dim=1, keepdim=True))
        module.model.layers[layer].mlp.down_proj.weight[:, neuron] = scale * head[token]
    return model


def test_a_neuron_writing_a_tokens_unembedding_row_decodes_to_that_token_first():
    model = planted_llama(layer=1, neuron=5, token=7)
    for through_norm in (True, False):
        decoded = decode_neuron(model, 1, 5, n_tokens=3, through_norm=through_norm)
        assert decoded["promoted"][0][0] == "w7"
        assert decoded["promoted"][0][1] == pytest.approx(4.0, rel=1e-5)
        assert "w7" not in [t for t, _ in decoded["suppressed"]]
    # through the final norm's scale: a scale that favours another token changes the answer
    with torch.no_grad():
        model.module.model.norm.weight.zero_()
        model.module.model.norm.weight[0] = 1.0
    assert decode_neuron(model, 1, 5, through_norm=False)["promoted"][0][0] == "w7"


def hand_grad_x_act(model, prompt_ids, token):
    """Gradient × activation of every down projection's input at the last position, by a zero offset δ added to
    each input (∂logit/∂δ = ∂logit/∂a) — another route than the method's."""
    module = model.module
    layers = [block.mlp.down_proj for block in module.model.layers]
    deltas, acts, handles = [], [], []
    for layer in layers:
        delta = torch.zeros(1, len(prompt_ids), layer.in_features, requires_grad=True)
        deltas.append(delta)

        def add(_m, args, delta=delta):
            acts.append(args[0].detach().clone())
            return (args[0] + delta,)

        handles.append(layer.register_forward_pre_hook(add))
    try:
        logits = module(input_ids=torch.tensor([prompt_ids])).logits[0, -1]
        grads = torch.autograd.grad(logits[token], deltas)
    finally:
        for h in handles:
            h.remove()
    return torch.stack([a[0, -1] * g[0, -1] for a, g in zip(acts, grads)]).numpy()


def test_lm_neuron_scores_are_gradient_x_activation_computed_by_hand():
    model = planted_llama()
    prompt = "w3 w9 w4 w12"
    e = explain(model, prompt, "lm-neurons", top_k=6, n_tokens=4)
    token = e.extras["target_ids"][0]
    with torch.no_grad():
        predicted = int(model.module(input_ids=torch.tensor([[3, 9, 4, 12]])).logits[0, -1].argmax())
    assert token == predicted
    expected = hand_grad_x_act(model, [3, 9, 4, 12], token)
    np.testing.assert_allclose(e.extras["neuron_scores"], expected, rtol=1e-4, atol=1e-7)
    neurons = e.extras["neurons"]
    assert len(neurons) == 6
    flat = np.abs(expected).ravel()
    top = np.argsort(-flat, kind="stable")[:6]
    assert [(n["layer"], n["index"]) for n in neurons] == [divmod(int(i), expected.shape[1]) for i in top]
    for n in neurons:
        assert n["score"] == pytest.approx(float(expected[n["layer"], n["index"]]), rel=1e-4, abs=1e-7)
        assert len(n["promoted_tokens"]) == 4 and len(n["suppressed_tokens"]) == 4
    assert e.n_forward == 2 and e.n_backward == 1  # a greedy step finds the next token, then one forward and backward
    assert e.scores.shape == (1, 4) and np.abs(e.scores).max() == pytest.approx(1.0)
    assert e.target_tokens == [f"w{token}"]
    # a given continuation: the neurons of its first token, the prompt's gradient × input for each of its tokens
    given = explain(model, prompt, "lm-neurons", target="w11 w2", top_k=2)
    assert given.extras["target_ids"] == [11, 2] and given.extras["next_token"] == "w11"
    np.testing.assert_allclose(given.extras["neuron_scores"], hand_grad_x_act(model, [3, 9, 4, 12], 11),
                               rtol=1e-4, atol=1e-7)
    assert given.scores.shape == (2, 4) and (given.n_forward, given.n_backward) == (1, 2)
    spec = get_method("lm-neurons", "generation")
    assert spec.estimate({}, model, n_prompt=4, n_target=2) == (1, 2)
    for k, ids in enumerate(([3, 9, 4, 12], [3, 9, 4, 12, 11])):  # each token's row, from a forward of its own
        embeds = model.module.get_input_embeddings()(torch.tensor([ids])).detach().requires_grad_(True)
        logit = model.module(inputs_embeds=embeds).logits[0, -1, [11, 2][k]]
        (grad,) = torch.autograd.grad(logit, embeds)
        by_hand = (grad[0, :4] * embeds[0, :4]).sum(-1).detach().numpy()
        np.testing.assert_allclose(given.scores[k] * given.extras["row_scale"][k], by_hand, rtol=1e-4, atol=1e-7)


def test_the_word_search_finds_the_planted_neuron():
    model = planted_llama(layer=1, neuron=5, token=7, scale=4.0)
    found = search_neurons(model, " W7 ", limit=3)
    assert (found[0]["layer"], found[0]["index"]) == (1, 5) and found[0]["rank"] == 0 and found[0]["token"] == "w7"
    assert found[0]["promoted_tokens"][0][0] == "w7"
    assert search_neurons(model, "nothing-spells-this") == []
    with pytest.raises(InputError):
        search_neurons(model, "  ")
    bounds = search_bounds(model)
    assert bounds.high[0].shape == (16,) and bounds is search_bounds(model)  # kept per model


def brute_force(model, word_id, suppressed, k=10):
    """Every neuron decoded over the whole vocabulary: (rank, layer, index) of those whose top (bottom) k hold it."""
    found = []
    for layer, block in enumerate(model.module.model.layers):
        logits = direction_logits(model, block.mlp.down_proj.weight)
        order = torch.topk(-logits if suppressed else logits, k, dim=0).indices  # (k, neurons)
        for index in range(order.shape[1]):
            ranks = torch.nonzero(order[:, index] == word_id)[:, 0]
            if ranks.numel():
                found.append((int(ranks[0]), layer, index))
    return found


@pytest.mark.parametrize("suppressed", [False, True])
def test_the_bounded_search_finds_exactly_the_neurons_a_full_decoding_finds(suppressed):
    model = planted_llama()
    for word in range(1, VOCAB):
        expected = brute_force(model, word, suppressed)
        for sample in (3, 10, 14, VOCAB):  # 3 < k: no bound; 10, 14 of the 20 tokens: a bound that prunes
            got = search_neurons(model, f"w{word}", limit=1000, suppressed=suppressed, sample=sample)
            assert sorted((n["rank"], n["layer"], n["index"]) for n in got) == sorted(expected), (word, sample)
            assert [n["rank"] for n in got] == sorted(n["rank"] for n in got)


def test_lm_neurons_cancel_and_limits():
    model = planted_llama()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        explain(model, "w3 w4", "lm-neurons", cancel=cancel)
    with pytest.raises(ExplainerError, match="top_k 2,000 is above its maximum"):
        explain(model, "w3 w4", "lm-neurons", top_k=2000)
    with pytest.raises(ExplainerError, match="cannot be decoded"):
        from explainers.neurons.lm_neurons import lm_neurons

        lm_neurons(tiny_lm(), "w1 w2", None)
    assert VOCAB == 20


# ---------------------------------------------------------------- reports


def test_neuron_results_reach_the_html_pdf_and_bundle():
    from reports.bundle import read_bundle, write_bundle
    from reports.html import to_html
    from reports.pdf import to_pdf
    from reports.report import make_item, new_report
    from reports.views import views

    cnn, image = one_channel_cnn(), random_image(16)
    channels = explain(cnn, image, "channel-attribution", target=0, top_k=3)
    lm = planted_llama()
    neurons = explain(lm, "w3 w4", "lm-neurons", top_k=4, n_tokens=3)
    items = [make_item(cnn, image, channels), make_item(lm, "w3 w4", neurons)]
    assert [v.kind for v in views(items[0])] == ["image_overlay", "ranked_bars", "channel_maps"]
    assert [v.kind for v in views(items[1])] == ["generation_matrix", "ranked_bars"]
    bars = views(items[1])[1].data
    first = neurons.extras["neurons"][0]
    assert bars.rows[0].label.startswith(f"L{first['layer']} #{first['index']} ↑ {first['promoted_tokens'][0][0]}")
    sheet = views(items[0])[2].data
    assert sheet.titles[0].startswith("#2 ")  # the channel that carries the class, first
    report = new_report("neurons", items)
    page = to_html(report)
    assert "Top channels" in page and "Top MLP neurons" in page
    assert to_pdf(report).startswith(b"%PDF")
    back = read_bundle(write_bundle(report))
    assert back.items[1].explanation.extras["neurons"][0]["index"] == first["index"]
    np.testing.assert_array_equal(back.items[0].explanation.extras["channel_maps"], channels.extras["channel_maps"])
