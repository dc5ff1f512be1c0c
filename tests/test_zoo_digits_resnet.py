"""The digits ResNet: accurate, on digits_cnn's held-out images, with the layers relevance rules must handle."""
import torch
from torch import nn

from unboxed.model import adapt
from unboxed.zoo.digits_resnet import ResidualBlock, digits_resnet


def test_digits_resnet_is_accurate_on_the_digits_cnn_test_images(digits):
    resnet = digits_resnet()
    assert resnet.facts["test_accuracy"] > 0.95
    assert torch.equal(resnet.inputs, digits.inputs) and torch.equal(resnet.labels, digits.labels)
    with torch.no_grad():
        assert (resnet.model(resnet.inputs).argmax(1) == resnet.labels).float().mean() > 0.95
    assert resnet.display(resnet.inputs[:2]).shape == (2, 32, 32, 1)


def test_digits_resnet_has_skips_batchnorm_and_functional_relus():
    model = digits_resnet().model
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 2 and isinstance(blocks[0].shortcut, nn.Identity)
    assert isinstance(blocks[1].shortcut[0], nn.Conv2d) and blocks[1].shortcut[0].stride == (2, 2)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 6
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 1  # the stem's; the blocks call F.relu
    assert not model.training
    # The skip really adds its input: with conv2's weights zeroed, block1 is relu(bn2(0) + x).
    block, x = blocks[0], torch.rand(2, 16, 16, 16)
    original = block.conv2.weight.detach().clone()
    try:
        block.conv2.weight.data.zero_()
        with torch.no_grad():
            torch.testing.assert_close(block(x), torch.relu(block.bn2(torch.zeros_like(x)) + x))
    finally:
        block.conv2.weight.data.copy_(original)


def test_digits_resnet_cam_layer_is_its_last_conv():
    zoo_model = digits_resnet()
    adapter = adapt(zoo_model.model)
    convs = adapter.layer_names(nn.Conv2d)
    assert adapter.layer(zoo_model.cam_layer) is zoo_model.model.block2.conv2
    assert convs[-2] == zoo_model.cam_layer  # the last conv in the forward order; the shortcut's 1x1 runs beside it


def test_digits_resnet_training_is_seeded(tmp_path, monkeypatch):
    monkeypatch.setenv("UNBOXED_CACHE", str(tmp_path / "a"))
    first = digits_resnet(epochs=1)
    monkeypatch.setenv("UNBOXED_CACHE", str(tmp_path / "b"))
    again = digits_resnet(epochs=1)
    for key, value in first.model.state_dict().items():  # BatchNorm running statistics included
        assert torch.equal(value, again.model.state_dict()[key]), key
    assert "bn.running_mean" in first.model.state_dict()
