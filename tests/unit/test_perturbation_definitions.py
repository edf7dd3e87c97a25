"""Occlusion, RISE, Sobol and SHAP against their definitions, on tiny models with known answers."""

import numpy as np
import pytest
import torch

from explainers import explain
from explainers.image.maskers import ImageMasker, cells_to_pixels, gaussian_blur, BLUR_SIGMA
from explainers.image.perturbation import rise_masks
from explainers.image.shap_image import shap_values
from models.adapters.image import ImageClassifier
from models.errors import ExplainerError
from tests.tiny_models import CellScores, RegionScore, classifier, random_image

SIZE = 32
REGION = (slice(8, 16), slice(16, 24))


def region_mask(region=REGION, size=SIZE):
    mask = np.zeros((size, size), dtype=bool)
    mask[region] = True
    return mask


def probability(model, batch):
    with torch.inference_mode():
        return torch.softmax(model.module(batch), dim=1)[:, 0]


# ---------------------------------------------------------------- the image masker


@pytest.fixture
def normalised_model():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    model = ImageClassifier("norm", RegionScore(REGION), ["a", "b"], (SIZE, SIZE), mean, std, device="cpu")
    return model, torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)


def test_masker_fills_follow_their_definitions(normalised_model):
    model, mean, std = normalised_model
    image = random_image(SIZE)
    x01 = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    keep = torch.rand(4, SIZE, SIZE)
    m = keep[:, None]
    x = (x01 - mean) / std
    # inpainting: x·M + (1 - M)·0 in the model's input space
    torch.testing.assert_close(ImageMasker(model, image, "zero")(keep), x * m)
    # amplitude: x·M in pixel space, then normalised
    torch.testing.assert_close(ImageMasker(model, image, "black")(keep), (x01 * m - mean) / std, atol=1e-5, rtol=1e-5)
    # blur: x·M + (1 - M)·blur(x)
    blurred = gaussian_blur(x, BLUR_SIGMA)
    torch.testing.assert_close(ImageMasker(model, image, "blur")(keep), x * m + (1 - m) * blurred)
    # a colour: hidden pixels take that colour
    colour = torch.tensor([255, 0, 128]).view(1, 3, 1, 1) / 255
    got = ImageMasker(model, image, [255, 0, 128])(torch.zeros(1, SIZE, SIZE))
    torch.testing.assert_close(got, ((colour - mean) / std).expand(1, 3, SIZE, SIZE), atol=2e-3, rtol=0)


@pytest.mark.parametrize("fill", ["grey", (1, 2), (0, 0, 300), None])
def test_bad_fill_is_a_clear_error(normalised_model, fill):
    with pytest.raises(ExplainerError, match="fill|colour"):
        ImageMasker(normalised_model[0], random_image(SIZE), fill)


def test_cells_become_blocks():
    cells = torch.arange(4.0).view(1, 2, 2)
    out = cells_to_pixels(cells, (4, 6))[0]
    assert out[:2, :3].eq(0).all() and out[:2, 3:].eq(1).all() and out[2:, :3].eq(2).all() and out[2:, 3:].eq(3).all()


# ---------------------------------------------------------------- occlusion


def test_occlusion_lights_up_exactly_the_region():
    model = classifier(RegionScore(REGION), SIZE)
    e = explain(model, random_image(SIZE), "occlusion", window=8, stride=8)
    assert e.target == 0 and e.n_forward == 16 + 1
    inside = region_mask()
    np.testing.assert_allclose(e.scores[inside], 1.0)
    np.testing.assert_array_equal(e.scores[~inside], 0.0)


def test_occlusion_is_the_mean_drop_over_covering_windows():
    """Overlapping, border-clipped windows, checked against a loop written from the definition."""
    model = classifier(RegionScore(REGION, scale=0.02, square=True), SIZE)
    image = random_image(SIZE, seed=3)
    window, stride = 10, 6
    e = explain(model, image, "occlusion", window=window, stride=stride)
    x = model.preprocess(image)
    p0 = probability(model, x)[0]
    total, count = torch.zeros(SIZE, SIZE), torch.zeros(SIZE, SIZE)
    starts = range(0, SIZE - window + stride, stride)  # the last window is clipped at the border
    assert e.n_forward == len(starts) ** 2 + 1
    for top in starts:
        for left in starts:
            hidden = x.clone()
            hidden[:, :, top : top + window, left : left + window] = 0
            total[top : top + window, left : left + window] += p0 - probability(model, hidden)[0]
            count[top : top + window, left : left + window] += 1
    expected = (total / count).numpy()
    np.testing.assert_allclose(e.scores, expected / np.abs(expected).max(), atol=1e-5)


def test_occlusion_is_signed():
    """Hiding evidence against the class raises its probability: negative scores there."""
    model = classifier(RegionScore(REGION, scale=-0.01), SIZE)
    e = explain(model, random_image(SIZE), "occlusion", target=0, window=8, stride=8)
    np.testing.assert_allclose(e.scores[region_mask()], -1.0)
    assert e.scores.min() == -1 and e.scores.max() == 0


@pytest.mark.parametrize(
    "params", [{"window": 0}, {"stride": 0}, {"window": 4, "stride": 8}, {"window": "big"}, {"fill": "grey"}]
)
def test_occlusion_bad_parameters(params):
    with pytest.raises(ExplainerError):
        explain(classifier(RegionScore(REGION), SIZE), random_image(SIZE), "occlusion", **params)


def test_occlusion_window_larger_than_the_input_is_one_window():
    e = explain(classifier(RegionScore(REGION), SIZE), random_image(SIZE), "occlusion", window=100, stride=50)
    assert e.n_forward == 2 and np.all(e.scores == 1)  # hiding everything drops the probability: one uniform score


# ---------------------------------------------------------------- RISE


def test_rise_masks_are_smooth_random_and_reproducible():
    masks = rise_masks(200, 4, 0.5, (SIZE, SIZE), seed=0, device="cpu")
    m = masks(0, 200)
    assert m.shape == (200, SIZE, SIZE) and m.min() >= 0 and m.max() <= 1
    assert abs(m.mean().item() - 0.5) < 0.05
    assert ((m > 0.01) & (m < 0.99)).float().mean() > 0.2  # bilinear: many in-between values
    torch.testing.assert_close(masks(50, 60), m[50:60])  # made on demand, the same every time
    again = rise_masks(200, 4, 0.5, (SIZE, SIZE), seed=0, device="cpu")(0, 200)
    other = rise_masks(200, 4, 0.5, (SIZE, SIZE), seed=1, device="cpu")(0, 200)
    assert torch.equal(m, again) and not torch.equal(m, other)


def test_rise_is_the_probability_weighted_mean_of_masks():
    model = classifier(RegionScore(REGION, scale=0.02), SIZE)
    image = random_image(SIZE, seed=1)
    n, grid, p = 60, 4, 0.4
    e = explain(model, image, "rise", n_masks=n, grid=grid, p=p, seed=5)
    assert e.n_forward == n + 1
    masks = rise_masks(n, grid, p, (SIZE, SIZE), seed=5, device="cpu")(0, n)
    x = model.preprocess(image)
    saliency = sum(probability(model, x * masks[i])[0] * masks[i] for i in range(n)) / (n * p)
    expected = ((saliency - saliency.min()) / (saliency.max() - saliency.min())).numpy()
    np.testing.assert_allclose(e.scores, expected, atol=1e-5)


def test_rise_concentrates_on_the_only_quadrant_the_model_reads():
    quadrant = (slice(0, 16), slice(0, 16))
    # logit = 16 × (mean over the quadrant - 1/4): the probability spans most of (0, 1) as masks vary
    model = classifier(RegionScore(quadrant, scale=16 / (16 * 16 * 3), offset=4.0), SIZE)
    e = explain(model, random_image(SIZE), "rise", n_masks=400, grid=4)
    inside = region_mask(quadrant)
    # RISE's masks are smooth (bilinear over 8-pixel cells), so the map spills a little past the border
    assert e.scores[inside].mean() > 2 * e.scores[~inside].mean()
    assert e.scores[inside].sum() / e.scores.sum() > 0.4  # the quadrant is 1/4 of the image
    assert inside.ravel()[np.argmax(e.scores)]


def test_rise_same_seed_same_scores():
    model = classifier(RegionScore(REGION), SIZE)
    image = random_image(SIZE)
    a, b = (explain(model, image, "rise", n_masks=30, grid=4, seed=2).scores for _ in range(2))
    c = explain(model, image, "rise", n_masks=30, grid=4, seed=3).scores
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("params", [{"p": 0}, {"p": 1.5}, {"n_masks": 0}, {"grid": 0}, {"grid": 64}, {"n_masks": 2.5}])
def test_rise_bad_parameters(params):
    with pytest.raises(ExplainerError):
        explain(classifier(RegionScore(REGION), SIZE), random_image(SIZE), "rise", **params)


# ---------------------------------------------------------------- Sobol


@pytest.mark.parametrize("perturbation", ["inpainting", "blur", "amplitude"])
def test_sobol_ranks_the_cells_the_model_reads_first(perturbation):
    weights = np.zeros((4, 4))
    weights[1, 2], weights[3, 0] = 3.0, 1.5  # two cells matter, cell (1, 2) more
    model = classifier(CellScores(weights), SIZE)
    image = random_image(SIZE, seed=2)
    e = explain(model, image, "sobol", grid_size=4, nb_design=32, perturbation=perturbation)
    assert e.n_forward == 32 * (16 + 2) + 1
    cell_scores = e.scores.reshape(4, 8, 4, 8)[:, 3:5, :, 3:5].mean(axis=(1, 3))  # the centre of each cell
    order = np.argsort(-cell_scores.ravel())
    assert set(order[:2]) == {1 * 4 + 2, 3 * 4 + 0}
    if perturbation != "blur":  # blurring keeps a cell's mean (what the model reads), so its effect is small and uneven
        assert list(order[:2]) == [1 * 4 + 2, 3 * 4 + 0]
    assert cell_scores.ravel()[order[2:]].max() < 0.05  # cells the model never reads: index 0


def test_sobol_same_seed_same_scores():
    model = classifier(CellScores(np.eye(2)), SIZE)
    image = random_image(SIZE)
    a, b = (explain(model, image, "sobol", grid_size=2, nb_design=8, seed=4).scores for _ in range(2))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "params", [{"nb_design": 12}, {"nb_design": 1}, {"grid_size": 0}, {"grid_size": 40}, {"perturbation": "noise"}]
)
def test_sobol_bad_parameters(params):
    with pytest.raises(ExplainerError):
        explain(classifier(CellScores(np.eye(2)), SIZE), random_image(SIZE), "sobol", **params)


# ---------------------------------------------------------------- SHAP


def test_shap_values_add_up_to_the_model_output():
    model = classifier(RegionScore(REGION, scale=0.02, square=True), SIZE)
    image = random_image(SIZE, seed=4)
    values, base, index = shap_values(model, image, None, max_evals=60, blur=8)
    assert values.shape == (SIZE, SIZE) and index == int(probability(model, model.preprocess(image))[0] < 0.5)
    with torch.inference_mode():
        probs = torch.softmax(model.module(model.preprocess(image)), dim=1)[0]
    assert values.sum() + base == pytest.approx(float(probs[index]), abs=1e-6)


def test_shap_gives_nothing_to_pixels_the_model_never_reads():
    quadrant = (slice(0, 16), slice(0, 16))  # a node of shap's partition tree: two halvings
    model = classifier(RegionScore(quadrant, scale=0.01), SIZE)
    values, _, _ = shap_values(model, random_image(SIZE), 0, max_evals=100, blur=8)
    inside = region_mask(quadrant)
    assert np.abs(values[~inside]).max() <= 1e-9 * np.abs(values[inside]).sum()
    assert values[inside].sum() > 0


def test_shap_counts_and_signs():
    model = classifier(RegionScore(REGION, scale=-0.01), SIZE)
    e = explain(model, random_image(SIZE), "shap", target=0, max_evals=40, blur=8)
    assert e.n_forward == 40
    assert e.scores.min() == -1 and e.scores.max() <= 1e-6  # hiding evidence against class 0 helps it


@pytest.mark.parametrize("params", [{"max_evals": 1}, {"max_evals": 2.5}, {"blur": 0}])
def test_shap_bad_parameters(params):
    with pytest.raises(ExplainerError):
        explain(classifier(RegionScore(REGION), SIZE), random_image(SIZE), "shap", **params)


def test_shap_keeps_nothing_from_one_image_to_the_next():
    """The masker's partition tree is built once per shape; its blurred image must be the new image's."""
    from explainers.image.shap_image import _masker_template

    model = classifier(RegionScore(REGION, scale=0.02), SIZE)
    first, second = random_image(SIZE, seed=5), random_image(SIZE, seed=6)
    shap_values(model, first, 0, max_evals=30, blur=8)
    after_other = shap_values(model, second, 0, max_evals=30, blur=8)
    _masker_template.cache_clear()
    fresh = shap_values(model, second, 0, max_evals=30, blur=8)
    np.testing.assert_array_equal(after_other[0], fresh[0])
    assert after_other[1] == fresh[1]
