"""Complexity metrics: agreement with Quantus, analytic values, and per-example normalisation."""
import math
import warnings

import numpy as np
import pytest
import torch

from unboxed.errors import InputError
from unboxed.evaluate import EffectiveComplexity, EntropyComplexity, Sparseness, get_metric


def model(batch):
    return batch.reshape(len(batch), -1).sum(1)


@pytest.fixture
def maps():
    """Images (5, 1, 8, 8) and signed attribution maps of very different scales per example."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(5, 1, 8, 8, generator=generator)
    attributions = torch.randn(5, 1, 8, 8, generator=generator, dtype=torch.float64) ** 3
    attributions *= torch.tensor([1.0, 10.0, 0.01, 3.0, 100.0], dtype=torch.float64)[:, None, None, None]
    return inputs, attributions


QUANTUS_PAIRS = [("Sparseness", Sparseness, {}), ("Complexity", EntropyComplexity, {}),
                 ("EffectiveComplexity", EffectiveComplexity, {"eps": 0.05})]


@pytest.mark.parametrize("theirs_name, ours_class, options", QUANTUS_PAIRS)
def test_agrees_with_quantus(maps, theirs_name, ours_class, options):
    quantus = pytest.importorskip("quantus")
    inputs, attributions = maps
    x, y = inputs.numpy(), np.zeros(len(inputs), dtype=int)

    def theirs(normalise, a):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric = getattr(quantus, theirs_name)(abs=True, normalise=normalise, disable_warnings=True, **options)
            return np.asarray(metric(model=None, x_batch=x[: len(a)], y_batch=y[: len(a)], a_batch=a.copy()), dtype=float)

    # without normalisation: the whole batch at once
    ours = ours_class(abs=True, normalise=False, **options).evaluate(model, inputs, explanation=attributions).scores
    np.testing.assert_allclose(ours, theirs(False, attributions.numpy()), rtol=1e-6, atol=1e-6)
    # Quantus divides by the largest |a| of the whole batch; we divide each example by its own,
    # so the same numbers come from Quantus called on one example at a time
    ours = ours_class(**options).evaluate(model, inputs, explanation=attributions).scores
    one_by_one = np.concatenate([theirs(True, attributions[i : i + 1].numpy()) for i in range(len(inputs))])
    np.testing.assert_allclose(ours, one_by_one, rtol=1e-6, atol=1e-6)


def test_analytic_values_and_directions():
    flat = torch.ones(3, 16)
    one_hot = torch.zeros(3, 16)
    one_hot[:, 4] = 2.0
    x = torch.ones(3, 16)
    sparseness, entropy = Sparseness(), EntropyComplexity()
    np.testing.assert_allclose(sparseness.evaluate(model, x, explanation=flat).scores, 0.0, atol=1e-9)
    np.testing.assert_allclose(sparseness.evaluate(model, x, explanation=one_hot).scores, 15 / 16, atol=1e-5)  # 1e-7 offset
    np.testing.assert_allclose(entropy.evaluate(model, x, explanation=flat).scores, math.log(16), atol=1e-9)
    np.testing.assert_allclose(entropy.evaluate(model, x, explanation=one_hot).scores, 0.0, atol=1e-9)
    np.testing.assert_allclose(EffectiveComplexity().evaluate(model, x, explanation=one_hot).scores, 1.0)
    assert Sparseness.higher_is_better and not EntropyComplexity.higher_is_better
    assert not EffectiveComplexity.higher_is_better and get_metric("entropy_complexity") is EntropyComplexity


def test_an_example_scores_the_same_alone_or_in_any_batch(maps):
    inputs, attributions = maps
    metric = EffectiveComplexity(eps=0.05)
    together = metric.evaluate(model, inputs, explanation=attributions).scores
    alone = [metric.evaluate(model, inputs[i : i + 1], explanation=attributions[i : i + 1]).scores[0] for i in range(len(inputs))]
    np.testing.assert_array_equal(together, alone)
    # scale invariance: normalised attributions do not care about units
    scaled = metric.evaluate(model, inputs, explanation=attributions * 1e3).scores
    np.testing.assert_array_equal(scaled, together)


def test_bad_inputs_get_clear_errors(maps):
    inputs, attributions = maps
    with pytest.raises(InputError, match="explanation has shape"):
        Sparseness().evaluate(model, inputs, explanation=attributions[:, :, :4])
    with pytest.raises(InputError, match="eps"):
        EffectiveComplexity(eps=-1.0)
