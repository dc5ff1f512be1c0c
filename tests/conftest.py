import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from unboxed import zoo

sys.path.insert(0, str(Path(__file__).parent))  # tests/browser.py: the real-browser harness
from browser import launched_browser  # noqa: E402
from zennit_without_torchvision import stub_zennit_torchvision  # noqa: E402

stub_zennit_torchvision()  # before any test imports quantus, which imports zennit when it is installed


@pytest.fixture(scope="session")
def digits():
    return zoo.load("digits_cnn")


@pytest.fixture(scope="session")
def cancer():
    return zoo.load("breast_cancer_mlp")


@pytest.fixture(scope="session")
def effnet():
    return zoo.load("efficientnet_lite0", photos=("coffee", "chelsea"))


@pytest.fixture
def linear():
    generator = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(5, 3)
    with torch.no_grad():
        model.weight.copy_(torch.randn(3, 5, generator=generator))
        model.bias.copy_(torch.randn(3, generator=generator))
    inputs = torch.randn(4, 5, generator=generator)
    return model, inputs


def assert_close_relative(ours, theirs, rtol=1e-4):
    """|ours - theirs| <= rtol * max|theirs| elementwise: relative agreement of a whole map."""
    ours, theirs = torch.as_tensor(ours).double(), torch.as_tensor(theirs).double().detach()
    scale = theirs.abs().max().clamp_min(1e-12)
    error = (ours - theirs).abs().max() / scale
    assert error <= rtol, f"relative error {float(error):.3g} > {rtol}"


def close(ours, theirs, rtol=1e-4):
    """Same shape, and agreement to `rtol` relative to the largest |value| of the reference."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * np.abs(theirs).max())


def _with_predicted_targets(model, inputs):
    with torch.no_grad():
        return model, inputs, model(inputs).argmax(1)


@pytest.fixture(scope="session")
def digits_batch(digits):
    """(model, 8 test images, predicted classes) of the digits CNN."""
    return _with_predicted_targets(digits.model, digits.inputs[:8])


@pytest.fixture(scope="session")
def effnet_batch(effnet):
    """(model, 2 photos, predicted classes) of EfficientNet-Lite0."""
    return _with_predicted_targets(effnet.model, effnet.inputs)


@pytest.fixture(scope="session")
def chromium_browser():
    """One headless Chromium for the whole run (skipped with the reason when missing; under CI=true a failure)."""
    with launched_browser() as browser:
        yield browser
