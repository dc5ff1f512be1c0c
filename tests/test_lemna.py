"""LEMNA: the fused-lasso solver is optimal (KKT), its limits are known fits, one component without
fusion is LIME's least squares, and on a real sequence model the mixture is more faithful than LIME."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import unboxed
from unboxed import zoo
from unboxed.attribution import Lemna, Lime
from unboxed.attribution.lemna import fit_mixture, fused_lasso
from unboxed.attribution.surrogate import weighted_gram, weighted_ridge
from unboxed.errors import InputError
from unboxed.maskers import TabularMasker
from unboxed.random import torch_generator


@pytest.fixture(scope="module")
def sequence():
    return zoo.load("digits_sequence")


def random_problems(rows=3, n=200, p=12, seed=0):
    generator = torch_generator(seed)
    x = torch.randint(0, 2, (rows, n, p), generator=generator).double()
    steps = torch.tensor([1.0] * 4 + [3.0] * 4 + [-1.0] * 4, dtype=torch.float64)[:p]
    y = x @ steps + 0.3 * torch.randn(rows, n, generator=generator, dtype=torch.float64)
    weights = torch.rand(rows, n, generator=generator, dtype=torch.float64)
    return x, y, weights


def test_fused_lasso_satisfies_the_optimality_conditions():
    x, y, weights = random_problems()
    active = torch.arange(12)[None, :] < torch.tensor([12, 12, 9])[:, None]  # the last row has 3 padding features
    penalty = 0.02
    fit = fused_lasso(x, y, weights, penalty, active=active, iterations=5000, tolerance=1e-12)
    assert bool((fit.coef[2, 9:] == 0).all())
    gram = weighted_gram(x, y, weights)
    size = weights.sum(-1)
    # gradient of the smooth part = D' v for a subgradient v of penalty * |D beta|_1:
    # v_j = -cumsum(gradient)_j, |v_j| <= penalty, and v_j = penalty * sign where neighbours differ
    gradient = (gram.moment - (gram.gram @ fit.coef[..., None])[..., 0]) / size[:, None]
    for row, count in enumerate((12, 12, 9)):
        g = gradient[row, :count]
        v = -torch.cumsum(g, 0)[:-1]
        jumps = fit.coef[row, 1:count] - fit.coef[row, : count - 1]
        assert abs(float(g.sum())) < 1e-7
        assert float(v.abs().max()) <= penalty + 1e-7
        moved = jumps.abs() > 1e-6
        assert bool(moved.any()) and bool((~moved).any())  # some neighbours fused, some not
        assert float((v[moved] - penalty * jumps[moved].sign()).abs().max()) < 1e-7
    np.testing.assert_allclose(fit.intercept.numpy(), gram.intercept(fit.coef).numpy())


def test_fused_lasso_limits_are_known_fits():
    x, y, weights = random_problems(rows=2)
    # no penalty: weighted least squares
    least_squares = weighted_ridge(x, y, weights, 0.0)
    np.testing.assert_allclose(fused_lasso(x, y, weights, 0.0).coef.numpy(), least_squares.coef.numpy())
    # a huge penalty fuses every coefficient into one: least squares on the sum of the features
    fused = fused_lasso(x, y, weights, 1e3, iterations=5000, tolerance=1e-12)
    total = weighted_ridge(x.sum(-1, keepdim=True), y, weights, 0.0)
    np.testing.assert_allclose(fused.coef.numpy(), total.coef.expand(2, 12).numpy(), atol=1e-6)
    np.testing.assert_allclose(fused.intercept.numpy(), total.intercept.numpy(), atol=1e-6)


def test_mixture_separates_two_regimes():
    generator = torch_generator(0)
    x = torch.randint(0, 2, (2, 300, 5), generator=generator).double()
    first, second = torch.tensor([3.0, 3.0, 0.0, 0.0, 1.0]), torch.tensor([0.0, -2.0, -2.0, 4.0, 0.0])
    regime = torch.rand(2, 300, generator=generator) < 0.5
    y = torch.where(regime, x @ first.double(), x @ second.double() + 5)
    mixture = fit_mixture(x, y, torch.ones(2, 300, dtype=torch.float64), 2, penalty=0.0)
    for row in range(2):
        found = sorted(mixture.fit.coef[row].tolist(), key=lambda c: c[0])
        np.testing.assert_allclose(found, [second.tolist(), first.tolist()], atol=1e-6)
        # each sample goes to its regime's component (but for those that both lines fit exactly)
        in_first = mixture.responsibility[row].argmax(0) == int(mixture.fit.coef[row, :, 0].argmax())
        distinct = x[row] @ first.double() != x[row] @ second.double() + 5
        assert bool((in_first == regime[row])[distinct].all()) and float(distinct.double().mean()) > 0.8


def test_one_component_without_fusion_is_lime_least_squares(sequence):
    x = sequence.inputs[:3]
    masker = TabularMasker(fill=0.0)
    lemna = Lemna(sequence.model, masker=masker, n_samples=300, n_components=1, fusion=0.0).explain(x)
    lime = Lime(sequence.model, masker=masker, n_samples=300, alpha=0.0).explain(x)
    np.testing.assert_allclose(lemna.values, lime.values, rtol=0, atol=1e-6)
    np.testing.assert_allclose(lemna.surrogate["r2"], lime.surrogate["r2"], atol=1e-9)
    np.testing.assert_allclose(lemna.base, lime.base, atol=1e-6)


def test_lemna_is_more_faithful_than_lime_on_the_sequence_model(sequence):
    x = sequence.inputs[:5]
    masker = TabularMasker(fill=0.0)  # pixels switched off, as LEMNA nullifies features
    lime = Lime(sequence.model, masker=masker, n_samples=500).explain(x)
    lemna = Lemna(sequence.model, masker=masker, n_samples=500).explain(x)  # same seed: same samples and kernel
    lime_r2, lemna_r2 = np.mean(lime.surrogate["r2"]), np.mean(lemna.surrogate["r2"])
    # the paper's local fidelity: how far the explanation's model is from f at the explained row
    lime_gap = np.abs(np.array(lime.surrogate["local_prediction"]) - lime.scores).mean()
    lemna_gap = np.abs(np.array(lemna.surrogate["local_prediction"]) - lemna.scores).mean()
    print(f"digits_sequence, 5 rows x 500 samples: weighted R^2 LIME {lime_r2:.3f} LEMNA {lemna_r2:.3f}; "
          f"|f(x) - surrogate(x)| LIME {lime_gap:.3f} LEMNA {lemna_gap:.3f}")
    assert lemna_r2 > lime_r2 + 0.03 and lemna_gap < lime_gap / 2
    assert sequence.facts["test_accuracy"] > 0.95
    # the fusion penalty makes neighbouring time steps share weights: less total variation
    unfused = Lemna(sequence.model, masker=masker, n_samples=500, fusion=0.0).explain(x)
    variation = lambda values: np.abs(np.diff(values, axis=1)).sum(1).mean()  # noqa: E731
    assert variation(lemna.values) < 0.9 * variation(unfused.values)


def test_same_seed_same_result_whatever_the_batch_size(sequence):
    x = sequence.inputs[:2]
    settings = {"masker": TabularMasker(fill=0.0), "n_samples": 400, "n_iterations": 5}
    whole = Lemna(sequence.model, **settings).explain(x)
    chunked = Lemna(unboxed.adapt(sequence.model, batch_size=37), **settings).explain(x)
    # float32 sums may round differently in other batch sizes: equal to that precision
    np.testing.assert_allclose(chunked.values, whole.values, rtol=0, atol=1e-4 * np.abs(whole.values).max())
    assert np.abs(Lemna(sequence.model, seed=1, **settings).explain(x).values - whole.values).max() > 1e-2
    info = unboxed.get_method("lemna").info
    assert (info.engagement.value, info.format.value, info.scope.value, info.access.value) == (
        "passive", "attribution", "local", "black-box")


@pytest.mark.parametrize("settings, message", [
    ({"n_components": 0}, "n_components"), ({"fusion": -1.0}, "fusion"), ({"n_samples": 1}, "n_samples"),
    ({"kernel_width": 0.0}, "kernel_width"), ({"n_iterations": 0}, "n_iterations"), ({"coalitions": "some"}, "coalitions"),
])
def test_bad_settings_raise_clear_errors(settings, message):
    with pytest.raises(InputError, match=message):
        Lemna(lambda x: x.sum(1), masker=TabularMasker(fill=0.0), **settings)
