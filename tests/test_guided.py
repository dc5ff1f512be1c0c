"""Guided Backprop / DeconvNet through every ReLU-family activation, however it is called."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unboxed.attribution import Deconvolution, GuidedBackprop
from unboxed.attribution.backward_rules import ActivationRule, ActivationRuleMode


class PlainNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.relu1 = nn.Conv2d(1, 6, 3), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(6, 6, 3), nn.ReLU()
        self.fc = nn.Linear(6 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(self.relu2(self.conv2(self.relu1(self.conv1(x)))).flatten(1))


class FunctionalNet(PlainNet):
    def forward(self, x):
        return self.fc(F.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1))


class InPlaceNet(PlainNet):
    def __init__(self):
        super().__init__()
        self.relu1, self.relu2 = nn.ReLU(inplace=True), nn.ReLU(inplace=True)


class SharedNet(PlainNet):
    def forward(self, x):
        return self.fc(self.relu1(self.conv2(self.relu1(self.conv1(x)))).flatten(1))


class TensorMethodNet(PlainNet):
    def forward(self, x):
        return self.fc(self.conv2(self.conv1(x).relu()).relu_().flatten(1))


@pytest.fixture(scope="module")
def plain_and_inputs():
    generator = torch.Generator().manual_seed(1)
    plain = PlainNet()
    with torch.no_grad():
        for param in plain.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    return plain, torch.randn(6, 1, 8, 8, generator=generator)


@pytest.mark.parametrize("variant", [FunctionalNet, InPlaceNet, SharedNet, TensorMethodNet])
@pytest.mark.parametrize("method", [GuidedBackprop, Deconvolution])
def test_same_result_however_relu_is_written(plain_and_inputs, variant, method):
    plain, inputs = plain_and_inputs
    twin = variant()
    twin.load_state_dict(plain.state_dict())
    expected = method(plain).explain(inputs, target=2).values
    np.testing.assert_allclose(method(twin).explain(inputs, target=2).values, expected, atol=1e-6)
    assert not np.allclose(expected, 0)


def test_guided_differs_from_plain_gradient_and_plain_rule_is_the_gradient(plain_and_inputs):
    plain, inputs = plain_and_inputs
    x = inputs.clone().requires_grad_()
    (gradient,) = torch.autograd.grad(plain(x)[:, 2].sum(), x)
    x = inputs.clone().requires_grad_()
    with ActivationRuleMode(ActivationRule()):
        (ruled,) = torch.autograd.grad(plain(x)[:, 2].sum(), x)
    torch.testing.assert_close(ruled, gradient)
    guided = GuidedBackprop(plain).explain(inputs, target=2).values
    assert np.abs(guided - gradient.numpy()).max() > 1e-3


class _GuidedClamp(torch.autograd.Function):
    """Reference guided rule for clamp(x, low, high), written without the function mode."""

    @staticmethod
    def forward(ctx, x, low, high):
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return x.clamp(low, high)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return (grad * ((x > ctx.low) & (x < ctx.high))).clamp(min=0), None, None


class _GuidedReLU6(nn.Module):
    def forward(self, x):
        return _GuidedClamp.apply(x, 0.0, 6.0)


def test_guided_rule_reaches_every_relu6_of_efficientnet(effnet):
    """EfficientNet-Lite0 calls one ReLU6 module several times per block; each call is guided."""
    reference = copy.deepcopy(effnet.model)
    replaced = 0
    for module in reference.modules():
        if isinstance(getattr(module, "_swish", None), nn.ReLU6):
            module._swish = _GuidedReLU6()
            replaced += 1
    assert replaced > 10
    inputs = effnet.inputs[:1]
    x = inputs.clone().requires_grad_()
    (expected,) = torch.autograd.grad(reference(x)[:, 967].sum(), x)
    ours = GuidedBackprop(effnet.model).explain(inputs, target=967).values
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-5 * float(expected.abs().max()))
    x = inputs.clone().requires_grad_()
    (plain,) = torch.autograd.grad(effnet.model(x)[:, 967].sum(), x)
    assert np.abs(ours - plain.numpy()).max() > 0.1 * float(plain.abs().max())
