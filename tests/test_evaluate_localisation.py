"""Localisation metrics: agreement with Quantus, mask shapes, tolerance, and clear errors."""
import warnings

import numpy as np
import pytest
import torch

from unboxed.errors import InputError
from unboxed.evaluate import PointingGame, RelevanceMassAccuracy, RelevanceRankAccuracy


def model(batch):
    return batch.reshape(len(batch), -1).sum(1)


@pytest.fixture
def scene():
    """Images (6, 1, 12, 12), continuous signed maps (no ties) and one rectangle mask per image.
    Float64 inputs keep the maps in float64: signed relevance mass divides by a sum near 0."""
    generator = torch.Generator().manual_seed(2)
    inputs = torch.rand(6, 1, 12, 12, generator=generator, dtype=torch.float64)
    attributions = torch.randn(6, 1, 12, 12, generator=generator, dtype=torch.float64)
    masks = torch.zeros(6, 12, 12, dtype=torch.bool)
    for i, (top, left, size) in enumerate([(0, 0, 4), (2, 3, 5), (6, 6, 6), (1, 8, 3), (4, 2, 7), (9, 0, 3)]):
        masks[i, top : top + size, left : left + size] = True
    attributions[0] += 5.0 * masks[0, None]  # make sure the hits are not all misses
    attributions[2] += 5.0 * masks[2, None]
    return inputs, attributions, masks


PAIRS = [("PointingGame", PointingGame), ("RelevanceMassAccuracy", RelevanceMassAccuracy),
         ("RelevanceRankAccuracy", RelevanceRankAccuracy)]


@pytest.mark.parametrize("take_abs", [False, True])
@pytest.mark.parametrize("theirs_name, ours_class", PAIRS)
def test_agrees_with_quantus(scene, theirs_name, ours_class, take_abs):
    quantus = pytest.importorskip("quantus")
    inputs, attributions, masks = scene
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metric = getattr(quantus, theirs_name)(abs=take_abs, disable_warnings=True)
        theirs = metric(model=None, x_batch=inputs.numpy(), y_batch=np.zeros(len(inputs), dtype=int),
                        a_batch=attributions.numpy().copy(), s_batch=masks[:, None].numpy().astype(float))
    ours = ours_class(abs=take_abs).evaluate(model, inputs, explanation=attributions, mask=masks).scores
    np.testing.assert_allclose(ours, np.asarray(theirs, dtype=float), rtol=1e-6, atol=1e-6)
    assert 0 < np.mean(ours) < 1  # neither all hits nor all misses: the comparison means something


def test_mask_shapes_images_and_tables(scene):
    inputs, attributions, masks = scene
    metric = RelevanceMassAccuracy()
    pixels = metric.evaluate(model, inputs, explanation=attributions, mask=masks).scores
    np.testing.assert_allclose(metric.evaluate(model, inputs, explanation=attributions, mask=masks[:, None]).scores, pixels)
    np.testing.assert_allclose(metric.evaluate(model, inputs, explanation=attributions, mask=masks.numpy().astype(int)).scores,
                               pixels)
    # colour images with a pixel mask: a pixel's relevance is summed over its channels
    colour = attributions.expand(6, 3, 12, 12) / 3
    np.testing.assert_allclose(metric.evaluate(model, inputs.expand(6, 3, 12, 12), explanation=colour, mask=masks).scores, pixels)
    table = torch.tensor([[3.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 2.0]])
    scores = metric.evaluate(model, torch.ones(2, 4), explanation=table, mask=[[1, 0, 0, 0], [0, 0, 1, 0]]).scores
    np.testing.assert_allclose(scores, [0.75, 0.5])


def test_pointing_game_tolerance_and_empty_masks():
    inputs = torch.zeros(2, 1, 10, 10)
    attributions = torch.zeros(2, 1, 10, 10)
    attributions[:, 0, 5, 5] = 1.0  # the peak
    masks = torch.zeros(2, 10, 10, dtype=torch.bool)
    masks[0, 5, 7] = True  # two pixels right of the peak
    strict = PointingGame().evaluate(model, inputs, explanation=attributions, mask=masks)
    assert strict.scores[0] == 0.0 and np.isnan(strict.scores[1]) and strict.summary == 0.0
    tolerant = PointingGame(tolerance=2).evaluate(model, inputs, explanation=attributions, mask=masks)
    assert tolerant.scores[0] == 1.0
    assert PointingGame(tolerance=1.5).evaluate(model, inputs, explanation=attributions, mask=masks).scores[0] == 0.0


def test_bad_masks_get_clear_errors(scene):
    inputs, attributions, masks = scene
    metric = RelevanceRankAccuracy()
    with pytest.raises(InputError, match="needs the ground-truth regions"):
        metric.evaluate(model, inputs, explanation=attributions)
    with pytest.raises(InputError, match="mask has shape"):
        metric.evaluate(model, inputs, explanation=attributions, mask=masks[:, :10])
    with pytest.raises(InputError, match="mask has shape"):
        metric.evaluate(model, inputs, explanation=attributions, mask=masks[:4])
    with pytest.raises(InputError, match="booleans"):
        metric.evaluate(model, inputs, explanation=attributions, mask=masks * 0.5)
    with pytest.raises(InputError, match="explanation has shape"):
        metric.evaluate(model, inputs, explanation=attributions[:, :, :6], mask=masks)
    with pytest.raises(InputError, match="tolerance needs images"):
        PointingGame(tolerance=1).evaluate(model, torch.ones(2, 4), explanation=torch.ones(2, 4), mask=torch.ones(2, 4))
