"""Small deterministic networks for the relevance-propagation tests (LRP, DeepLIFT); a helper, not a test file.

Every builder takes a seed and returns float64 modules in eval mode with an input batch, so
conservation and agreement with the oracles can be asserted to ~1e-10. Flattening is `x.flatten(1)`
in forward, never an `nn.Flatten` module: Captum's LRP refuses leaf modules it has no rule for.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from unboxed.zoo.training import init_weights

DTYPE = torch.float64


def _ready(model: nn.Module, seed: int) -> nn.Module:
    return init_weights(model, seed).to(DTYPE).eval()


def _images(seed: int, n: int = 3, size: int = 8) -> torch.Tensor:
    """Pixels in [0, 1] (inside the ZBox bounds [0, 1]), a generator per seed."""
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed + 1000), dtype=DTYPE)


def _rows(seed: int, n: int, features: int) -> torch.Tensor:
    return torch.randn(n, features, generator=torch.Generator().manual_seed(seed + 1000), dtype=DTYPE)


# --- one CNN, three ways of writing its ReLUs ---------------------------------------------------------------
class _SmallCNN(nn.Module):
    """conv -> ReLU -> conv -> ReLU -> maxpool -> flatten -> linear, on (n, 1, 8, 8); subclasses pick the ReLUs."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 4 * 4, 3)

    def activate(self, x: torch.Tensor, which: int) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activate(self.conv1(x), 1)
        x = self.pool(self.activate(self.conv2(x), 2))
        return self.fc(x.flatten(1))


class ReLUModulesCNN(_SmallCNN):
    """One `nn.ReLU` module per activation (the form hook-based libraries expect)."""

    def __init__(self):
        super().__init__()
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()

    def activate(self, x, which):
        return (self.relu1 if which == 1 else self.relu2)(x)


class FunctionalReLUCNN(_SmallCNN):
    """`F.relu` called in forward: no module for a hook to find."""

    def activate(self, x, which):
        return F.relu(x)


class SharedReLUCNN(_SmallCNN):
    """One `nn.ReLU` module reused for every activation."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()

    def activate(self, x, which):
        return self.relu(x)


def three_ways(seed: int = 0) -> tuple[nn.Module, nn.Module, nn.Module, torch.Tensor]:
    """(ReLU modules, functional F.relu, one shared ReLU module): the same CNN with identical weights, and 3 images."""
    modules = _ready(ReLUModulesCNN(), seed)
    functional, shared = FunctionalReLUCNN().to(DTYPE).eval(), SharedReLUCNN().to(DTYPE).eval()
    functional.load_state_dict(modules.state_dict())
    shared.load_state_dict(modules.state_dict())
    return modules, functional, shared, _images(seed)


# --- bias-free networks: LRP-0 conserves the output exactly -------------------------------------------------
def bias_free_mlp(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """Linear(6, 8) -> ReLU -> Linear(8, 8) -> ReLU -> Linear(8, 3), no biases; 4 rows of N(0, 1) features."""
    model = nn.Sequential(
        nn.Linear(6, 8, bias=False), nn.ReLU(), nn.Linear(8, 8, bias=False), nn.ReLU(), nn.Linear(8, 3, bias=False),
    )
    return _ready(model, seed), _rows(seed, 4, 6)


class BiasFreeCNN(nn.Module):
    """conv -> ReLU -> conv -> ReLU -> avgpool -> flatten -> linear, no biases. Average (not max) pooling:
    DeepLIFT's rescale rule and LRP both conserve through it, whatever rule a max-pool gets."""

    def __init__(self):
        super().__init__()
        self.conv1, self.relu1 = nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU()
        self.conv2, self.relu2 = nn.Conv2d(4, 6, 3, padding=1, bias=False), nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(6 * 4 * 4, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
        return self.fc(x.flatten(1))


def bias_free_cnn(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """`BiasFreeCNN` and 3 images (1, 8, 8) in [0, 1]."""
    return _ready(BiasFreeCNN(), seed), _images(seed)


def one_layer_linear(seed: int = 0, bias: bool = False) -> tuple[nn.Module, torch.Tensor]:
    """Linear(5, 3) (bias-free unless `bias`) and 4 rows: LRP-0 and DeepLIFT (zero baseline) give x * w[target]."""
    return _ready(nn.Linear(5, 3, bias=bias), seed), _rows(seed, 4, 5)


# --- BatchNorm after a conv -----------------------------------------------------------------------------------
class ConvBatchNormNet(nn.Module):
    """conv -> BatchNorm -> ReLU -> conv -> BatchNorm -> ReLU -> avgpool -> flatten -> linear, with BatchNorm
    statistics and affine parameters drawn from the seed (fresh ones would be the identity)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1, self.relu1 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU()
        self.conv2, self.bn2, self.relu2 = nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(6 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.pool(self.relu2(self.bn2(self.conv2(x))))
        return self.fc(x.flatten(1))


def conv_batchnorm_net(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """`ConvBatchNormNet` in eval mode (BatchNorm uses its running statistics) and 3 images."""
    model = _ready(ConvBatchNormNet(), seed)
    generator = torch.Generator().manual_seed(seed + 2000)
    for bn in (model.bn1, model.bn2):
        size = (bn.num_features,)
        with torch.no_grad():
            bn.running_mean.copy_(torch.rand(size, generator=generator, dtype=DTYPE) - 0.5)
            bn.running_var.copy_(torch.rand(size, generator=generator, dtype=DTYPE) + 0.5)
            bn.weight.copy_(torch.rand(size, generator=generator, dtype=DTYPE) + 0.5)
            bn.bias.copy_(torch.rand(size, generator=generator, dtype=DTYPE) - 0.5)
    return model, _images(seed)


# --- a ReLU feeding a max-pool directly, and its twin for Captum --------------------------------------------
class ReLUMaxPoolCNN(nn.Module):
    """(conv -> ReLU -> maxpool) x 2 -> flatten -> linear. With `separate`, `x.clone()` stands between each ReLU
    and its max-pool: the same function, but Captum 0.9.0's DeepLift is right only then (captum#1104)."""

    def __init__(self, separate: bool = False):
        super().__init__()
        self.separate = separate
        self.conv1, self.relu1, self.pool1 = nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        self.conv2, self.relu2, self.pool2 = nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 2 * 2, 3)

    def _gap(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone() if self.separate else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self._gap(self.relu1(self.conv1(x))))
        x = self.pool2(self._gap(self.relu2(self.conv2(x))))
        return self.fc(x.flatten(1))


def relu_into_maxpool(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """`ReLUMaxPoolCNN` with each ReLU feeding its max-pool directly, and 3 images."""
    return _ready(ReLUMaxPoolCNN(), seed), _images(seed)


def relu_clone_maxpool(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """The twin of `relu_into_maxpool(seed)`: identical weights and input, `x.clone()` before each max-pool."""
    model, images = relu_into_maxpool(seed)
    twin = ReLUMaxPoolCNN(separate=True).to(DTYPE).eval()
    twin.load_state_dict(model.state_dict())
    return twin, images


_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)


def _clone_inputs(module, args):
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def twin_for_captum(model: nn.Module) -> nn.Module:
    """A deep copy of `model` in which every max-pool first clones its input (a forward pre-hook).

    The function is unchanged; a ReLU no longer feeds a max-pool directly, which Captum 0.9.0's
    DeepLift needs to be right (captum#1104). The digits CNN needs it: its relu1 -> pool1 and
    relu2 -> pool2 are direct. Use the twin only with Captum's DeepLift / DeepLiftShap: the module
    tree is unchanged, so Captum's LRP accepts it too, but it needs no twin.
    """
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if isinstance(module, _MAX_POOLS):
            module.register_forward_pre_hook(_clone_inputs)
    return twin
