"""Exact Shapley values and the shared pieces: the Shapley matrix against brute-force orders, the
constrained regression, the axioms (efficiency, symmetry, dummy, linearity) on torch MLPs and
scikit-learn models, exact values on linear models, images and texts, and the cost error."""
from __future__ import annotations

import copy
import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from torch import nn

from unboxed import methods
from unboxed.attribution import ExactShapley
from unboxed.attribution.shapley import (
    all_coalitions,
    coalitions_of_size,
    efficient_wls,
    shapley_kernel,
    shapley_matrix,
)
from unboxed.errors import InputError
from unboxed.maskers import ImageMasker, TabularMasker, TextMasker


def brute_force_shapley(value, n):
    """Shapley values by averaging marginal contributions over all n! orders; `value(frozenset)`."""
    phi = np.zeros(n)
    for order in itertools.permutations(range(n)):
        members = set()
        for feature in order:
            before = value(frozenset(members))
            members.add(feature)
            phi[feature] += value(frozenset(members)) - before
    return phi / math.factorial(n)


def random_mlp(n_in, seed, hidden=8):
    torch.manual_seed(seed)  # test-only model construction
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, 2)).double()


@pytest.fixture(scope="module")
def cancer_table():
    data = load_breast_cancer()
    x = (data.data - data.data.mean(0)) / data.data.std(0)
    return x, data.target


# --- the shared pieces --------------------------------------------------------------------------
def test_shapley_matrix_matches_all_orders_on_a_random_game():
    generator = torch.Generator().manual_seed(0)
    n = 5
    v = torch.randn(2**n, generator=generator, dtype=torch.float64)
    codes = {frozenset(np.flatnonzero(row.numpy())): k for k, row in enumerate(all_coalitions(n))}
    expected = brute_force_shapley(lambda members: float(v[codes[members]]), n)
    np.testing.assert_allclose((v @ shapley_matrix(n)).numpy(), expected, atol=1e-12)


def test_coalitions_of_size_lists_every_subset_once():
    for n in range(1, 9):
        for size in range(n + 1):
            keep = coalitions_of_size(n, size)
            assert keep.shape == (math.comb(n, size), n)
            assert bool((keep.sum(1) == size).all())
            assert len({tuple(row.tolist()) for row in keep}) == len(keep)


def test_kernel_regression_over_all_coalitions_is_the_shapley_value():
    generator = torch.Generator().manual_seed(1)
    n = 6
    design = all_coalitions(n)
    v = torch.randn(3, 2**n, generator=generator, dtype=torch.float64)  # three random games
    base, total = v[:, 0], v[:, -1] - v[:, 0]
    inner = design[1:-1]
    fit = efficient_wls(inner, shapley_kernel(n, inner.sum(1)), v[:, 1:-1] - base[:, None], total)
    np.testing.assert_allclose(fit.numpy(), (v @ shapley_matrix(n)).numpy(), atol=1e-10)
    np.testing.assert_allclose(fit.sum(1).numpy(), total.numpy(), atol=1e-12)  # efficiency, exactly


# --- axioms on torch MLPs -----------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_axioms_on_random_mlps(seed):
    generator = torch.Generator().manual_seed(seed)
    n = 6
    f, g = random_mlp(n, seed), random_mlp(n, seed + 10)
    with torch.no_grad():
        f[0].weight[:, 1] = f[0].weight[:, 0]  # features 0 and 1 play the same role...
        g[0].weight[:, 1] = g[0].weight[:, 0]
        f[0].weight[:, 5] = 0.0  # ...and f ignores feature 5
    background = torch.randn(7, n, generator=generator, dtype=torch.float64)
    background[:, 1] = background[:, 0]
    x = torch.randn(4, n, generator=generator, dtype=torch.float64)
    x[:, 1] = x[:, 0]
    masker = TabularMasker(background)
    phi_f = ExactShapley(f, masker=masker).explain(x, target=1)
    phi_g = ExactShapley(g, masker=masker).explain(x, target=1)

    class Sum(nn.Module):
        def __init__(self):
            super().__init__()
            self.f, self.g = f, g

        def forward(self, inputs):
            return self.f(inputs) + self.g(inputs)

    phi_sum = ExactShapley(Sum(), masker=masker).explain(x, target=1)
    expected_base = f(background)[:, 1].mean().item()
    np.testing.assert_allclose(phi_f.base, expected_base, atol=1e-12)
    np.testing.assert_allclose(phi_f.base + phi_f.values.sum(1), phi_f.scores, atol=1e-10)  # efficiency
    np.testing.assert_allclose(phi_f.values[:, 0], phi_f.values[:, 1], atol=1e-12)  # symmetry
    assert np.abs(phi_f.values[:, 0]).max() > 1e-3  # (and not because both are zero)
    np.testing.assert_allclose(phi_f.values[:, 5], 0.0, atol=1e-12)  # dummy
    assert np.abs(phi_g.values[:, 5]).max() > 1e-3  # g does use feature 5
    np.testing.assert_allclose(phi_sum.values, phi_f.values + phi_g.values, atol=1e-10)  # linearity


def test_exact_matches_brute_force_orders_on_an_mlp():
    n = 4
    model = random_mlp(n, 3)
    generator = torch.Generator().manual_seed(3)
    background, x = torch.randn(5, n, generator=generator, dtype=torch.float64), torch.randn(1, n, generator=generator, dtype=torch.float64)

    def value(members):
        keep = torch.zeros(n, dtype=torch.bool)
        keep[list(members)] = True
        return model(torch.where(keep, x, background))[:, 0].mean().item()

    ours = ExactShapley(model, masker=TabularMasker(background)).explain(x, target=0).values[0]
    np.testing.assert_allclose(ours, brute_force_shapley(value, n), atol=1e-12)


def test_zoo_mlp_with_feature_groups_is_efficient(cancer):
    model = copy.deepcopy(cancer.model).double()  # float64: efficiency is then checked to 1e-9
    x = cancer.inputs.double()
    groups = {f"g{k}": list(range(k, 30, 10)) for k in range(10)}
    result = ExactShapley(model, masker=TabularMasker(x[-20:], groups=groups)).explain(x[:6], target=1)
    assert result.values.shape == (6, 10) and result.feature_names == list(groups)
    np.testing.assert_allclose(result.base + result.values.sum(1), result.scores, atol=1e-9)
    np.testing.assert_allclose(result.base, model(x[-20:])[:, 1].mean().item(), atol=1e-12)


# --- exact values on linear models --------------------------------------------------------------
def test_linear_model_gets_weight_times_distance_from_the_background_mean():
    generator = torch.Generator().manual_seed(4)
    model = nn.Linear(6, 1).double()
    background = torch.randn(9, 6, generator=generator, dtype=torch.float64)
    x = torch.randn(3, 6, generator=generator, dtype=torch.float64)
    result = ExactShapley(model, masker=TabularMasker(background)).explain(x, target=0)
    expected = (model.weight * (x - background.mean(0))).detach()
    np.testing.assert_allclose(result.values, expected.numpy(), atol=1e-12)


# --- scikit-learn models ------------------------------------------------------------------------
def test_logistic_regression_log_odds_are_exactly_linear(cancer_table):
    x, y = cancer_table
    columns = list(range(10))
    model = LogisticRegression(max_iter=2000).fit(x[:, columns], y)
    background = x[400:440, columns]
    result = ExactShapley(model.decision_function, masker=TabularMasker(background)).explain(x[:5, columns])
    np.testing.assert_allclose(result.values, model.coef_[0] * (x[:5, columns] - background.mean(0)), atol=1e-9)
    probability = ExactShapley(model, masker=TabularMasker(background)).explain(x[:5, columns], target=1)
    np.testing.assert_allclose(probability.base + probability.values.sum(1), model.predict_proba(x[:5, columns])[:, 1], atol=1e-9)


def test_random_forest_axioms(cancer_table):
    x, y = cancer_table
    train = x[:, :9].copy()
    train = np.column_stack([train, np.zeros(len(train))])  # column 9 is constant: no tree can split on it
    forest = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(train[:400], y[:400])
    rows = train[400:405].copy()
    rows[:, 9] = np.arange(1, 6)  # the explained rows differ from the background there, and it must not matter
    background = train[420:450]
    result = ExactShapley(forest, masker=TabularMasker(background)).explain(rows, target=1)
    np.testing.assert_allclose(result.base + result.values.sum(1), forest.predict_proba(rows)[:, 1], atol=1e-9)
    np.testing.assert_allclose(result.values[:, 9], 0.0, atol=1e-12)
    np.testing.assert_allclose(result.base, forest.predict_proba(background)[:, 1].mean(), atol=1e-12)
    assert np.abs(result.values[:, :9]).max() > 1e-2


# --- images and texts ---------------------------------------------------------------------------
def test_digit_grid_cells_are_efficient_and_match_brute_force(digits):
    model, x = digits.model, digits.inputs[:2]
    masker = ImageMasker(segmentation="grid", grid=(2, 2), fill=0.0)
    result = ExactShapley(model, masker=masker).explain(x)
    np.testing.assert_allclose(result.base + result.values.sum(1), result.scores, atol=1e-5)
    cells = masker.features(x).segments[0]
    target = int(result.target[0])

    def value(members):
        keep = torch.isin(cells, torch.tensor(sorted(members), dtype=torch.long))
        with torch.no_grad():
            return model(torch.where(keep, x[:1], torch.zeros(()))).double()[0, target].item()

    np.testing.assert_allclose(result.values[0, :4], brute_force_shapley(value, 4), atol=1e-5)
    assert result.input_values().shape[2:] == x.shape[2:]


def test_texts_of_different_lengths_get_exact_values_and_zero_padding():
    texts = ["good fun film", "bad", "a truly good and fun film"]
    weights = {"good": 2.0, "fun": 1.0, "bad": -3.0, "truly": 0.5}

    def model(batch):  # a bag-of-words score, so Shapley values are the words' own weights
        return np.array([sum(weights.get(word, 0.0) for word in text.split()) for text in batch])

    result = ExactShapley(model, masker=TextMasker()).explain(texts)
    assert result.values.shape == (3, 6) and result.counts.tolist() == [3, 1, 6]
    for row, text in enumerate(texts):
        words = text.split()
        np.testing.assert_allclose(result.values[row, : len(words)], [weights.get(w, 0.0) for w in words], atol=1e-12)
        np.testing.assert_array_equal(result.values[row, len(words):], 0.0)
    np.testing.assert_allclose(result.base, 0.0)


# --- the cost error and the catalogue -----------------------------------------------------------
def test_forty_features_is_refused_with_a_time_estimate_and_alternatives():
    x = np.ones((2, 40))
    with pytest.raises(InputError) as error:
        ExactShapley(lambda b: b.sum(1), masker=TabularMasker(np.zeros((5, 40)))).explain(x)
    message = str(error.value)
    assert "2^40" in message and "model evaluations" in message and "about" in message
    assert any(unit in message for unit in ("years", "days", "hours"))
    assert "KernelSHAP" in message and "groups" in message
    grouped = TabularMasker(np.zeros((5, 40)), groups=[list(range(k, 40, 8)) for k in range(8)])
    result = ExactShapley(lambda b: b.sum(1), masker=grouped).explain(x)  # 8 groups: fine
    np.testing.assert_allclose(result.values, 5.0)


def test_registered_as_a_black_box_local_attribution():
    names = {m.name for m in methods(format="attribution", scope="local", access="black-box", engagement="passive")}
    assert {"exact_shapley", "kernel_shap", "sampling_shapley"} <= names
    assert "gradient_shap" in {m.name for m in methods(access="gradients")}
