"""Kernel SHAP and permutation-sampling Shapley: exact with all coalitions, convergence to exact with
calibrated standard errors, agreement with shap.KernelExplainer, one batched game call, seeds and
batch sizes, tabular / image / text inputs, and clear errors."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from torch import nn

from unboxed import adapt
from unboxed.attribution import ExactShapley, KernelSHAP, SamplingShapley
from unboxed.attribution.coalitions import CoalitionGame
from unboxed.attribution.kernel_shap import kernel_design
from unboxed.errors import InputError
from unboxed.maskers import ImageMasker, TabularMasker, TextMasker

GROUPS = {f"g{k}": list(range(k, 30, 10)) for k in range(10)}  # the 30 cancer columns as 10 features


@pytest.fixture(scope="module")
def grouped(cancer):
    """(float64 MLP, 6 rows, grouped masker over a 10-row background, exact values)."""
    model = copy.deepcopy(cancer.model).double()
    x = cancer.inputs.double()
    masker = TabularMasker(x[-10:], groups=GROUPS)
    exact = ExactShapley(model, masker=masker).explain(x[:6], target=1)
    return model, x[:6], masker, exact


def rms(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


# --- exact with all coalitions ------------------------------------------------------------------
@pytest.mark.parametrize("paired", [True, False])
def test_kernel_shap_with_all_coalitions_is_exact(grouped, paired):
    model, x, masker, exact = grouped
    result = KernelSHAP(model, n_samples=2**10 - 2, paired=paired, masker=masker).explain(x, target=1)
    np.testing.assert_allclose(result.values, exact.values, atol=1e-6)
    np.testing.assert_allclose(result.base, exact.base, atol=1e-12)
    np.testing.assert_array_equal(result.stderr, 0.0)  # nothing was sampled


def test_design_enumerates_the_sizes_it_can_afford():
    design = kernel_design(10, 100, True, torch.Generator().manual_seed(0))
    coalitions, sizes = design.coalitions, design.coalitions.sum(1)
    # sizes 1 and 9 (20 coalitions) fit in their share of 100; sizes 2 and 8 (90) do not
    assert int((sizes == 1).sum()) == 10 and int((sizes == 9).sum()) == 10
    assert len(coalitions) == 100 and len({tuple(r.tolist()) for r in coalitions}) == 100  # the budget, all distinct
    np.testing.assert_allclose(design.weights[sizes == 1], 9 / (10 * 1 * 9))  # enumerated: the exact kernel
    assert design.draws.shape == (40, 2) and int(design.draws.min()) == 20  # 40 draws after the 20 enumerated
    first, second = coalitions[design.draws[:, 0]], coalitions[design.draws[:, 1]]
    assert bool((first == ~second).all())  # each draw comes with its complement
    drawn_mass = float(design.weights[20:].sum())
    np.testing.assert_allclose(drawn_mass, sum(9 / (s * (10 - s)) for s in range(2, 9)))  # the kernel mass left
    assert bool((design.weights[design.draws[:, 0]] / design.counts).unique().numel() == 1)  # equal share per draw


def test_draw_stderr_matches_the_spread_over_seeds(grouped):
    """The linearised bootstrap predicts how much the estimate moves from one seed to another."""
    model, x, masker, exact = grouped
    runs = [KernelSHAP(model, n_samples=120, masker=masker, seed=seed).explain(x[:2], target=1) for seed in range(30)]
    spread = np.std([run.values for run in runs], axis=0)
    reported = np.mean([run.stderr for run in runs], axis=0)
    ratio = np.sqrt(np.mean(reported**2)) / np.sqrt(np.mean(spread**2))
    assert 0.75 < ratio < 1.33, ratio


# --- convergence and standard errors ------------------------------------------------------------
def test_kernel_shap_converges_to_exact_within_its_standard_errors(grouped):
    model, x, masker, exact = grouped
    errors = []
    for n_samples in (40, 200, 900):
        result = KernelSHAP(model, n_samples=n_samples, masker=masker).explain(x, target=1)
        np.testing.assert_allclose(result.base + result.values.sum(1), result.scores, atol=1e-9)  # efficiency, exactly
        errors.append(rms(result.values, exact.values))
        assert float(np.mean(np.abs(result.values - exact.values) <= 4 * result.stderr)) >= 0.9
        assert 0.3 < rms(result.values, exact.values) / np.sqrt(np.mean(result.stderr**2)) < 3  # calibrated
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < errors[0] / 3


@pytest.mark.parametrize("antithetic", [True, False])
def test_sampling_shapley_converges_to_exact_within_its_standard_errors(grouped, antithetic):
    model, x, masker, exact = grouped
    errors = []
    for n_permutations in (4, 40, 400):
        result = SamplingShapley(model, n_permutations=n_permutations, antithetic=antithetic, masker=masker).explain(x, target=1)
        np.testing.assert_allclose(result.base + result.values.sum(1), result.scores, atol=1e-9)
        errors.append(rms(result.values, exact.values))
        if n_permutations >= 40:  # a spread over a handful of orders is itself too noisy to judge
            assert float(np.mean(np.abs(result.values - exact.values) <= 4 * result.stderr)) >= 0.9
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < errors[0] / 4


def test_every_coalition_of_every_row_in_one_game_call(grouped, monkeypatch):
    model, x, masker, _ = grouped
    calls = []
    original = CoalitionGame.values
    monkeypatch.setattr(CoalitionGame, "values", lambda game, rows, keep: calls.append(len(rows)) or original(game, rows, keep))
    KernelSHAP(model, n_samples=100, masker=masker).explain(x, target=1)
    assert calls == [len(x) * 102]  # 100 coalitions + the full and empty ones, all rows at once
    calls.clear()
    SamplingShapley(model, n_permutations=4, masker=masker).explain(x, target=1)
    assert calls == [len(x) * (4 * 9 + 2)]
    calls.clear()
    ExactShapley(model, masker=masker).explain(x, target=1)
    assert calls == [len(x) * 2**10]


# --- agreement with shap ------------------------------------------------------------------------
def test_kernel_shap_matches_shap_kernel_explainer(cancer):
    shap = pytest.importorskip("shap")
    columns = list(range(10))
    rest = cancer.inputs[:1].clone()

    class Subset(nn.Module):  # the cancer MLP as a model of 10 columns (the other 20 held at row 0's values)
        def __init__(self):
            super().__init__()
            self.net = cancer.model

        def forward(self, inputs):
            full = rest.to(inputs).expand(len(inputs), -1).clone()
            full[:, columns] = inputs
            return self.net(full)

    model = Subset()
    x, background = cancer.inputs[1:7, columns], cancer.inputs[100:125, columns]

    def logit(array):
        with torch.no_grad():
            return model(torch.as_tensor(array, dtype=torch.float32))[:, 1].double().numpy()

    theirs = shap.KernelExplainer(logit, background.numpy()).shap_values(x.numpy(), nsamples=2048, silent=True)
    ours = KernelSHAP(model, n_samples=2048, masker=TabularMasker(background)).explain(x, target=1)
    np.testing.assert_allclose(ours.values, theirs, atol=1e-5)
    exact = ExactShapley(model, masker=TabularMasker(background)).explain(x, target=1)
    np.testing.assert_allclose(exact.values, theirs, atol=1e-5)
    sampled = KernelSHAP(model, n_samples=200, masker=TabularMasker(background)).explain(x, target=1)
    assert float(np.mean(np.abs(sampled.values - theirs) <= 4 * sampled.stderr)) >= 0.9
    assert np.abs(sampled.values - theirs).max() > 1e-6  # (it did sample)


# --- seeds and batch sizes ----------------------------------------------------------------------
@pytest.mark.parametrize("method, settings", [(KernelSHAP, {"n_samples": 40}), (SamplingShapley, {"n_permutations": 6})])
def test_same_seed_same_result_whatever_the_batch_size(grouped, method, settings):
    model, x, masker, _ = grouped
    default = method(model, masker=masker, seed=3, **settings).explain(x, target=1)
    small = method(adapt(model, batch_size=7), masker=masker, seed=3, **settings).explain(x, target=1)
    np.testing.assert_allclose(small.values, default.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(small.stderr, default.stderr, rtol=0, atol=1e-12)
    other = method(model, masker=masker, seed=4, **settings).explain(x, target=1)
    assert np.abs(other.values - default.values).max() > 1e-6
    alone = method(model, masker=masker, seed=3, **settings).explain(x[2:3], target=1)
    np.testing.assert_allclose(alone.values, default.values[2:3], atol=1e-12)  # a row's draws ignore the others


# --- images and texts ---------------------------------------------------------------------------
def test_kernel_shap_on_digit_grid_cells(digits):
    model, x = digits.model, digits.inputs[:2]
    small = ImageMasker(segmentation="grid", grid=(3, 3), fill=0.0)
    exact = ExactShapley(model, masker=small).explain(x)
    full = KernelSHAP(model, n_samples=510, masker=small).explain(x)
    np.testing.assert_allclose(full.values, exact.values, atol=1e-5)
    cells = ImageMasker(segmentation="grid", grid=(4, 4), fill=0.0)
    result = KernelSHAP(model, n_samples=200, masker=cells).explain(x)
    assert result.values.shape == (2, 16) and result.input_values().shape == (2, 1, 32, 32)
    np.testing.assert_allclose(result.base + result.values.sum(1), result.scores, atol=1e-5)
    assert np.all(result.stderr > 0)


def test_kernel_shap_on_superpixels_of_different_counts(digits):
    model, x = digits.model, digits.inputs[:4]
    masker = ImageMasker(segmentation="slic", n_segments=10, fill=0.0, segment_options={"compactness": 0.1})
    counts = masker.features(masker.check(x)).counts
    assert len(set(counts.tolist())) > 1, "the test needs images with different numbers of superpixels"
    exact = ExactShapley(model, masker=masker).explain(x)
    full = KernelSHAP(model, n_samples=2**int(counts.max()), masker=masker).explain(x)
    np.testing.assert_allclose(full.values, exact.values, atol=1e-5)
    sampled = KernelSHAP(model, n_samples=20, masker=masker).explain(x)
    for row, count in enumerate(counts):
        np.testing.assert_array_equal(sampled.values[row, count:], 0.0)  # padding features get exactly 0
        np.testing.assert_array_equal(sampled.stderr[row, count:], 0.0)
    np.testing.assert_allclose(sampled.base + sampled.values.sum(1), sampled.scores, atol=1e-5)


@pytest.fixture(scope="module")
def sentiment():
    texts = ["a good film", "a great and fun film", "a bad film", "a dull and boring film", "good fun", "bad and dull",
             "great acting", "boring plot", "fun and good", "awful and bad"]
    labels = [1, 1, 0, 0, 1, 0, 1, 0, 1, 0]
    return make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0)).fit(texts, labels)


def test_kernel_shap_on_texts(sentiment):
    texts = ["a good and fun film with great acting", "boring", "a dull film"]
    exact = ExactShapley(sentiment, masker=TextMasker()).explain(texts, target=1)
    full = KernelSHAP(sentiment, n_samples=2**8, masker=TextMasker()).explain(texts, target=1)
    np.testing.assert_allclose(full.values, exact.values, atol=1e-6)
    np.testing.assert_allclose(exact.base + exact.values.sum(1), sentiment.predict_proba(texts)[:, 1], atol=1e-9)
    assert exact.values[0, 1] > 0.01 and exact.values[2, 1] < -0.01  # "good" helps, "dull" hurts
    np.testing.assert_array_equal(exact.values[1, 1:], 0.0)
    sampled = KernelSHAP(sentiment, n_samples=60, masker=TextMasker()).explain(texts, target=1)
    assert float(np.mean(np.abs(sampled.values - exact.values) <= 4 * sampled.stderr + 1e-12)) >= 0.9
    permutations = SamplingShapley(sentiment, n_permutations=200, masker=TextMasker()).explain(texts, target=1)
    assert rms(permutations.values, exact.values) < 0.02


# --- errors -------------------------------------------------------------------------------------
def test_background_with_other_columns_is_refused(cancer):
    with pytest.raises(InputError, match="background has 29 columns but the inputs have 30"):
        KernelSHAP(cancer.model, background=cancer.inputs[:10, :29].numpy()).explain(cancer.inputs[:2])


def test_masker_that_does_not_fit_the_inputs_is_refused(cancer):
    with pytest.raises(InputError, match="image inputs must be"):
        SamplingShapley(cancer.model, masker=ImageMasker()).explain(cancer.inputs[:2])
    with pytest.raises(InputError, match="must be an unboxed Masker"):
        KernelSHAP(cancer.model, masker="tabular")


def test_nan_on_a_masked_input_names_the_removed_features():
    def model(batch):  # fine on the inputs, NaN whenever x1 takes the fill value
        return np.where(batch[:, 1] == -1.0, np.nan, batch.sum(1))

    masker = TabularMasker(fill=-1.0, feature_names=["age", "dose", "weight"])
    for method in (KernelSHAP(model, n_samples=6, masker=masker), SamplingShapley(model, n_permutations=2, masker=masker)):
        with pytest.raises(InputError, match=r"returned nan for row 0 with these features removed: .*'dose'"):
            method.explain(np.ones((1, 3)))


@pytest.mark.parametrize("setting", [{"n_samples": 0}, {"n_samples": True}, {"n_samples": 2.5}])
def test_bad_settings_are_refused(setting):
    with pytest.raises(InputError):
        KernelSHAP(lambda b: b.sum(1), masker=TabularMasker(fill=0.0), **setting).explain(np.ones((1, 3)))
    with pytest.raises(InputError, match="n_permutations"):
        SamplingShapley(lambda b: b.sum(1), n_permutations=0, masker=TabularMasker(fill=0.0)).explain(np.ones((1, 3)))
