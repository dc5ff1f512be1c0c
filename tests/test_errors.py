"""Bad input gets a clear error that names the problem."""
import numpy as np
import pytest
import torch
from torch import nn

import unboxed
from unboxed.attribution import GuidedBackprop, IntegratedGradients, Saliency, SmoothGrad
from unboxed.errors import InputError, LayerNotFoundError, ModelAccessError


def test_wrong_input_shape_for_the_model(digits):
    with pytest.raises(InputError, match=r"cannot take inputs of shape \(3, 32, 32\)"):
        Saliency(digits.model).explain(torch.zeros(2, 3, 32, 32))


def test_wrong_feature_count_for_mlp(cancer):
    with pytest.raises(InputError, match=r"shape \(29,\)"):
        IntegratedGradients(cancer.model).explain(torch.zeros(2, 29))


@pytest.mark.parametrize("bad,word", [(float("nan"), "NaN"), (float("inf"), "inf")])
def test_non_finite_inputs(cancer, bad, word):
    inputs = cancer.inputs[:3].clone()
    inputs[1, 4] = bad
    with pytest.raises(InputError, match=rf"non-finite.*{word}.*\(1, 4\)"):
        Saliency(cancer.model).explain(inputs)


def test_target_out_of_range(cancer):
    with pytest.raises(InputError, match=r"target 5 is out of range.*0\.\.1"):
        Saliency(cancer.model).explain(cancer.inputs[:2], target=5)
    with pytest.raises(InputError, match="one per sample"):
        Saliency(cancer.model).explain(cancer.inputs[:2], target=[0, 1, 1])
    with pytest.raises(InputError, match="integer class indices"):
        Saliency(cancer.model).explain(cancer.inputs[:2], target=0.5)


def test_layer_that_does_not_exist(digits):
    with pytest.raises(LayerNotFoundError, match="no layer named 'conv4'.*did you mean"):
        unboxed.adapt(digits.model).layer("conv4")


def test_gradient_method_on_black_box():
    with pytest.raises(ModelAccessError, match="saliency needs gradients.*black box"):
        Saliency(lambda batch: batch.sum(axis=1))
    with pytest.raises(ModelAccessError, match="guided_backprop needs gradients"):
        GuidedBackprop(lambda batch: batch)


def test_baseline_that_does_not_broadcast(cancer):
    with pytest.raises(InputError, match=r"baseline of shape \(7,\) does not broadcast.*\(2, 30\)"):
        IntegratedGradients(cancer.model, baselines=torch.zeros(7)).explain(cancer.inputs[:2])
    with pytest.raises(InputError, match="unknown baseline 'black'"):
        IntegratedGradients(cancer.model, baselines="black").explain(cancer.inputs[:2])
    with pytest.raises(InputError, match="blurred baseline needs spatial inputs"):
        IntegratedGradients(cancer.model, baselines="blur").explain(cancer.inputs[:2])


@pytest.mark.parametrize("steps", [0, -3, 2.5, True])
def test_bad_step_count(cancer, steps):
    with pytest.raises(InputError, match="n_steps must be an integer >= 1"):
        IntegratedGradients(cancer.model, n_steps=steps).explain(cancer.inputs[:2])


def test_bad_rule_and_smoothgrad_settings(cancer):
    with pytest.raises(InputError, match="rule must be one of"):
        IntegratedGradients(cancer.model, rule="simpson").explain(cancer.inputs[:2])
    with pytest.raises(InputError, match="variant must be one of"):
        SmoothGrad(cancer.model, variant="mean").explain(cancer.inputs[:2])
    with pytest.raises(InputError, match="unknown method 'salency'.*saliency"):
        SmoothGrad(cancer.model, method="salency")


def test_empty_batch(cancer):
    with pytest.raises(InputError, match="empty batch"):
        Saliency(cancer.model).explain(torch.zeros(0, 30))


def test_non_numeric_inputs(cancer):
    with pytest.raises(InputError, match="must be numeric"):
        Saliency(cancer.model).explain(np.array([["a"] * 30]))


def test_target_callable_with_wrong_shape(cancer):
    with pytest.raises(InputError, match="one score per sample"):
        Saliency(cancer.model).explain(cancer.inputs[:2], target=lambda out: out)


def test_unknown_model_type():
    with pytest.raises(InputError, match="cannot explain a int"):
        unboxed.adapt(3)


def test_model_with_wrong_batch_output():
    with pytest.raises(InputError, match="returned 1 rows for a batch of 3"):
        unboxed.adapt(lambda batch: np.ones((1, 2))).predict(np.zeros((3, 4)))


def test_unknown_taxonomy_value():
    with pytest.raises(InputError, match="unknown format 'rule'"):
        unboxed.methods(format="rule")


def test_bad_adapter_settings():
    with pytest.raises(InputError, match="batch_size"):
        unboxed.adapt(nn.Linear(2, 2), batch_size=0)
    with pytest.raises(InputError, match="memory_budget"):
        unboxed.adapt(nn.Linear(2, 2), memory_budget=-1)
