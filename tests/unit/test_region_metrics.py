"""Region perturbation (MoRF / LeRF over patches, Samek et al. 2017), the symmetric relevance gain
(Blücher et al. 2024) and ROAD's noisy linear imputation (Rong et al. 2022) on hand-made cases."""

import numpy as np
import pytest
import torch

from explainers import Explanation
from explainers.metrics.image import (
    cell_scores,
    faithfulness_passes,
    image_faithfulness,
    region_curves,
    region_passes,
    road_impute,
)
from tests.tiny_models import CellScores, classifier

SIZE, G = 32, 4  # 4 × 4 cells of 8 × 8 pixels
WEIGHTS = np.array([[4, 0, 0, -1], [0, 2, 0, 0], [0, 0, 3, 0], [1, 0, 0, 0.5]], dtype=np.float32) / 4


@pytest.fixture(scope="module")
def cell_model():
    return classifier(CellScores(WEIGHTS), size=SIZE)


def cell_image(values: np.ndarray) -> np.ndarray:
    """An image whose cell (i, j) is a uniform grey of ``values[i, j]`` (0..255)."""
    image = np.kron(values, np.ones((SIZE // G, SIZE // G)))
    return np.repeat(image[..., None], 3, axis=2).astype(np.uint8)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_morf_and_lerf_curves_by_hand(cell_model):
    values = np.arange(16).reshape(G, G) * 16 + 8  # distinct cell brightnesses
    image = cell_image(values)
    x = values / 255.0
    rng = np.random.default_rng(1)
    explanation = rng.permutation(16).reshape(G, G).astype(np.float32)  # any ranking of the cells
    # cell scores are the map's mean per cell: the map itself, one value per 8 × 8 block
    pixel_map = np.kron(explanation, np.ones((SIZE // G, SIZE // G), dtype=np.float32))
    assert np.allclose(cell_scores(cell_model, pixel_map, G).numpy(), explanation)
    c = region_curves(cell_model, image, pixel_map, 0, cells=G, cells_per_step=1, fill="zero")
    morf = np.argsort(-explanation.ravel(), kind="stable")
    assert np.array_equal(c.order, morf)
    contribution = (WEIGHTS * x).ravel()  # class 0's logit is the sum over kept cells; a zero fill adds 0
    for order, curve in ((morf, c.morf), (morf[::-1], c.lerf)):
        expected = [sigmoid(contribution.sum() - contribution[order[:k]].sum()) for k in range(17)]
        assert np.allclose(curve, expected, atol=1e-5)
    assert np.allclose(c.fractions, np.arange(17) / 16)
    trapezoid = lambda p: sum((p[i] + p[i + 1]) / 2 / 16 for i in range(16))  # noqa: E731
    assert c.morf_auc == pytest.approx(trapezoid(c.morf), rel=1e-9)
    assert c.lerf_auc == pytest.approx(trapezoid(c.lerf), rel=1e-9)
    assert c.srg == pytest.approx(c.lerf_auc - c.morf_auc)


def test_the_true_contributions_get_the_largest_gain_and_random_maps_none(cell_model):
    rng = np.random.default_rng(0)
    values = rng.integers(30, 230, size=(G, G))
    image = cell_image(values)
    truth = np.kron(WEIGHTS * values, np.ones((SIZE // G, SIZE // G), dtype=np.float32))
    kw = dict(cells=G, cells_per_step=1, fill="zero")  # a removed cell adds nothing: the contributions are true
    best = region_curves(cell_model, image, truth, 0, **kw)
    gains = [region_curves(cell_model, image, rng.random((SIZE, SIZE)).astype(np.float32), 0, seed=s, **kw).srg
             for s in range(40)]
    assert best.srg > 0 and best.srg > max(gains)
    # a random map's MoRF and LeRF orders have the same distribution: its gain is zero up to noise
    assert abs(np.mean(gains)) < 3 * np.std(gains) / np.sqrt(len(gains)) + 1e-3
    assert np.std(gains) > 0  # the maps do differ


def test_road_fills_a_removed_pixel_from_its_neighbours():
    rows, cols = np.mgrid[0:9, 0:9]
    ramp = torch.tensor(rows + 2.0 * cols, dtype=torch.float32)[None, None].expand(1, 3, 9, 9)
    keep = torch.ones(1, 1, 9, 9)
    keep[0, 0, 4, 5] = 0  # one pixel inside: the weighted mean of its 8 neighbours, exact on a plane
    keep[0, 0, 0, 3] = 0  # one on the border: its 5 neighbours in the image
    out = road_impute(ramp, keep, noise=0.0, iterations=1)
    assert out[0, :, 4, 5].tolist() == pytest.approx([4 + 2 * 5] * 3)
    border = (ramp[0, 0, 0, 2] + ramp[0, 0, 0, 4]) / 6 + (ramp[0, 0, 1, 2] + ramp[0, 0, 1, 4]) / 12 + ramp[0, 0, 1, 3] / 6
    assert out[0, 0, 0, 3].item() == pytest.approx(border.item() / (1 / 6 * 3 + 1 / 12 * 2))
    assert torch.equal(out[keep.expand_as(out) > 0], ramp[keep.expand_as(ramp) > 0])  # known pixels stay


def test_road_fills_a_removed_block_of_a_constant_image_with_the_constant_and_adds_noise_only_there():
    image = torch.full((1, 3, 16, 16), 0.3)
    keep = torch.ones(2, 1, 16, 16)
    keep[:, :, 4:12, 2:10] = 0
    assert torch.allclose(road_impute(image, keep, noise=0.0), torch.full((2, 3, 16, 16), 0.3))
    noisy = road_impute(image, keep, noise=0.01, generator=torch.Generator().manual_seed(0))
    inside = noisy[:, :, 4:12, 2:10]
    assert 0.005 < float((inside - 0.3).std()) < 0.02
    assert torch.equal(noisy[:, :, :4], image[:, :, :4].expand(2, -1, -1, -1))


def test_region_figures_count_their_passes(cell_model):
    image = cell_image(np.full((G, G), 100))
    e = Explanation(scores=np.random.default_rng(0).random((SIZE, SIZE)), method="x", modality="image",
                    model="tiny", target=0)
    for cells, step, passes in ((4, 1, 32), (4, 3, 12), (4, 16, 2), (14, 4, 98)):
        assert region_passes(cell_model, cells, step) == passes
        before = cell_model.n_forward
        region_curves(cell_model, image, e.scores, 0, cells=cells, cells_per_step=step)
        assert cell_model.n_forward - before == passes
    before = cell_model.n_forward
    figures = image_faithfulness(cell_model, image, e, pixels_per_step=64, cells=4, cells_per_step=1, pixel_curves=False)
    assert cell_model.n_forward - before == faithfulness_passes(cell_model, 64, 4, 1, pixel_curves=False) == 32 + 2
    assert {"srg", "morf_auc", "lerf_auc", "morf_curve", "lerf_curve"} <= set(figures) and "deletion_auc" not in figures


def test_headline_is_the_first_figure_of_each_spec_and_image_sorts_by_the_gain():
    from explainers import get_modality, list_modalities
    from explainers.metrics import HEADLINE

    assert HEADLINE["image"] == ("srg", "higher")
    for modality in list_modalities():
        better = get_modality(modality).better
        if better:
            assert HEADLINE[modality] == next(iter(better.items()))
