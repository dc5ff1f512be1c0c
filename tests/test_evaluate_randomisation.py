"""Randomisation sanity checks (Adebayo et al. 2018, Sixt et al. 2020) and the map similarities."""
import copy

import numpy as np
import pytest
import scipy.stats
import torch
from skimage.metrics import structural_similarity
from torch import nn

from unboxed import get_method, zoo
from unboxed.errors import InputError, LayerNotFoundError, ModelAccessError
from unboxed.evaluate import (DataRandomisation, IndependentLayerRandomisation, ModelParameterRandomisation, RandomLogit,
                              get_metric, plot_randomisation, plot_randomisation_maps)
from unboxed.evaluate.randomisation import layer_generator, parameter_layers, randomise_layer
from unboxed.evaluate.similarity import spearman, ssim, top_k_masks, top_k_overlap
from unboxed.model import adapt


# --- similarities ---------------------------------------------------------------------------------
def test_spearman_matches_scipy_with_ties():
    generator = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (6, 40), generator=generator).double()  # many ties
    b = a + torch.randint(0, 3, (6, 40), generator=generator)
    expected = [scipy.stats.spearmanr(x, y)[0] for x, y in zip(a.numpy(), b.numpy())]
    np.testing.assert_allclose(spearman(a, b).numpy(), expected, rtol=1e-12)
    assert spearman(torch.zeros(1, 5), torch.rand(1, 5)).tolist() == [0.0]  # a constant map shares no ranking


def test_ssim_matches_scikit_image_on_unit_scaled_maps():
    generator = torch.Generator().manual_seed(1)
    a, b = torch.rand(3, 12, 12, generator=generator), torch.rand(3, 12, 12, generator=generator) * 5 + 2
    scale = lambda m: (m - m.min()) / (m.max() - m.min())  # noqa: E731
    expected = [structural_similarity(scale(x).numpy(), scale(y).numpy(), data_range=1.0, win_size=7)
                for x, y in zip(a.double(), b.double())]
    np.testing.assert_allclose(ssim(a, b).numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(ssim(a[:, None], b[:, None] * 3).numpy(), expected, rtol=1e-6)  # (n, 1, H, W), scale-free


def test_top_k_overlap_counts_shared_top_features():
    a = torch.tensor([[5.0, 4, 3, 2, 1, 0], [5.0, 4, 3, 2, 1, 0]])
    b = torch.tensor([[0.0, 1, 2, 3, 4, 5], [5.0, 4, 0, 3, 1, 2]])
    assert top_k_overlap(a, b, k=3).tolist() == [0.0, 2 / 3]
    assert top_k_overlap(a, b, k=0.5).tolist() == [0.0, 2 / 3]
    with pytest.raises(InputError, match="same shape"):
        top_k_overlap(a, b[:, :4])


def test_top_k_masks_break_ties_by_position_like_a_stable_sort():
    values = torch.randint(0, 4, (5, 30), generator=torch.Generator().manual_seed(2)).double()  # many ties
    order = values.argsort(dim=1, descending=True, stable=True)[:, :7]
    expected = torch.zeros_like(values, dtype=torch.bool).scatter_(1, order, True)
    assert torch.equal(top_k_masks(values, 7), expected)


# --- the user's model is never changed -------------------------------------------------------------
def snapshot(model):
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    hooks = [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()]
    grads = [p.requires_grad for p in model.parameters()]
    return state, modes, hooks, grads


def assert_same(before, after):
    for key in before[0]:
        assert torch.equal(before[0][key], after[0][key]), key
    assert before[1:] == after[1:]


def test_the_users_model_is_bit_identical_after_every_randomisation(digits):
    model = copy.deepcopy(digits.model).train()  # train mode and a hook of the user's own, to see both kept
    model.conv2.register_forward_hook(lambda module, args, output: None)
    model.conv1.weight.requires_grad_(False)
    images = digits.inputs[:4]
    before = snapshot(model)
    for metric, context in ((ModelParameterRandomisation(), {}), (IndependentLayerRandomisation(init="normal"), {}),
                            (RandomLogit(), {}), (DataRandomisation(), {"random_model": zoo.load("digits_cnn", seed=0).model})):
        for method in ("saliency", "grad_cam", "guided_backprop"):
            metric.evaluate(model, images, method=method, **context)
            assert_same(before, snapshot(model))


# --- Adebayo et al.: gradients and Grad-CAM depend on the weights, Guided Backprop hardly ---------
@pytest.fixture(scope="module")
def cascading(digits):
    images = digits.inputs[:12]
    metric = ModelParameterRandomisation(all_measures=True)
    return {method: metric.evaluate(digits.model, images, method=method) for method in ("saliency", "grad_cam", "guided_backprop")}


def test_cascading_randomisation_goes_from_the_output_layer_down(cascading):
    for result in cascading.values():
        assert result.details["layers"] == ["fc", "conv3", "conv2", "conv1"]
        assert result.curves.shape == (12, 4)
        np.testing.assert_allclose(result.scores, result.curves.mean(1))


def test_only_the_chosen_similarity_is_computed_unless_all_are_asked_for(digits):
    images = digits.inputs[:4]
    chosen = ModelParameterRandomisation(similarity="ssim").evaluate(digits.model, images, method="saliency")
    every = ModelParameterRandomisation(similarity="ssim", all_measures=True).evaluate(digits.model, images, method="saliency")
    assert "ssim" in chosen.details and not {"spearman", "top_k"} & set(chosen.details)
    assert {"spearman", "ssim", "top_k"} <= set(every.details)
    np.testing.assert_array_equal(chosen.curves, every.curves)
    with pytest.raises(InputError, match="all_measures=True"):
        plot_randomisation({"saliency": chosen}, measure="top_k")


def test_adebayo_sanity_check_on_the_digits_cnn(cascading):
    spearman_after = {method: np.mean(result.details["spearman"], axis=0) for method, result in cascading.items()}
    saliency, grad_cam, guided = spearman_after["saliency"], spearman_after["grad_cam"], spearman_after["guided_backprop"]
    # Grad-CAM loses its map with the head; gradients with the top three layers (of four); both well below 0.5
    assert grad_cam[:2].max() < 0.5 and saliency[2:].max() < 0.3 and grad_cam[2:].max() < 0.3
    # Guided Backprop keeps its map while the top layers are random, and stays the most similar throughout
    assert guided[:2].min() > 0.7
    assert (guided > saliency).all() and (guided > grad_cam).all()
    assert guided.mean() > saliency.mean() + 0.15 > grad_cam.mean() + 0.15
    for measure in ("ssim", "top_k"):  # the other similarities agree on the ordering
        means = {method: np.mean(result.details[measure]) for method, result in cascading.items()}
        assert means["guided_backprop"] > max(means["saliency"], means["grad_cam"]) + 0.15


def test_randomising_a_bare_linear_model_gives_the_map_of_its_new_weights():
    model = nn.Linear(6, 3)
    inputs = torch.rand(2, 6, generator=torch.Generator().manual_seed(0))
    metric = IndependentLayerRandomisation(seed=5, absolute=False)
    result = metric.evaluate(model, inputs, target=1, method=("saliency", {"absolute": False}))
    assert result.details["layers"] == [""]  # the model itself holds the parameters
    fresh = copy.deepcopy(model)
    randomise_layer(fresh, layer_generator(5, ""))
    expected = spearman(model.weight[[1, 1]].detach(), fresh.weight[[1, 1]].detach())
    np.testing.assert_allclose(result.curves[:, 0], expected.numpy(), rtol=1e-9)


def test_the_randomised_weights_are_the_documented_seeded_draw():
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    inputs = torch.rand(3, 6, generator=torch.Generator().manual_seed(0))
    result = IndependentLayerRandomisation(layers=["2"], seed=5, absolute=False).evaluate(
        model, inputs, target=1, method=("saliency", {"absolute": False}))
    randomised = copy.deepcopy(model)
    randomise_layer(randomised[2], layer_generator(5, "2"))
    assert not torch.equal(randomised[2].weight, model[2].weight)
    before = torch.autograd.functional.jacobian(lambda x: model(x)[:, 1].sum(), inputs)
    after = torch.autograd.functional.jacobian(lambda x: randomised(x)[:, 1].sum(), inputs)
    np.testing.assert_allclose(result.curves[:, 0], spearman(before, after).numpy(), rtol=1e-9)


def test_same_layer_same_weights_in_cascading_and_independent_runs_and_seeds_matter(digits_batch):
    model, images, classes = digits_batch
    cascade = ModelParameterRandomisation(seed=3).evaluate(model, images, target=classes, method="saliency")
    alone = IndependentLayerRandomisation(seed=3).evaluate(model, images, target=classes, method="saliency")
    np.testing.assert_allclose(cascade.curves[:, 0], alone.curves[:, 0])  # step 1 randomises fc in both
    assert not np.allclose(cascade.curves[:, 1:], alone.curves[:, 1:])
    chunked = ModelParameterRandomisation(seed=3).evaluate(adapt(model, batch_size=3), images, target=classes, method="saliency")
    np.testing.assert_allclose(chunked.curves, cascade.curves, rtol=1e-4, atol=1e-6)
    other = ModelParameterRandomisation(seed=4).evaluate(model, images, target=classes, method="saliency")
    assert not np.allclose(other.curves, cascade.curves)


def test_independent_randomisation_of_the_first_layer_breaks_the_gradient_most(digits_batch):
    model, images, classes = digits_batch
    result = IndependentLayerRandomisation().evaluate(model, images, target=classes, method="saliency")
    per_layer = dict(zip(result.details["layers"], result.curves.mean(0)))
    assert per_layer["conv1"] < per_layer["fc"]


# --- random logit (Sixt et al. 2020) and data randomisation ------------------------------------------
def test_random_logit_on_a_linear_model_compares_two_weight_rows(linear):
    model, inputs = linear
    result = RandomLogit(seed=2, absolute=False).evaluate(model, inputs, target=0, method=("saliency", {"absolute": False}))
    others = result.details["random_class"]
    assert all(c in (1, 2) for c in others)
    expected = spearman(model.weight[[0] * len(inputs)].detach(), model.weight[others].detach())
    np.testing.assert_allclose(result.scores, expected.numpy(), rtol=1e-9)


def test_random_logit_separates_class_sensitive_maps(digits_batch):
    model, images, classes = digits_batch
    grad_cam = RandomLogit().evaluate(model, images, target=classes, method="grad_cam").summary
    guided = RandomLogit().evaluate(model, images, target=classes, method="guided_backprop").summary
    assert grad_cam < 0.3 < guided - 0.3


def test_data_randomisation_against_the_model_trained_on_permuted_labels(digits):
    random_labels = zoo.load("digits_random_labels")
    assert random_labels.facts["test_accuracy"] < 0.3 < digits.facts["test_accuracy"]
    images = digits.inputs[:8]
    # a fair comparison: the model is alive (its gradients are not all zero), so a low similarity is not an artefact
    gradients = torch.as_tensor(get_method("saliency")(random_labels.model).explain(images, target=0).values)
    assert float((gradients.reshape(8, -1) != 0).double().mean()) > 0.5
    metric = DataRandomisation()
    same = metric.evaluate(digits.model, images, method="grad_cam", random_model=copy.deepcopy(digits.model))
    assert np.allclose(same.scores, 1.0)
    similarity = {method: metric.evaluate(digits.model, images, method=method, random_model=random_labels.model).summary
                  for method in ("saliency", "grad_cam", "input_x_gradient")}
    assert similarity["saliency"] < 0.5 and similarity["grad_cam"] < 0.5
    # as in the paper, input x gradient follows the input (it is 0 wherever a pixel is): it hardly changes
    assert similarity["input_x_gradient"] > 0.7


# --- errors ------------------------------------------------------------------------------------------
def test_bad_requests_get_clear_errors(digits_batch, linear):
    model, images, classes = digits_batch
    with pytest.raises(LayerNotFoundError, match="conv9"):
        ModelParameterRandomisation(layers=["conv9"]).evaluate(model, images, target=classes, method="saliency")
    with pytest.raises(InputError, match="relu1.*no parameters"):
        ModelParameterRandomisation(layers=["relu1"]).evaluate(model, images, target=classes, method="saliency")
    with pytest.raises(InputError, match="similarity"):
        ModelParameterRandomisation(similarity="pearson").evaluate(model, images, target=classes, method="saliency")
    with pytest.raises(InputError, match="init"):
        ModelParameterRandomisation(init="zeros").evaluate(model, images, target=classes, method="saliency")
    with pytest.raises(InputError, match="random_model"):
        DataRandomisation().evaluate(model, images, target=classes, method="saliency")
    with pytest.raises(InputError, match="class indices"):
        RandomLogit().evaluate(model, images, target=lambda out: out[:, 0], method="saliency")
    with pytest.raises(ModelAccessError, match="torch"):
        ModelParameterRandomisation().evaluate(lambda x: x.sum(1, keepdims=True), images.reshape(8, -1).numpy(), target=0,
                                               method="occlusion")
    assert get_metric("model_parameter_randomisation").higher_is_better is False


# --- pictures ------------------------------------------------------------------------------------------
def test_plot_draws_one_line_per_method_from_the_original(cascading):
    ax = plot_randomisation(cascading)
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert set(lines) == set(cascading)
    np.testing.assert_allclose(lines["saliency"], [1.0, *np.mean(cascading["saliency"].details["spearman"], axis=0)])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["original", "fc", "conv3", "conv2", "conv1"]


def test_maps_picture_has_a_row_per_method_and_a_column_per_step(digits):
    fig = plot_randomisation_maps(digits.model, digits.inputs[:1], {"saliency": "saliency", "Grad-CAM": "grad_cam"})
    assert len(fig.axes) == 2 * 5
    assert fig.axes[0].get_title() == "original" and fig.axes[4].get_title() == "conv1"


def test_layers_are_ordered_by_the_forward_pass_not_by_definition():
    class HeadDefinedFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(4, 2)
            self.body = nn.Linear(3, 4)

        def forward(self, x):
            return self.head(torch.relu(self.body(x)))

    model = HeadDefinedFirst()
    assert parameter_layers(model, torch.ones(1, 3)) == ["body", "head"]
    result = ModelParameterRandomisation().evaluate(model, torch.rand(2, 3), target=0, method="saliency")
    assert result.details["layers"] == ["head", "body"]  # from the output down


def test_checkpoints_explain_fewer_steps_of_the_full_cascade(digits):
    """With checkpoints the cascade still randomises every layer; only some steps are explained,
    and the last (whole model random) equals the full cascade's last step."""
    from unboxed.evaluate import ModelParameterRandomisation

    inputs = digits.inputs[:3]
    full = ModelParameterRandomisation(seed=1).evaluate(digits.model, inputs, method="saliency")
    some = ModelParameterRandomisation(seed=1, checkpoints=2).evaluate(digits.model, inputs, method="saliency")
    assert len(full.details["layers"]) > 2
    assert some.details["layers"] == [full.details["layers"][0], full.details["layers"][-1]]
    np.testing.assert_allclose(some.curves[:, -1], full.curves[:, -1], atol=1e-12)
    np.testing.assert_allclose(some.curves[:, 0], full.curves[:, 0], atol=1e-12)
